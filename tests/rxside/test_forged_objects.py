"""Forged objects (valid packet CRCs and digests, invalid blocks) through the whole radio chain."""

from chaincast.fec.wire.profile import DEFAULT_PROFILE
from chaincast.rxside.kernel import ChainDelivery
from chaincast.rxside.receiver import Receiver
from chaincast.rxside.source import FileSource
from chaincast.txside.cli import write_broadcast
from tests.conftest import MAINNET_TIP
from tests.rxside.test_delivery import stored_contains


def test_forged_blocks_are_rejected_never_written_and_do_not_shadow_the_genuine_block(tmp_path, mainnet_blocks):
    wrong_nonce = bytearray(mainnet_blocks[100])
    wrong_nonce[76] ^= 0xFF
    flipped_tx_bit = bytearray(mainnet_blocks[100])  # same header, so the same object id, as the real one
    flipped_tx_bit[-10] ^= 0x01
    forged = [bytes(wrong_nonce), bytes(flipped_tx_bit)]
    sent = mainnet_blocks[:100] + forged + mainnet_blocks[100:]
    write_broadcast(sent, DEFAULT_PROFILE, tmp_path / "up.sigmf-meta")

    source = FileSource(tmp_path / "up.sigmf-meta")
    delivery = ChainDelivery(tmp_path / "datadir", "main")
    receiver = Receiver(source.info.sample_rate_hz, DEFAULT_PROFILE.symbol_rate_hz, DEFAULT_PROFILE.rolloff, delivery)
    for chunk in source.chunks():
        receiver.feed(chunk)
    report = receiver.finish()
    delivery.close()

    assert report.blocks_rejected == 2
    assert (report.tip_height, report.tip_hash) == (438, MAINNET_TIP)
    for raw in forged:
        assert not stored_contains(tmp_path / "datadir", raw)
