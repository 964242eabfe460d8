"""Checks of the uplink commands' inputs, made before anything is read at length or written.

Each check returns the checked value or raises ``InputError`` with one line that names the
option (or file) and what is wrong with it; the commands turn it into an argparse error (exit 2).
Numbers must be finite: ``float("nan")`` fails every comparison, so a range check written as
``x < low`` alone would let NaN through; every check here is written as ``low <= x <= high``
being true. Files must be regular files (a FIFO or a device such as /dev/zero would block or
never end) of a bounded size.
"""

from __future__ import annotations

import math
import os
import stat
from pathlib import Path

# Radio limits: what the modulator and a file recording can sensibly hold.
MAX_SAMPLE_RATE_HZ = 100e6  # beyond any SDR the receiver reads
MIN_SYMBOL_RATE_HZ = 1.0
MAX_SAMPLES_PER_SYMBOL = 64.0  # the output grows with it; no receiver needs more


class InputError(ValueError):
    """A bad command-line input; the message is one line naming the option or file."""


def number(option: str, value: float, low: float | None = None, high: float | None = None, *,
           low_open: bool = False, unit: str = "", why: str = "") -> float:
    """``value`` if finite and within [low, high] (or (low, high] with ``low_open``); ``why``
    says where a bound comes from, in the message."""
    if not math.isfinite(value):
        raise InputError(f"{option} must be a finite number, not {value}")
    above = low is None or (value > low if low_open else value >= low)
    below = high is None or value <= high
    if not (above and below):
        because = f" ({why})" if why else ""
        raise InputError(f"{option} must be {_range(low, high, low_open, unit)}{because}, not {value:g}{unit}")
    return value


def integer(option: str, value: int, low: int, high: int) -> int:
    if not low <= value <= high:
        raise InputError(f"{option} must be between {low} and {high}, not {value}")
    return value


def _range(low: float | None, high: float | None, low_open: bool, unit: str) -> str:
    if low is not None and high is not None:
        return f"{'above' if low_open else 'at least'} {low:g}{unit} and at most {high:g}{unit}"
    if low is not None:
        return f"{'above' if low_open else 'at least'} {low:g}{unit}"
    return f"at most {high:g}{unit}"


def radio_rates(sample_rate_hz: float, symbol_rate_hz: float, rolloff: float, *,
                sample_option: str = "--sample-rate", symbol_option: str = "--symbol-rate") -> None:
    """A modulator's rates: finite, the symbol rate at least 1 Bd, the sample rate at most
    ``MAX_SAMPLE_RATE_HZ`` and between (1 + roll-off) and ``MAX_SAMPLES_PER_SYMBOL`` samples per symbol."""
    number(symbol_option, symbol_rate_hz, MIN_SYMBOL_RATE_HZ, MAX_SAMPLE_RATE_HZ, unit=" Bd")
    number(sample_option, sample_rate_hz, 0.0, MAX_SAMPLE_RATE_HZ, low_open=True, unit=" Hz")
    sps = sample_rate_hz / symbol_rate_hz
    if not (1 + rolloff) <= sps <= MAX_SAMPLES_PER_SYMBOL:
        raise InputError(
            f"{sample_option} must be between (1 + roll-off) = {1 + rolloff:g} and {MAX_SAMPLES_PER_SYMBOL:g} times "
            f"{symbol_option} ({(1 + rolloff) * symbol_rate_hz:g} to {MAX_SAMPLES_PER_SYMBOL * symbol_rate_hz:g} Hz), "
            f"not {sample_rate_hz:g} Hz"
        )


def stat_or_none(option: str, path: Path) -> os.stat_result | None:
    """``path``'s stat, None if it does not exist; InputError naming ``option`` if it cannot be looked at."""
    try:
        return path.stat()
    except (FileNotFoundError, NotADirectoryError):  # the caller says which part is missing
        return None
    except OSError as error:  # ENOTDIR, ELOOP, EACCES on a parent...
        raise InputError(f"{option} {path}: {error.strerror or error}") from None


def input_file(option: str, path: str | os.PathLike, *, max_bytes: int | None = None, min_bytes: int = 1) -> Path:
    """An existing, readable regular file of ``min_bytes`` to ``max_bytes`` bytes."""
    path = Path(path)
    st = stat_or_none(option, path)
    if st is None:
        raise InputError(f"{option} {path}: no such file")
    if stat.S_ISDIR(st.st_mode):
        raise InputError(f"{option} {path}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(f"{option} {path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise InputError(f"{option} {path}: cannot be read (permission denied)")
    if st.st_size < min_bytes:
        raise InputError(f"{option} {path}: " + ("empty file" if st.st_size == 0 else f"only {st.st_size} bytes"))
    if max_bytes is not None and st.st_size > max_bytes:
        raise InputError(f"{option} {path}: {st.st_size} bytes, more than the {max_bytes} it can be")
    return path


def input_path(option: str, path: str | os.PathLike) -> Path:
    """An existing, readable regular file or directory."""
    path = Path(path)
    st = stat_or_none(option, path)
    if st is None:
        raise InputError(f"{option} {path}: no such file or directory")
    if not (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)):
        raise InputError(f"{option} {path}: not a regular file or directory")
    if not os.access(path, os.R_OK | (os.X_OK if stat.S_ISDIR(st.st_mode) else 0)):
        raise InputError(f"{option} {path}: cannot be read (permission denied)")
    return path


def _parent(option: str, path: Path) -> None:
    parent = path.parent
    st = stat_or_none(option, parent)
    if st is None:
        raise InputError(f"{option} {path}: directory {parent} does not exist")
    if not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{option} {path}: {parent} is not a directory")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in {parent} (permission denied)")


def output_file(option: str, path: str | os.PathLike, *, special_ok: bool = False, exists_ok: bool = True) -> Path:
    """A file that can be created or replaced: its directory exists and is writable, and it is not
    itself a directory (nor, unless ``special_ok``, a FIFO or device; nor, unless ``exists_ok``, there)."""
    path = Path(path)
    if not path.name or path.name in (".", ".."):
        raise InputError(f"{option} {path}: not a file name")
    st = stat_or_none(option, path)
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise InputError(f"{option} {path}: is a directory; give a file name")
        if not exists_ok:
            raise InputError(f"{option} {path}: exists; not overwriting it")
        if not (special_ok or stat.S_ISREG(st.st_mode)):
            raise InputError(f"{option} {path}: exists and is not a regular file")
    _parent(option, path)
    return path


def output_dir(option: str, path: str | os.PathLike) -> Path:
    """A directory that exists, or can be made in one that does."""
    path = Path(path)
    st = stat_or_none(option, path)
    if st is None:
        _parent(option, path)
    elif not stat.S_ISDIR(st.st_mode):
        raise InputError(f"{option} {path}: exists and is not a directory")
    elif not os.access(path, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: cannot write in it (permission denied)")
    return path
