"""``sha256d`` for the uplink's chain code: the shared one (``chaincast.fec.wire.bitcoin``, with the
rest of the consensus primitives both sides use)."""

from chaincast.fec.wire.bitcoin import sha256d

__all__ = ["sha256d"]
