"""The uplink-side commands (tx, chain, channel, demo), found by the launcher
(``chaincast.txside.launcher``) through the ``chaincast.commands`` entry-point group."""

from __future__ import annotations

import argparse
import shutil
import stat
import sys
import time
from fractions import Fraction
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from chaincast.fec.wire.bundle import MAX_BUNDLE_BYTES
from chaincast.fec.wire.envelope import MAX_ENVELOPE_BYTES, MAX_MESSAGE_BYTES, MAX_PAYLOAD_BYTES, Envelope
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import BroadcastObject
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS, Profile, modcod_by_name
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.sdr.channel import Channel, cu8_to_complex
from chaincast.txside import inputs
from chaincast.txside.chaincheck import check_chain
from chaincast.txside.chain.errors import ChainDataError
from chaincast.txside.chain.sources import open_source
from chaincast.txside.envelopes import (
    KeyFileError, envelope_object, file_envelope, generate_key_file, load_key, message_envelope,
)
from chaincast.txside.follow import follow_command
from chaincast.txside.packetizer import BUNDLE_BLOCKS_BELOW, BUNDLE_BYTES, Packetizer, block_objects, link_frames
from chaincast.txside.inputs import InputError
from chaincast.txside.recording import RecordingError, SigmfWriter, read_sigmf_chunks, read_sigmf_info, sigmf_paths
from chaincast.txside.launcher import load_command, main  # noqa: F401 (in-process callers and tests run commands through it)
from chaincast.txside.uplink import Uplink

Command = Callable[[list[str]], int]

MAX_PASSES = 100  # each pass is a whole carousel; fresh repair symbols stay well inside RaptorQ's 2^24 ids
MAX_PAD_S = 10.0
MAX_FREQUENCY_HZ = 300e9  # the top of EHF
MAX_REGTEST_BLOCKS = 20_000
KEY_FILE_MAX_BYTES = 4096  # a key file is 64 hex digits and a newline
ESN0_DB_RANGE = (-30.0, 100.0)


# ---------------------------------------------------------------------------------------------- tx


