"""The receiver's inbox (rxside.inbox): only envelopes signed by the configured broadcaster key are
saved, atomically and never over another file; everything else is dropped and counted, never raised.

BIP-340 verification vectors: bitcoin/bips, bip-0340/test-vectors.csv at
7e8b5dfc304c0e3cd646b54bc49e23fad692d11e (public key, message, signature, expected result): every
row, 0 to 14 (5 and 14 are public keys the receiver must refuse)."""

import hashlib
import struct

import pytest
from embit.ec import PrivateKey, PublicKey
from hypothesis import given, settings
from hypothesis import strategies as st

from chaincast.fec.wire.envelope import SIGNING_TAG, Envelope, EnvelopeBody, EnvelopeKind, tagged_hash
from chaincast.fec.wire.objects import BroadcastObject, ObjectType
from chaincast.rxside.inbox import TEMP_PREFIX, Inbox, parse_broadcaster_key, schnorr_verify
from chaincast.rxside.receiver import Receiver

MSG = "243F6A8885A308D313198A2E03707344A4093822299F31D0082EFA98EC4E6C89"
PK = "DFF1D77F2A671C5F36183726DB2341BE58FEAE1DA2DECED843240F7B502BA659"
BIP340_VERIFY = [  # (index, public key, message, signature, valid)
    (0, "F9308A019258C31049344F85F89D5229B531C845836F99B08601F113BCE036F9",
     "0000000000000000000000000000000000000000000000000000000000000000",
     "E907831F80848D1069A5371B402410364BDF1C5F8307B0084C55F1CE2DCA821525F66A4A85EA8B71E482A74F382D2CE5EBEEE8FDB2172F477DF4900D310536C0", True),
    (1, PK, MSG, "6896BD60EEAE296DB48A229FF71DFE071BDE413E6D43F917DC8DCF8C78DE33418906D11AC976ABCCB20B091292BFF4EA897EFCB639EA871CFA95F6DE339E4B0A", True),
    (2, "DD308AFEC5777E13121FA72B9CC1B7CC0139715309B086C960E18FD969774EB8",
     "7E2D58D8B3BCDF1ABADEC7829054F90DDA9805AAB56C77333024B9D0A508B75C",
     "5831AAEED7B44BB74E5EAB94BA9D4294C49BCF2A60728D8B4C200F50DD313C1BAB745879A5AD954A72C45A91C3A51D3C7ADEA98D82F8481E0E1E03674A6F3FB7", True),
    (3, "25D1DFF95105F5253C4022F628A996AD3A0D95FBF21D468A1B33F8C160D8F517",
     "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
     "7EB0509757E246F19449885651611CB965ECC1A187DD51B64FDA1EDC9637D5EC97582B9CB13DB3933705B32BA982AF5AF25FD78881EBB32771FC5922EFC66EA3", True),
    (4, "D69C3509BB99E412E68B0FE8544E72837DFA30746D8BE2AA65975F29D22DC7B9",
     "4DF3C3F68FCC83B27E9D42C90431A72499F17875C81A599B566C9889B9696703",
     "00000000000000000000003B78CE563F89A0ED9414F5AA28AD0D96D6795F9C6376AFB1548AF603B3EB45C9F8207DEE1060CB71C04E80F593060B07D28308D7F4", True),
    (6, PK, MSG, "FFF97BD5755EEEA420453A14355235D382F6472F8568A18B2F057A14602975563CC27944640AC607CD107AE10923D9EF7A73C643E166BE5EBEAFA34B1AC553E2", False),
    (7, PK, MSG, "1FA62E331EDBC21C394792D2AB1100A7B432B013DF3F6FF4F99FCB33E0E1515F28890B3EDB6E7189B630448B515CE4F8622A954CFE545735AAEA5134FCCDB2BD", False),
    (8, PK, MSG, "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769961764B3AA9B2FFCB6EF947B6887A226E8D7C93E00C5ED0C1834FF0D0C2E6DA6", False),
    (9, PK, MSG, "0000000000000000000000000000000000000000000000000000000000000000123DDA8328AF9C23A94C1FEECFD123BA4FB73476F0D594DCB65C6425BD186051", False),
    (10, PK, MSG, "00000000000000000000000000000000000000000000000000000000000000017615FBAF5AE28864013C099742DEADB4DBA87F11AC6754F93780D5A1837CF197", False),
    (11, PK, MSG, "4A298DACAE57395A15D0795DDBFD1DCB564DA82B0F269BC70A74F8220429BA1D69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", False),
    (12, PK, MSG, "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F69E89B4C5564D00349106B8497785DD7D1D713A8AE82B32FA79D5F7FC407D39B", False),
    (13, PK, MSG, "6CFF5C3BA86C69EA4B7376F31A9BCB4F74C1976089B2D9963DA2E5543E177769FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141", False),
]
BAD_KEYS = [  # vector 5: not on the curve; vector 14: x beyond the field size
    "EEFDEA4CDB677750A420FEE807EACF21EB9898AE79B9768766E4FAA04A2D4A34",
    "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC30",
]


