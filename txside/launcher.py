"""The ``chaincast`` launcher: ``chaincast COMMAND ...`` runs the command registered under that name
in the ``chaincast.commands`` entry-point group (pyproject.toml).

It imports only the standard library and the one command it runs, so ``chaincast rx --help``
does not wait for the uplink's modules, and the receiver's commands never import the uplink.
A command's ``ReceiverError`` or other failure is one line on stderr (``CHAINCAST_DEBUG=1``: the
traceback).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from importlib.metadata import entry_points

Command = Callable[[list[str]], int]


def load_command(name: str) -> Command:
    found = entry_points(group="chaincast.commands", name=name)
    if not found:
        raise LookupError(name)
    return next(iter(found)).load()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = sorted(ep.name for ep in entry_points(group="chaincast.commands"))
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: chaincast {{{','.join(commands)}}} ...\n\nRun 'chaincast COMMAND --help' for a command's options.")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    try:
        command = load_command(name)
    except LookupError:
        print(f"chaincast: unknown command {name!r} (choose from {', '.join(commands)})", file=sys.stderr)
        return 2
    try:
        return command(rest)
    except SystemExit as stop:  # argparse has printed --help (0) or a usage error (2)
        return stop.code if isinstance(stop.code, int) else int(stop.code is not None)
    except KeyboardInterrupt:
        print("chaincast: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `chaincast point --json | head`: the reader has what it wanted
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so that flushing stdout at exit does not fail again
        return 0
    except Exception as error:  # one line for the user; the traceback only on request
        if os.environ.get("CHAINCAST_DEBUG"):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"chaincast {name}: error: {message}", file=sys.stderr)
        return 1
