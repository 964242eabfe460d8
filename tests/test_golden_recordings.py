"""The committed golden recording, decoded stage by stage down to validated block hashes."""

from pathlib import Path

from chaincast.fec.wire.plheader import Pls
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS
from chaincast.rxside.assembler import ObjectAssembler
from chaincast.rxside.kernel import ChainDelivery, block_hash, display_hex
from chaincast.rxside.linkdecode import LinkDecoder
from chaincast.rxside.source import FileSource
from chaincast.sdr.rx import Demodulator
from chaincast.txside.chain.regtest import make_regtest_chain

RECORDING = Path(__file__).resolve().parents[1] / "recordings" / "regtest-5blocks-8db.sigmf-meta"
TIP = "6415f041e3ece24d56e6e774616c93d6f4834ddc6c96d45692bdf4a6f9e35ed6"


def test_golden_regtest_recording_stage_by_stage(tmp_path):
    expected_blocks = make_regtest_chain(5, seed=0, validate=False)  # what was broadcast
    source = FileSource(RECORDING)
    assert source.info.datatype == "cu8" and source.info.sample_rate_hz == DEFAULT_PROFILE.sample_rate_hz

    demod = Demodulator(source.info.sample_rate_hz, DEFAULT_PROFILE.symbol_rate_hz, DEFAULT_PROFILE.rolloff)
    frames = [f for chunk in source.chunks() for f in demod.process(chunk)] + demod.flush()
    assert len(frames) == 8
    assert {Pls.unpack(f.pls_value).modcod_id for f in frames} == {MODCODS["qpsk-cc1/2"].pls_id}
    assert all(6.5 < f.esn0_db < 9.5 for f in frames) and all(abs(f.cfo_hz - 15000) < 100 for f in frames)

    link = LinkDecoder()
    packets = [p for f in frames for p in link.decode(f.pls_value, f.payload, f.noise_var)]
    assert link.stats.frames_ok == 8 and link.stats.packets_bad == 0

    assembler = ObjectAssembler()
    objects = [o for o in map(assembler.add, packets) if o is not None]
    assert [o.payload for o in objects] == expected_blocks

    delivery = ChainDelivery(tmp_path, "regtest")
    assert [delivery.submit(o.payload) for o in objects] == ["validated"] * 5
    assert delivery.tip() == (5, TIP) and display_hex(block_hash(expected_blocks[-1])) == TIP


def test_raw_cf32_file_with_sample_rate_decodes(tmp_path):
    import numpy as np

    from chaincast.sdr.channel import cu8_to_complex

    raw = tmp_path / "golden.cf32"
    data = np.fromfile(RECORDING.with_suffix(".sigmf-data"), dtype=np.uint8)
    cu8_to_complex(data).astype("<c8").tofile(raw)
    source = FileSource(raw, sample_rate_hz=DEFAULT_PROFILE.sample_rate_hz, chunk_samples=50_000)
    demod = Demodulator(source.info.sample_rate_hz, DEFAULT_PROFILE.symbol_rate_hz, DEFAULT_PROFILE.rolloff)
    frames = [f for chunk in source.chunks() for f in demod.process(chunk)] + demod.flush()
    link = LinkDecoder()
    for f in frames:
        link.decode(f.pls_value, f.payload, f.noise_var)
    assert link.stats.frames_ok == 8