@pytest.mark.parametrize("index, public, message, signature, valid", BIP340_VERIFY)
def test_bip340_verification_vectors(index, public, message, signature, valid):
    key = PublicKey.from_xonly(parse_broadcaster_key(public))
    assert schnorr_verify(key, bytes.fromhex(message), bytes.fromhex(signature)) is valid, index


@pytest.mark.parametrize("text", BAD_KEYS + ["", "00" * 31, "zz" * 32, "00" * 33])
def test_keys_that_are_no_x_only_public_key_are_refused(text):
    with pytest.raises(ValueError):
        parse_broadcaster_key(text)


BROADCASTER = PrivateKey(bytes.fromhex("B7E151628AED2A6ABF7158809CF4F3C762E7160F38B4DA56A784D9045190CFEF"))
OTHER = PrivateKey(bytes.fromhex("C90FDAA22168C234C4C6628B80DC1CD129024E088A67CC74020BBEA63B14E5C9"))
BROADCASTER_KEY = BROADCASTER.xonly()


def signed(payload=b"the file's bytes \x00\xff", name="notes.bin", key=BROADCASTER, kind=EnvelopeKind.FILE) -> bytes:
    body = EnvelopeBody(kind, name, "application/octet-stream", 1_700_000_000, payload)
    return Envelope(body, key.schnorr_sign(body.signing_digest()).serialize()).pack()


def offer(inbox: Inbox, raw: bytes) -> bool:
    return inbox.accept(hashlib.sha256(raw).digest(), raw)


def files_in(directory) -> dict:
    return {p.name: p.read_bytes() for p in directory.iterdir()} if directory.exists() else {}


def test_a_genuine_envelope_is_saved_with_its_bytes(tmp_path):
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    assert offer(inbox, signed()) is True
    assert files_in(tmp_path / "inbox") == {"notes.bin": b"the file's bytes \x00\xff"}
    assert (inbox.stats.files_saved, inbox.stats.files_rejected) == (1, 0)
    assert inbox.saved == [tmp_path / "inbox" / "notes.bin"]


def tampered_payload(raw: bytes) -> bytes:
    flipped = bytearray(raw)
    flipped[-64 - 1] ^= 0x01  # last payload byte: still well formed, no longer what was signed
    return bytes(flipped)


@pytest.mark.parametrize("case, raw", [
    ("forged", signed(key=OTHER)),
    ("tampered payload", tampered_payload(signed())),
    ("tampered signature", signed()[:-1] + bytes([signed()[-1] ^ 0x80])),
    ("zero signature", signed()[:-64] + bytes(64)),
])
def test_forged_and_tampered_envelopes_are_dropped_and_counted(tmp_path, case, raw):
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    assert offer(inbox, raw) is True  # dropped for good: no genuine object can have this id
    assert files_in(tmp_path / "inbox") == {}
    assert (inbox.stats.files_saved, inbox.stats.files_rejected) == (0, 1)
    assert inbox.stats.rejected_why == {"signature": 1}


def test_every_single_bit_flip_of_a_signed_envelope_is_dropped(tmp_path):
    """Fuzz: a flipped bit anywhere (header, name, payload, signature) never gets saved and never
    raises; it is either malformed or its signature fails."""
    raw = signed(payload=b"payload", name="n.txt")
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    for position in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[position] ^= 1 << bit
            assert offer(inbox, bytes(flipped)) is True
    assert inbox.stats.files_saved == 0 and inbox.stats.files_rejected == len(raw) * 8
    assert set(inbox.stats.rejected_why) <= {"malformed", "signature"} and inbox.stats.rejected_why["signature"] > 0
    assert files_in(tmp_path / "inbox") == {}


def test_truncated_and_garbage_envelopes_are_malformed(tmp_path):
    raw = signed()
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    for cut in range(len(raw)):
        offer(inbox, raw[:cut])
    offer(inbox, raw + b"\0")
    assert inbox.stats.rejected_why == {"malformed": len(raw) + 1}
    assert files_in(tmp_path / "inbox") == {}


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(tmp_path_factory, data):
    inbox = Inbox(tmp_path_factory.mktemp("inbox"), BROADCASTER_KEY)
    offer(inbox, data)
    offer(inbox, bytes([1, 1, 1, 0]) + data)
    assert inbox.stats.files_saved == 0