def tx_command(argv: list[str]) -> int:
    if argv[:1] == ["follow"]:
        return follow_command(argv[1:])
    if argv[:1] == ["keygen"]:
        return tx_keygen_command(argv[1:])
    sending = argv[:1] == ["send"]  # `tx send FILE...`: files and messages, blocks optional
    if sending:
        p = argparse.ArgumentParser(prog="chaincast tx send", description="Broadcast files and messages signed with the "
                                    "broadcaster's key (and blocks, with --source): write a SigMF IQ recording of the uplink.")
        p.add_argument("files", nargs="*", metavar="FILE", help="files to send")
        argv = argv[1:]
    else:
        p = argparse.ArgumentParser(prog="chaincast tx", description="Broadcast blocks: write a SigMF IQ recording of the uplink. "
                                    "'chaincast tx send --help': files and messages; 'chaincast tx keygen --help': the signing key; "
                                    "'chaincast tx follow --help': the service that follows a node.")
    p.add_argument("--source", required=not sending, help="blk*.dat file, Bitcoin Core blocks/ dir, hex-per-line file, or dir of raw blocks")
    p.add_argument("--chain", required=not sending, choices=["main", "testnet", "testnet4", "signet", "regtest"])
    p.add_argument("--out", required=not sending, help="output recording (.sigmf-meta; the .sigmf-data goes beside it)")
    p.add_argument("--passes", type=int, default=1, help="carousel passes, each with fresh repair symbols (default 1)")
    p.add_argument("--sample-rate", type=float, default=DEFAULT_PROFILE.sample_rate_hz, help="output sample rate in Hz")
    p.add_argument("--symbol-rate", type=float, default=DEFAULT_PROFILE.symbol_rate_hz, help="symbol rate in baud")
    p.add_argument("--modcod", default=DEFAULT_PROFILE.modcod, choices=sorted(MODCODS))
    p.add_argument("--datatype", default="cf32_le", choices=["cf32_le", "cu8"])
    p.add_argument("--frequency", type=float, default=None, help="carrier frequency in Hz, recorded as core:frequency")
    p.add_argument("--pad-s", type=float, default=0.002, help="silence before and after the frames, in seconds")
    p.add_argument("--bundle-bytes", type=int, default=BUNDLE_BYTES,
                   help=f"bundle runs of blocks under {BUNDLE_BLOCKS_BELOW} bytes into objects of up to this size, so that "
                        f"packets fill link frames (default {BUNDLE_BYTES}; 0: one object per block)")
    p.add_argument("--send", action="append", default=[], metavar="FILE", help="also send this file, signed with --key (repeatable)")
    p.add_argument("--message", action="append", default=[], metavar="TEXT", help="also send this text message, signed with --key (repeatable)")
    p.add_argument("--key", help="the broadcaster's key file (from 'chaincast tx keygen'), to sign files and messages")
    p.add_argument("--send-envelope", action="append", default=[], metavar="ENVELOPE",
                   help="also send an envelope signed beforehand ('tx send --save-envelope'), as it is (repeatable)")
    p.add_argument("--save-envelope", metavar="DIR", help="also write each signed envelope to DIR (NAME.envelope); "
                                                          "with 'tx send' and no --out, only sign (an offline key)")
    args = p.parse_args(argv)
    files = [*getattr(args, "files", []), *args.send]
    if (files or args.message) and not args.key:
        p.error("files and messages need --key (the broadcaster's key file)")
    if sending and not (files or args.message or args.send_envelope):
        p.error("nothing to send: give a FILE, --message or --send-envelope")
    if not args.out and not args.save_envelope:
        p.error("give --out (a recording) or --save-envelope (signed envelopes only)")
    if args.source and not args.chain:
        p.error("--source needs --chain")
    if not (args.bundle_bytes == 0 or 1024 <= args.bundle_bytes <= MAX_BUNDLE_BYTES):
        p.error(f"--bundle-bytes must be 0 or between 1024 and {MAX_BUNDLE_BYTES} (a receiver refuses larger bundles)")
    try:
        profile = _check_tx_inputs(args, files)
    except InputError as bad:
        p.error(str(bad))
    # Everything is read and signed in memory before the first byte is written.
    try:
        envelopes = signed_envelopes(files, args.message, args.key)
    except KeyFileError as bad:
        p.error(f"--key {bad}")
    if not args.out:
        save_envelopes(envelopes, args.save_envelope)
        print(f"{len(envelopes)} files and messages signed -> {args.save_envelope}")
        return 0
    try:
        presigned = [read_envelope(path) for path in args.send_envelope]
    except WireError as bad:
        p.error(f"--send-envelope {bad}")
    blocks = check_chain(args.source, args.chain) if args.source else []
    if args.save_envelope:
        save_envelopes(envelopes, args.save_envelope)
    packed = [envelope.pack() for envelope in envelopes] + presigned
    stats = write_broadcast(blocks, profile, args.out, passes=args.passes, datatype=args.datatype,
                            frequency_hz=args.frequency, pad_s=args.pad_s, objects=[envelope_object(e) for e in packed],
                            bundle_bytes=args.bundle_bytes)
    print(
        f"{stats['blocks']} blocks, " + (f"{len(packed)} files and messages, " if packed else "")
        + f"{stats['frames']} frames, {stats['passes']} passes -> {stats['meta']} "
        f"({stats['air_s']:.2f} s of air time, written at {stats['realtime_factor']:.1f}x real time)"
    )
    return 0


