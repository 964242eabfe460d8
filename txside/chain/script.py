"""Script pushes for the coinbase: minimal data pushes and BIP 34 height pushes.

Output scripts (P2WPKH, P2TR), script codes and signature hashes come from embit
(``chaincast.txside.chain.keys``, ``chaincast.txside.chain.regtest``); embit's own ``Script.push``
writes a CompactSize length, which is not a script push beyond 75 bytes, so pushes stay here.
"""

from chaincast.txside.chain.errors import ChainDataError

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_1NEGATE = 0x4F
OP_1 = 0x51


def push_data(data: bytes) -> bytes:
    """Push `data` with the shortest push opcode (direct push up to 75 bytes)."""
    n = len(data)
    if n <= 0x4B:
        return bytes((n,)) + data
    if n <= 0xFF:
        return bytes((OP_PUSHDATA1, n)) + data
    if n <= 0xFFFF:
        return bytes((OP_PUSHDATA2,)) + n.to_bytes(2, "little") + data
    raise ChainDataError(f"push of {n} bytes is too large")


def script_num(n: int) -> bytes:
    """CScriptNum encoding: minimal little-endian magnitude, sign in the top bit of the last byte."""
    if n == 0:
        return b""
    neg, mag = n < 0, abs(n)
    out = bytearray()
    while mag:
        out.append(mag & 0xFF)
        mag >>= 8
    if out[-1] & 0x80:
        out.append(0x80 if neg else 0x00)
    elif neg:
        out[-1] |= 0x80
    return bytes(out)


def push_int(n: int) -> bytes:
    """Like Core's `CScript() << n`: OP_0, OP_1..OP_16 for small values, else a number push.

    BIP 34 requires the coinbase scriptSig to start with exactly this serialization of the height.
    """
    if n == 0:
        return bytes((OP_0,))
    if 1 <= n <= 16:
        return bytes((OP_1 + n - 1,))
    if n == -1:
        return bytes((OP_1NEGATE,))
    return push_data(script_num(n))