def test_an_id_that_is_not_the_hash_of_the_bytes_is_rejected_and_left_open(tmp_path):
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    raw = signed()
    assert inbox.accept(bytes(32), raw) is False  # rebuilt again: the genuine object may carry that id
    assert inbox.stats.rejected_why == {"bad_id": 1} and files_in(tmp_path / "inbox") == {}


def test_without_a_key_every_envelope_is_counted_and_dropped(tmp_path):
    inbox = Inbox(tmp_path / "inbox", None)
    offer(inbox, signed())
    offer(inbox, signed(key=OTHER))
    assert inbox.stats.rejected_why == {"no_key": 2} and inbox.stats.files_saved == 0
    assert not (tmp_path / "inbox").exists()


def test_a_validly_signed_envelope_with_an_unsafe_name_is_still_refused(tmp_path):
    """Even the broadcaster cannot write outside the inbox: the name is checked on unpacking."""
    name = b"../escaped.txt"
    body = struct.pack(">BBBBQI", 1, 1, len(name), 0, 0, 4) + name + b"evil"
    raw = body + BROADCASTER.schnorr_sign(tagged_hash(SIGNING_TAG, body)).serialize()
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    offer(inbox, raw)
    assert inbox.stats.rejected_why == {"malformed": 1}
    assert not (tmp_path / "escaped.txt").exists() and files_in(tmp_path / "inbox") == {}


def test_a_taken_name_gets_a_suffix_and_the_same_bytes_are_not_saved_twice(tmp_path):
    directory = tmp_path / "inbox"
    directory.mkdir()
    (directory / "notes.bin").write_bytes(b"the user's own file")
    inbox = Inbox(directory, BROADCASTER_KEY)
    first, second = signed(b"version 1"), signed(b"version 2")
    offer(inbox, first)
    offer(inbox, second)
    offer(inbox, first)  # again (a restart handing it over again, or the broadcaster repeating it)
    assert files_in(directory) == {"notes.bin": b"the user's own file", "notes-1.bin": b"version 1", "notes-2.bin": b"version 2"}
    assert (inbox.stats.files_saved, inbox.stats.files_known) == (2, 1)
    no_ext = Inbox(tmp_path / "other", BROADCASTER_KEY)
    offer(no_ext, signed(b"a", name="README"))
    offer(no_ext, signed(b"b", name="README"))
    assert set(files_in(tmp_path / "other")) == {"README", "README-1"}


def test_a_message_is_saved_as_a_text_file(tmp_path):
    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    offer(inbox, signed("gm \u2600\n".encode(), name="message-20231114T221320Z.txt", kind=EnvelopeKind.MESSAGE))
    assert files_in(tmp_path / "inbox") == {"message-20231114T221320Z.txt": "gm \u2600\n".encode()}


def test_saving_leaves_no_temporary_file_and_stale_ones_are_cleared(tmp_path):
    directory = tmp_path / "inbox"
    directory.mkdir()
    (directory / f"{TEMP_PREFIX}deadbeef").write_bytes(b"half a file from a killed receiver")
    inbox = Inbox(directory, BROADCASTER_KEY)
    assert files_in(directory) == {}
    offer(inbox, signed())
    assert list(files_in(directory)) == ["notes.bin"]


def test_a_write_failure_is_counted_and_left_for_a_later_pass(tmp_path):
    directory = tmp_path / "inbox"
    inbox = Inbox(directory, BROADCASTER_KEY)
    directory.rmdir()
    directory.write_bytes(b"")  # the inbox became a file: nothing can be written (even by root)
    assert offer(inbox, signed()) is False
    assert inbox.stats.files_unsaved == 1 and inbox.stats.files_saved == 0


def test_the_receiver_saves_verified_files_and_reopens_objects_whose_id_is_wrong(tmp_path, monkeypatch):
    """rxside.receiver hands FILE objects to the inbox: saved ones are finished, a wrong id is reopened."""

    class NoChain:  # the receiver needs a delivery for blocks; none arrive here
        stats = None
        chain = "main"

    inbox = Inbox(tmp_path / "inbox", BROADCASTER_KEY)
    receiver = Receiver(2.4e6, 1e6, 0.2, NoChain(), inbox=inbox)
    reopened = []
    monkeypatch.setattr(receiver.assembler, "reopen", lambda *key: reopened.append(key))
    raw = signed()
    receiver._deliver(BroadcastObject(ObjectType.FILE, hashlib.sha256(raw).digest(), raw))
    receiver._deliver(BroadcastObject(ObjectType.FILE, bytes(32), raw))
    assert files_in(tmp_path / "inbox") == {"notes.bin": b"the file's bytes \x00\xff"}
    assert reopened == [(ObjectType.FILE, bytes(32))]