def _check_tx_inputs(args: argparse.Namespace, files: list[str]) -> Profile:
    """Every option of ``tx`` / ``tx send`` checked without reading more than a file's first
    bytes; returns the radio profile. InputError names the first bad one."""
    inputs.integer("--passes", args.passes, 1, MAX_PASSES)
    profile = Profile(name=DEFAULT_PROFILE.name, symbol_rate_hz=args.symbol_rate, rolloff=DEFAULT_PROFILE.rolloff,
                      sample_rate_hz=args.sample_rate, modcod=args.modcod)
    inputs.radio_rates(profile.sample_rate_hz, profile.symbol_rate_hz, profile.rolloff)
    inputs.number("--pad-s", args.pad_s, 0.0, MAX_PAD_S, unit=" s")
    if args.frequency is not None:
        inputs.number("--frequency", args.frequency, 0.0, MAX_FREQUENCY_HZ, unit=" Hz")
    if args.out:
        recording_output("--out", args.out)
    if args.save_envelope:
        inputs.output_dir("--save-envelope", args.save_envelope)
    if args.key:
        inputs.input_file("--key", args.key, max_bytes=KEY_FILE_MAX_BYTES)
    for path in files:
        inputs.input_file("--send" if path in args.send else "FILE", path, max_bytes=MAX_PAYLOAD_BYTES)
    for text in args.message:
        try:
            size = len(text.encode("utf-8"))
        except UnicodeEncodeError:
            raise InputError("--message is not valid UTF-8 text") from None
        if not 1 <= size <= MAX_MESSAGE_BYTES:
            raise InputError(f"--message must be 1 to {MAX_MESSAGE_BYTES} bytes of UTF-8 text, not {size}")
    for path in args.send_envelope:
        inputs.input_file("--send-envelope", path, max_bytes=MAX_ENVELOPE_BYTES)
    if args.source:
        inputs.input_path("--source", args.source)
        try:
            open_source(args.source)  # the format, and raw block files' sizes, before any block is read
        except ChainDataError as bad:
            raise InputError(f"--source {bad}") from None
    return profile


def recording_output(option: str, path: str | Path, example: str = "uplink.sigmf-meta") -> tuple[Path, Path]:
    """A SigMF recording's two files can be written at ``path``: InputError if not."""
    found = inputs.stat_or_none(option, Path(path))
    if found is not None and stat.S_ISDIR(found.st_mode):
        raise InputError(f"{option} {path}: is a directory; give a file name such as {Path(path) / example}")
    meta_path, data_path = sigmf_paths(path)
    return inputs.output_file(option, meta_path), inputs.output_file(option, data_path)


def write_broadcast(blocks: list[bytes], profile: Profile, out: str | Path, *, passes: int = 1, datatype: str = "cf32_le",
                    frequency_hz: float | None = None, pad_s: float = 0.002, objects: Iterable[BroadcastObject] = (),
                    bundle_bytes: int = BUNDLE_BYTES) -> dict:
    """Blocks, then any other ``objects`` (files and messages: ``txside.envelopes``) -> a SigMF
    recording of ``passes`` carousel passes. Returns counts and timings."""
    uplink = Uplink(profile, modcod_by_name(profile.modcod))
    bundled = block_objects(blocks, bundle_below=BUNDLE_BLOCKS_BELOW if bundle_bytes > 0 else 0, bundle_bytes=bundle_bytes)
    packetizer = Packetizer([*bundled, *objects], uplink.data_bytes)
    info = RecordingInfo(profile.sample_rate_hz, datatype, frequency_hz, profile.symbol_rate_hz, profile.name)
    started = time.perf_counter()
    frames = 0

    def fields():
        nonlocal frames
        for pass_index in range(passes):
            for field in link_frames(packetizer.pass_packets(pass_index), uplink.data_bytes):
                frames += 1
                yield field

    pad = int(round(pad_s * profile.sample_rate_hz))
    with SigmfWriter(out, info, atomic=True) as writer, \
            tqdm(desc="tx", unit=" frames", file=sys.stderr, disable=None, leave=False) as bar:
        write_silence(writer, pad)
        for chunk in uplink.iq(fields()):
            writer.write(chunk)
            bar.update(1)
        write_silence(writer, pad)
    wall_s = time.perf_counter() - started
    air_s = writer.samples_written / profile.sample_rate_hz
    return {"blocks": len(blocks), "objects": len(packetizer), "frames": frames, "passes": passes, "meta": str(writer.meta_path),
            "samples": writer.samples_written, "air_s": air_s, "wall_s": wall_s, "realtime_factor": air_s / wall_s}


