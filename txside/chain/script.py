"""Script construction for the output types the regtest chain uses.

Only what we need: minimal pushes, BIP 34 height pushes, P2WPKH (BIP 141) and
P2TR (BIP 341) scriptPubKeys, and the BIP 143 script code for P2WPKH.
"""

from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.hashes import hash160

OP_0 = 0x00
OP_PUSHDATA1 = 0x4C
OP_PUSHDATA2 = 0x4D
OP_1 = 0x51
OP_RETURN = 0x6A
OP_DUP = 0x76
OP_EQUALVERIFY = 0x88
OP_CHECKSIG = 0xAC
OP_HASH160 = 0xA9


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
        return b"\x4f"  # OP_1NEGATE
    return push_data(script_num(n))


def p2wpkh_script(pubkey: bytes) -> bytes:
    """BIP 141 v0 key hash program: OP_0 <20-byte HASH160(compressed pubkey)>."""
    if len(pubkey) != 33:
        raise ChainDataError("P2WPKH needs a 33-byte compressed public key")
    return bytes((OP_0, 20)) + hash160(pubkey)


def p2wpkh_script_code(pubkey: bytes) -> bytes:
    """BIP 143 scriptCode for P2WPKH: the P2PKH script of the key hash (length prefix added by the sighash)."""
    return bytes((OP_DUP, OP_HASH160, 20)) + hash160(pubkey) + bytes((OP_EQUALVERIFY, OP_CHECKSIG))


def p2tr_script(output_key: bytes) -> bytes:
    """BIP 341 v1 program: OP_1 <32-byte x-only output key>."""
    if len(output_key) != 32:
        raise ChainDataError("P2TR needs a 32-byte x-only output key")
    return bytes((OP_1, 32)) + output_key


def is_p2wpkh(spk: bytes) -> bool:
    return len(spk) == 22 and spk[0] == OP_0 and spk[1] == 20


def is_p2tr(spk: bytes) -> bool:
    return len(spk) == 34 and spk[0] == OP_1 and spk[1] == 32
