"""The ``chaincast`` launcher and the uplink-side commands (tx, chain, channel, demo).

Subcommands are registered in the ``chaincast.commands`` entry-point group (pyproject.toml). The
launcher looks them up by name, so it never imports the receiver: ``chaincast rx`` is provided by
chaincast.rxside through the same group.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from fractions import Fraction
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
from pathlib import Path

import numpy as np
from scipy.signal import resample_poly
from tqdm import tqdm

from chaincast.fec.wire.envelope import Envelope
from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.objects import BroadcastObject
from chaincast.fec.wire.profile import DEFAULT_PROFILE, MODCODS, Profile, modcod_by_name
from chaincast.fec.wire.recording import RecordingInfo
from chaincast.sdr.channel import Channel, cu8_to_complex
from chaincast.txside.chaincheck import check_chain
from chaincast.txside.envelopes import envelope_object, file_envelope, generate_key_file, load_key, message_envelope
from chaincast.txside.follow import follow_command
from chaincast.txside.packetizer import BUNDLE_BLOCKS_BELOW, BUNDLE_BYTES, Packetizer, block_objects, link_frames
from chaincast.txside.recording import SigmfWriter, read_sigmf_chunks, read_sigmf_info
from chaincast.txside.uplink import Uplink

Command = Callable[[list[str]], int]


def load_command(name: str) -> Command:
    found = entry_points(group="chaincast.commands", name=name)
    if not found:
        raise LookupError(name)
    return next(iter(found)).load()


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    commands = sorted(ep.name for ep in entry_points(group="chaincast.commands"))
    if not argv or argv[0] in ("-h", "--help"):
        print(f"usage: chaincast {{{','.join(commands)}}} ...\n\nRun 'chaincast COMMAND --help' for a command's options.")
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    try:
        command = load_command(name)
    except LookupError:
        print(f"chaincast: unknown command {name!r} (choose from {', '.join(commands)})", file=sys.stderr)
        return 2
    try:
        return command(rest)
    except KeyboardInterrupt:
        print("chaincast: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # one line for the user; the traceback only on request
        if os.environ.get("CHAINCAST_DEBUG"):
            raise
        message = str(error).splitlines()[0] if str(error) else type(error).__name__
        print(f"chaincast {name}: error: {message}", file=sys.stderr)
        return 1


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
    if args.passes < 1:
        p.error("--passes must be at least 1")
    if not (args.bundle_bytes == 0 or 1024 <= args.bundle_bytes <= 16 << 20):
        p.error("--bundle-bytes must be 0 or between 1024 and 16 MiB")
    profile = Profile(
        name=DEFAULT_PROFILE.name,
        symbol_rate_hz=args.symbol_rate,
        rolloff=DEFAULT_PROFILE.rolloff,
        sample_rate_hz=args.sample_rate,
        modcod=args.modcod,
    )
    if profile.sample_rate_hz < (1 + profile.rolloff) * profile.symbol_rate_hz:
        p.error(f"--sample-rate must be at least (1 + roll-off) x --symbol-rate = {(1 + profile.rolloff) * profile.symbol_rate_hz:g} Hz")
    envelopes = signed_envelopes(files, args.message, args.key, args.save_envelope)
    if not args.out:
        print(f"{len(envelopes)} files and messages signed -> {args.save_envelope}")
        return 0
    envelopes += [read_envelope(path) for path in args.send_envelope]
    blocks = check_chain(args.source, args.chain) if args.source else []
    stats = write_broadcast(blocks, profile, args.out, passes=args.passes, datatype=args.datatype,
                            frequency_hz=args.frequency, pad_s=args.pad_s, objects=[envelope_object(e) for e in envelopes],
                            bundle_bytes=args.bundle_bytes)
    print(
        f"{stats['blocks']} blocks, " + (f"{len(envelopes)} files and messages, " if envelopes else "")
        + f"{stats['frames']} frames, {stats['passes']} passes -> {stats['meta']} "
        f"({stats['air_s']:.2f} s of air time, written at {stats['realtime_factor']:.1f}x real time)"
    )
    return 0


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

    with SigmfWriter(out, info) as writer, tqdm(desc="tx", unit=" frames", file=sys.stderr, disable=None, leave=False) as bar:
        for chunk in uplink.iq(fields(), pad_s=pad_s):
            writer.write(chunk)
            bar.update(1)
    wall_s = time.perf_counter() - started
    air_s = writer.samples_written / profile.sample_rate_hz
    return {"blocks": len(blocks), "objects": len(packetizer), "frames": frames, "passes": passes, "meta": str(writer.meta_path),
            "samples": writer.samples_written, "air_s": air_s, "wall_s": wall_s, "realtime_factor": air_s / wall_s}


def signed_envelopes(files: list[str], messages: list[str], key_file: str | None, save_dir: str | None = None) -> list[bytes]:
    """Each file and message, signed with the key in ``key_file``, as envelope bytes (also written
    to ``save_dir/NAME.envelope`` when given, to broadcast later with ``--send-envelope``)."""
    if not (files or messages):
        return []
    key = load_key(key_file)
    envelopes = [file_envelope(path, key) for path in files] + [message_envelope(text, key) for text in messages]
    if save_dir is not None:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        for envelope in envelopes:
            Path(save_dir, envelope.body.name + ".envelope").write_bytes(envelope.pack())
    return [envelope.pack() for envelope in envelopes]


def read_envelope(path: str | Path) -> bytes:
    """A pre-signed envelope file, checked to parse (its signature is the receivers' business)."""
    data = Path(path).read_bytes()
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

    if args.blocks < 1:
        p.error("--blocks must be at least 1")
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
    if args.interference and not args.interference_rate:
        p.error("--interference needs --interference-rate")
    if not args.adc_rms_lsb > 0:
        p.error("--adc-rms-lsb must be positive")
    if not (0 <= args.blank_fraction < 1 and args.blank_ms > 0):
        p.error("--blank-fraction must be in [0, 1) and --blank-ms positive")
    info = read_sigmf_info(args.input)
    interference = None
    if args.interference:
        interference = load_interference(args.interference, args.interference_rate, info.sample_rate_hz)
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


def load_interference(path: str | Path, rate_hz: float, out_rate_hz: float, max_s: float = 10.0) -> np.ndarray:
    """A raw cu8 capture (at most ``max_s`` seconds) resampled to ``out_rate_hz``: complex64[n]."""
    raw = np.fromfile(path, dtype=np.uint8, count=2 * int(max_s * rate_hz))
    if raw.size < 2:
        raise ValueError(f"{path}: no samples")
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
    with SigmfWriter(out, out_info, cu8_rms_lsb=adc_rms_lsb / np.sqrt(total_power)) as writer:
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
    out.mkdir(parents=True, exist_ok=True)
    chain_file, clean, noisy, datadir = out / "regtest-chain.hex", out / "uplink.sigmf-meta", out / "received.sigmf-meta", out / "datadir"
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