def write_silence(writer: SigmfWriter, samples: int, chunk: int = 1 << 20) -> None:
    """``samples`` zeros, a chunk at a time (a long pad at a high rate would not fit in memory)."""
    for start in range(0, samples, chunk):
        writer.write(np.zeros(min(chunk, samples - start), np.complex64))


def signed_envelopes(files: list[str], messages: list[str], key_file: str | None) -> list[Envelope]:
    """Each file and message, signed with the key in ``key_file``."""
    if not (files or messages):
        return []
    key = load_key(key_file)
    return [file_envelope(path, key) for path in files] + [message_envelope(text, key) for text in messages]


def save_envelopes(envelopes: list[Envelope], save_dir: str | Path) -> list[Path]:
    """Write each envelope to ``save_dir/NAME.envelope``, to broadcast later with ``--send-envelope``.
    Two envelopes of one name (two messages signed in the same second) get ``STEM-2.SUFFIX.envelope``...;
    the names on the air are unchanged."""
    Path(save_dir).mkdir(exist_ok=True)
    written: list[Path] = []
    for envelope in envelopes:
        name, n = Path(envelope.body.name), 1
        path = Path(save_dir, f"{name}.envelope")
        while path in written:
            n += 1
            path = Path(save_dir, f"{name.stem}-{n}{name.suffix}.envelope")
        path.write_bytes(envelope.pack())
        written.append(path)
    return written


def read_envelope(path: str | Path) -> bytes:
    """A pre-signed envelope file, checked to parse (its signature is the receivers' business)."""
    with open(path, "rb") as f:
        data = f.read(MAX_ENVELOPE_BYTES + 1)
    try:
        Envelope.unpack(data)
    except WireError as bad:
        raise WireError(f"{path}: not a chaincast envelope ({bad})") from None
    return data


def tx_keygen_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chaincast tx keygen", description="Make the broadcaster's signing key (BIP-340 "
                                "Schnorr, secp256k1) for files and messages; prints the x-only public key receivers trust.")
    p.add_argument("--out", required=True, help="new key file (mode 0600; an existing file is never overwritten)")
    args = p.parse_args(argv)
    try:
        inputs.output_file("--out", args.out, exists_ok=False)
    except InputError as bad:
        p.error(str(bad))
    public_hex = generate_key_file(args.out)
    print(f"key -> {args.out}; public key (give receivers --broadcaster-key {public_hex}):")
    print(public_hex)
    return 0


# ------------------------------------------------------------------------------------------- chain


def chain_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chaincast chain", description="Chain data tools.")
    sub = p.add_subparsers(dest="action", required=True)
    make = sub.add_parser("make-regtest", help="make a regtest chain with real signed transactions, validated as it is made")
    make.add_argument("--blocks", type=int, required=True, help="number of blocks after genesis")
    make.add_argument("--out", required=True, help="output file, one hex block per line")
    make.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    from chaincast.txside.chain.regtest import make_regtest_chain, write_hex_chain

    try:
        inputs.integer("--blocks", args.blocks, 1, MAX_REGTEST_BLOCKS)
        inputs.output_file("--out", args.out)
    except InputError as bad:
        p.error(str(bad))
    with tqdm(total=args.blocks, desc="mining", unit=" blocks", file=sys.stderr, disable=None, leave=False) as bar:
        blocks = make_regtest_chain(args.blocks, seed=args.seed, progress=lambda *_: bar.update(1))
    write_hex_chain(blocks, args.out)
    print(f"{len(blocks)} regtest blocks, validated by libbitcoinkernel -> {args.out}")
    return 0


