"""CRC-32C (Castagnoli, iSCSI polynomial 0x1EDC6F41, RFC 3720 appendix B.4)."""

from __future__ import annotations

import crc32c as _crc32c


def crc32c(data: bytes | bytearray | memoryview) -> int:
    """CRC-32C of ``data`` as an unsigned 32-bit integer (hardware-accelerated where available)."""
    return _crc32c.crc32c(data)
