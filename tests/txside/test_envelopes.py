"""The uplink's signing of files and messages (txside.envelopes), checked against BIP-340's own vectors.

BIP-340 vectors: bitcoin/bips, bip-0340/test-vectors.csv at 7e8b5dfc304c0e3cd646b54bc49e23fad692d11e
(the final "even y" BIP-340; older drafts of that file, "square y", have other signatures), the four
signing vectors 0-3: (secret key, public key, aux_rand, message, signature). The verification
vectors are in tests/rxside/test_inbox.py."""

import hashlib
import os
import stat
from pathlib import Path

import embit
import pytest
from embit.ec import PrivateKey, PublicKey, SchnorrSig
from embit.util import ctypes_secp256k1, secp256k1

from chaincast.fec.wire.envelope import Envelope, EnvelopeKind
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.txside.envelopes import (
    KeyFileError, envelope_object, file_envelope, file_object, generate_key_file, load_key, message_envelope,
    new_private_key, public_key_hex, require_libsecp256k1, schnorr_sign,
)

BIP340_SIGNING = [  # (secret key, x-only public key, aux_rand, message, signature)
    ("0000000000000000000000000000000000000000000000000000000000000003",
     "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0"),
    ("B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF",
     "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659",
     "0000000000000000000000000000000000000000000000000000000000000001",
     "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89",
     "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A"),
    ("C90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B14E5C9",
     "DD308AFEC5777E13121FA72B9CC1B7CC0139715309B086C960E18FD969774EB8",
     "C87AA53824B4D7AE2EB035A2B5BBBCCC080E76CDC6D1692C4B0B62D798E6D906",
     "7E2D58D8B3BCDF1ABADEC7829054F90DDA9805AAB56C77333024B9D0A508B75C",
     "5831AAEED7B44BB74E5EAB94BA9D4294C49BCF2A60728D8B4C200F50DD313C1BAB745879A5AD954A72C45A91C3A51D3C7ADEA98D82F8481E0E1E03674A6F3FB7"),
    ("0B432B2677937381AEF05BB02A66ECD012773062CF3FA2549E44F58ED2401710",
     "25D1DFF95105F5253C4022F628A996AD3A0D95FBF21D468A1B33F8C160D8F517",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "7EB0509757E246F19449885651611CB965ECC1A187DD51B64FDA1EDC9637D5EC97582B9CB13DB3933705B32BA982AF5AF25FD78881EBB32771FC5922EFC66EA3"),
]


def verifies(public_hex: str, signature: bytes, digest: bytes) -> bool:
    return PublicKey.from_xonly(bytes.fromhex(public_hex)).schnorr_verify(SchnorrSig(signature), digest)


@pytest.mark.parametrize("secret, public, aux, message, signature", BIP340_SIGNING)
def test_bip340_signing_vectors(secret, public, aux, message, signature):
    key = PrivateKey(bytes.fromhex(secret))
    assert public_key_hex(key) == public.lower()
    assert schnorr_sign(key, bytes.fromhex(message), bytes.fromhex(aux)) == bytes.fromhex(signature)
    assert verifies(public, bytes.fromhex(signature), bytes.fromhex(message))


def test_signing_runs_on_embits_bundled_libsecp256k1():
    require_libsecp256k1()  # what signing itself checks
    assert secp256k1.schnorrsig_sign.__module__ == "embit.util.ctypes_secp256k1"
    assert Path(ctypes_secp256k1._secp._name).parent == Path(embit.__file__).parent / "util" / "prebuilt"


def test_each_signature_draws_fresh_auxiliary_randomness():
    key = PrivateKey(bytes.fromhex(BIP340_SIGNING[1][0]))
    digest = bytes.fromhex(BIP340_SIGNING[1][3])
    first, second = schnorr_sign(key, digest), schnorr_sign(key, digest)
    assert first != second and verifies(BIP340_SIGNING[1][1], first, digest) and verifies(BIP340_SIGNING[1][1], second, digest)


def test_a_signed_file_verifies_with_the_broadcasters_public_key_only(tmp_path):
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.4 " + bytes(range(256)))
    key = PrivateKey(bytes.fromhex(BIP340_SIGNING[1][0]))
    envelope = file_envelope(path, key, timestamp_s=1_700_000_000)
    body = envelope.body
    assert (body.kind, body.name, body.content_type, body.timestamp_s) == (EnvelopeKind.FILE, "report.pdf", "application/pdf", 1_700_000_000)
    assert body.payload == path.read_bytes()
    digest = body.signing_digest()
    assert verifies(BIP340_SIGNING[1][1], envelope.signature, digest)
    assert not verifies(BIP340_SIGNING[2][1], envelope.signature, digest)
    assert not verifies(BIP340_SIGNING[1][1], envelope.signature, hashlib.sha256(body.pack()).digest())


def test_file_names_are_made_safe_and_messages_named_by_time(tmp_path):
    path = tmp_path / ".. sneaky:name?.txt"
    path.write_bytes(b"x")
    key = new_private_key()
    assert file_envelope(path, key).body.name == "sneaky_name_.txt"
    assert file_envelope(path, key, name="../../etc/passwd").body.name == "_._etc_passwd"
    message = message_envelope("gm \u2600", key, timestamp_s=1_700_000_000)
    assert message.body.kind == EnvelopeKind.MESSAGE and message.body.payload == "gm \u2600".encode()
    assert message.body.name == "message-20231114T221320Z.txt"


def test_envelope_object_is_named_by_the_hash_of_its_bytes(tmp_path):
    path = tmp_path / "a.bin"
    path.write_bytes(os.urandom(5000))
    key = new_private_key()
    obj = file_object(path, key)
    assert isinstance(obj, BroadcastObject) and obj.object_type == ObjectType.FILE == 2
    assert obj.object_id == hashlib.sha256(obj.payload).digest()
    assert Envelope.unpack(obj.payload).body.payload == path.read_bytes()
    assert envelope_object(obj.payload) == obj  # pre-signed bytes give the same object
    with pytest.raises(ValueError):
        envelope_object(obj.payload[:-1])  # malformed pre-signed bytes are refused (WireError)


def test_key_files(tmp_path):
    path = tmp_path / "broadcaster.key"
    public = generate_key_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    key = load_key(path)
    assert public_key_hex(key) == public and len(public) == 64
    with pytest.raises(KeyFileError):
        generate_key_file(path)  # never overwrites a key
    assert load_key(path).secret == key.secret
    for bad in ("", "00" * 32, "ff" * 32, "zz" * 32, "ab" * 31):
        (tmp_path / "bad.key").write_text(bad + "\n")
        with pytest.raises(KeyFileError):
            load_key(tmp_path / "bad.key")
    with pytest.raises(KeyFileError):
        load_key(tmp_path / "missing.key")