# ----------------------------------------------------------------------------------------- channel


def channel_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chaincast channel", description="Pass a recording through a simulated satellite + LNB + RTL-SDR channel.")
    p.add_argument("input", help="input SigMF recording")
    p.add_argument("output", help="output SigMF recording")
    p.add_argument("--esn0-db", type=float, required=True, help="Es/N0 in dB")
    p.add_argument("--cfo-hz", type=float, default=0.0, help="carrier frequency offset in Hz")
    p.add_argument("--drift-hz-per-s", type=float, default=0.0, help="carrier drift in Hz/s")
    p.add_argument("--clock-ppm", type=float, default=0.0, help="sample-clock offset in ppm")
    p.add_argument("--phase-noise-hz", type=float, default=0.0, help="Wiener phase-noise linewidth in Hz")
    p.add_argument("--iq-gain-db", type=float, default=0.0, help="I/Q amplitude imbalance in dB")
    p.add_argument("--iq-phase-deg", type=float, default=0.0, help="I/Q phase imbalance in degrees")
    p.add_argument("--dc", type=float, default=0.0, help="DC offset (real part, in units of signal RMS)")
    p.add_argument("--interference", help="raw cu8 capture (rtl_sdr output) to mix in underneath, looped")
    p.add_argument("--interference-rate", type=float, help="sample rate of --interference in Hz")
    p.add_argument("--interference-db", type=float, default=-12.0, help="its power relative to the signal's (default -12)")
    p.add_argument("--datatype", default="cu8", choices=["cu8", "cf32_le"], help="cu8: RTL-SDR style 8-bit output (default)")
    p.add_argument("--blank-fraction", type=float, default=0.0,
                   help="fraction of the time the signal is blocked (noise only), in bursts of --blank-ms")
    p.add_argument("--blank-ms", type=float, default=20.0, help="length of each blockage burst (default 20 ms)")
    p.add_argument("--adc-rms-lsb", type=float, default=40.0,
                   help="cu8 only: code RMS of signal + noise, i.e. the dongle's gain (default 40; above about 60 it clips)")
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    try:
        info = _check_channel_inputs(args)
    except (InputError, RecordingError) as bad:
        p.error(str(bad))
    interference = None
    if args.interference:
        try:
            interference = load_interference(args.interference, args.interference_rate, info.sample_rate_hz)
        except ValueError as bad:
            p.error(f"--interference {bad}")
    symbol_rate = info.symbol_rate_hz or DEFAULT_PROFILE.symbol_rate_hz
    channel = Channel(
        sample_rate_hz=info.sample_rate_hz,
        symbol_rate_hz=symbol_rate,
        esn0_db=args.esn0_db,
        cfo_hz=args.cfo_hz,
        cfo_drift_hz_per_s=args.drift_hz_per_s,
        clock_ppm=args.clock_ppm,
        phase_noise_linewidth_hz=args.phase_noise_hz,
        iq_gain_db=args.iq_gain_db,
        iq_phase_deg=args.iq_phase_deg,
        dc_offset=complex(args.dc, 0.0),
        seed=args.seed,
        interference=interference,
        interference_db=args.interference_db,
        blank_fraction=args.blank_fraction,
        blank_s=args.blank_ms / 1000,
    )
    samples, meta_path = pass_through_channel(args.input, args.output, channel, args.datatype, args.adc_rms_lsb)
    print(f"{samples} samples at Es/N0 {args.esn0_db} dB -> {meta_path}")
    return 0


