"""Bitcoin chain data for the uplink: block sources, parsing, and a signed regtest chain.

Byte order: every integer on the wire is little-endian (Bitcoin consensus encoding);
hashes are kept in internal (wire) order and only reversed for display (`*_hex`).
This package never imports `chaincast.rxside`.
"""

from chaincast.txside.chain.errors import BlockRejectedError, ChainDataError

__all__ = ["BlockRejectedError", "ChainDataError"]