def _check_channel_inputs(args: argparse.Namespace) -> RecordingInfo:
    """Every option of ``channel`` and both recordings' paths, checked before a sample is read;
    returns the input's metadata. The limits are wide of any real set-up but keep the model
    meaningful (an offset the sample rate can show, a clock that still runs forward)."""
    if args.interference and not args.interference_rate:
        raise InputError("--interference needs --interference-rate")
    if args.interference_rate is not None and not args.interference:
        raise InputError("--interference-rate is for --interference")
    inputs.number("--esn0-db", args.esn0_db, *ESN0_DB_RANGE, unit=" dB")
    inputs.number("--clock-ppm", args.clock_ppm, -1000.0, 1000.0, unit=" ppm")
    inputs.number("--iq-gain-db", args.iq_gain_db, -10.0, 10.0, unit=" dB")
    inputs.number("--iq-phase-deg", args.iq_phase_deg, -45.0, 45.0, unit=" deg")
    inputs.number("--dc", args.dc, -10.0, 10.0)
    inputs.number("--interference-db", args.interference_db, -60.0, 40.0, unit=" dB")
    if not (0 <= args.blank_fraction < 1):
        raise InputError(f"--blank-fraction must be in [0, 1), not {args.blank_fraction}")
    inputs.number("--blank-ms", args.blank_ms, 0.0, 10_000.0, low_open=True, unit=" ms")
    inputs.number("--adc-rms-lsb", args.adc_rms_lsb, 0.0, 128.0, low_open=True)
    if args.seed < 0:
        raise InputError(f"--seed must be at least 0, not {args.seed}")
    info = read_sigmf_info(args.input)
    meta_in = sigmf_paths(args.input)[0]
    fs = info.sample_rate_hz
    inputs.number(f"{meta_in}: the sample rate", fs, 1.0, inputs.MAX_SAMPLE_RATE_HZ, unit=" Hz")
    if info.symbol_rate_hz is not None:
        inputs.number(f"{meta_in}: the symbol rate", info.symbol_rate_hz, fs / inputs.MAX_SAMPLES_PER_SYMBOL, fs,
                      unit=" Bd", why="1 to 64 samples per symbol")
    reach = "the input's sample rate"
    inputs.number("--cfo-hz", args.cfo_hz, -fs / 2, fs / 2, unit=" Hz", why=f"half {reach}")
    inputs.number("--drift-hz-per-s", args.drift_hz_per_s, -fs, fs, unit=" Hz/s", why=f"{reach} per second")
    inputs.number("--phase-noise-hz", args.phase_noise_hz, 0.0, fs / 2, unit=" Hz", why=f"half {reach}")
    if args.blank_fraction > 0 and args.blank_ms / 1000 * fs < 1:
        raise InputError(f"--blank-ms {args.blank_ms:g} is shorter than one sample at {fs:g} Hz")
    if args.interference:
        inputs.input_file("--interference", args.interference, min_bytes=2)
        inputs.number("--interference-rate", args.interference_rate, fs / 100, min(100 * fs, inputs.MAX_SAMPLE_RATE_HZ),
                      unit=" Hz")
    meta_out, data_out = recording_output("output", args.output, "received.sigmf-meta")
    reading = {Path(p).resolve() for p in (*sigmf_paths(args.input), args.interference) if p}
    if {meta_out.resolve(), data_out.resolve()} & reading:
        raise InputError(f"output {args.output}: is an input; give another name")
    return info


MAX_INTERFERENCE_SAMPLES = 1 << 22  # 32 MiB of complex64, before and after resampling (it is looped)


def load_interference(path: str | Path, rate_hz: float, out_rate_hz: float, max_s: float = 10.0) -> np.ndarray:
    """A raw cu8 capture (at most ``max_s`` seconds, and at most ``MAX_INTERFERENCE_SAMPLES``
    samples before and after resampling) resampled to ``out_rate_hz``: complex64[n]."""
    max_s = min(max_s, MAX_INTERFERENCE_SAMPLES / max(rate_hz, out_rate_hz))
    raw = np.fromfile(path, dtype=np.uint8, count=2 * int(max_s * rate_hz))
    if raw.size < 2:
        raise ValueError(f"{path}: no samples")
    if raw[0::2].min() == raw[0::2].max() and raw[1::2].min() == raw[1::2].max():
        raise ValueError(f"{path}: every sample is the same, no signal to mix in")
    x = cu8_to_complex(raw[: raw.size - raw.size % 2])
    ratio = Fraction(out_rate_hz / rate_hz).limit_denominator(1000)
    if ratio != 1:
        x = resample_poly(x, ratio.numerator, ratio.denominator).astype(np.complex64)
    return x


def pass_through_channel(source: str | Path, out: str | Path, channel: Channel, datatype: str = "cu8",
                         adc_rms_lsb: float = 40.0) -> tuple[int, Path]:
    """Stream a recording through ``channel`` into a new one; returns (samples written, meta path).
    ``adc_rms_lsb``: cu8 code RMS of signal + noise (the receiver's gain; above about 60 the ADC clips)."""
    info = read_sigmf_info(source)
    out_info = RecordingInfo(info.sample_rate_hz, datatype, info.frequency_hz, info.symbol_rate_hz, info.profile)
    # A gain set for adc_rms_lsb on the known signal + noise power (signal power is 1 by construction).
    total_power = 1.0 + channel.noise_power + channel.interference_power
    with SigmfWriter(out, out_info, cu8_rms_lsb=adc_rms_lsb / np.sqrt(total_power), atomic=True) as writer:
        for chunk in tqdm(read_sigmf_chunks(source), desc="channel", unit=" chunks", file=sys.stderr, disable=None, leave=False):
            writer.write(channel.process(chunk))
        writer.write(channel.flush())
    return writer.samples_written, writer.meta_path


# -------------------------------------------------------------------------------------------- demo


def demo_command(argv: list[str]) -> int:
    p = argparse.ArgumentParser(prog="chaincast demo", description="Make a regtest chain, broadcast it through an impaired channel, receive and validate it.")
    p.add_argument("--out", default="demo-out", help="folder for the artefacts (default: demo-out)")
    p.add_argument("--blocks", type=int, default=130)
    p.add_argument("--esn0-db", type=float, default=6.0)
    args = p.parse_args(argv)
    out = Path(args.out)
    chain_file, clean, noisy, datadir = out / "regtest-chain.hex", out / "uplink.sigmf-meta", out / "received.sigmf-meta", out / "datadir"
    try:
        inputs.integer("--blocks", args.blocks, 1, MAX_REGTEST_BLOCKS)
        inputs.number("--esn0-db", args.esn0_db, *ESN0_DB_RANGE, unit=" dB")
        inputs.output_dir("--out", out)
        # The demo replaces its own datadir: refuse a folder that holds anything else.
        if out.is_dir() and any(out.iterdir()) and not chain_file.is_file():
            raise InputError(f"--out {out}: holds files that are not a demo's; give a new or empty folder")
    except InputError as bad:
        p.error(str(bad))
    out.mkdir(exist_ok=True)
    if datadir.exists():
        shutil.rmtree(datadir)
    impairments = ["--esn0-db", str(args.esn0_db), "--cfo-hz", "37000", "--clock-ppm", "40", "--phase-noise-hz", "5",
                   "--iq-gain-db", "0.3", "--iq-phase-deg", "2", "--dc", "0.05"]
    steps = [
        ("chain", ["make-regtest", "--blocks", str(args.blocks), "--out", str(chain_file)]),
        ("tx", ["--source", str(chain_file), "--chain", "regtest", "--out", str(clean), "--passes", "2"]),
        ("channel", [str(clean), str(noisy), *impairments]),
        ("rx", [str(noisy), "--chain", "regtest", "--datadir", str(datadir)]),
    ]
    for name, step_argv in steps:
        print(f"\n$ chaincast {name} {' '.join(step_argv)}")
        code = load_command(name)(step_argv)
        if code:
            return code
    print(f"\nArtefacts in {out}/: the chain ({chain_file.name}), the uplink and received recordings, and the "
          f"Bitcoin Core regtest datadir ({datadir}/regtest).")
    return 0
