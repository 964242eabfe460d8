"""The radio options shared by ``rx``, ``point`` and ``record``: --freq, or --downlink-freq with
--lnb-lo; --gain, --ppm, --bias-tee, --sample-rate.

The frequency plan of a satellite receiver: the dish's LNB mixes the Ku-band downlink (10.7-12.75
GHz) down with its local oscillator (a universal LNB: 9.75 GHz for the low band, 10.6 GHz for the
high band) to an IF of 950-2150 MHz on the coax, which the RTL-SDR tunes (24-1766 MHz for an R820T
tuner, 52-2200 MHz for an E4000): IF = downlink - LO.
"""

from __future__ import annotations

import argparse
import math

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.settings import DEFAULT_SAMPLE_RATE_HZ, SAMPLE_RATE_RANGE_HZ, Tuning

# What an RTL-SDR can tune, whichever its tuner: 24 MHz (R820T/R828D) to 2200 MHz (E4000). The
# tuner's own range (TUNER_RANGES_HZ in rtltcp) is checked once the device or server says which
# it is; other radios (soapy://) are checked by their drivers.
RTL_SDR_RANGE_HZ = (24e6, 2200e6)
RTL_SOURCES = ("rtl_tcp", "rtlsdr")
UNIVERSAL_LNB_LO_HZ = (9.75e9, 10.6e9)
LNB_LO_RANGE_HZ = (1e9, 30e9)
GAIN_RANGE_DB = (0.0, 60.0)
PPM_RANGE = (-1000, 1000)

TUNING_OPTIONS = ("freq", "downlink_freq", "lnb_lo", "gain", "ppm", "bias_tee")
FREQUENCY_FORMS = (("freq",), ("downlink_freq", "lnb_lo"))  # two ways to give the tuner frequency


def add_tuning_arguments(parser: argparse.ArgumentParser, sample_rate: bool = True) -> None:
    """The options, in a group of their own. ``sample_rate``: add --sample-rate too (rx has its own,
    which also serves raw recordings)."""
    group = parser.add_argument_group("radio (live sources)")
    group.add_argument("--freq", type=_hz, metavar="HZ", help="tuner frequency in Hz (the LNB's IF, e.g. 1316.9e6)")
    group.add_argument("--downlink-freq", type=_hz, metavar="HZ",
                       help="the satellite downlink in Hz, with --lnb-lo: the tuner is set to downlink - LO")
    group.add_argument("--lnb-lo", type=_hz, metavar="HZ",
                       help="the LNB's local oscillator in Hz (universal Ku LNB: 9.75e9 low band, 10.6e9 high band)")
    group.add_argument("--gain", metavar="DB|auto", default=None,
                       help="tuner gain in dB, or auto (the default: the tuner's AGC)")
    group.add_argument("--ppm", type=_integer, default=0, metavar="PPM", help="crystal frequency correction in ppm (default 0)")
    group.add_argument("--bias-tee", action="store_true",
                       help="switch on the dongle's 4.5 V bias tee (RTL-SDR Blog dongles; rtl_tcp command 0x0e): enough "
                            "for an LNA or an LNB that accepts 4.5 V, not for a universal LNB (13/18 V: use a power "
                            "inserter or a satellite receiver's supply)")
    if sample_rate:
        group.add_argument("--sample-rate", type=float, default=None, metavar="HZ",
                           help=f"samples/s (default {DEFAULT_SAMPLE_RATE_HZ:g})")


def tuning_given(args: argparse.Namespace) -> list[str]:
    """The radio options the user set (for refusing them where no radio is read)."""
    defaults = {"ppm": 0, "bias_tee": False}
    return [f"--{name.replace('_', '-')}" for name in TUNING_OPTIONS
            if getattr(args, name, None) not in (None, defaults.get(name))]


def refuse_tuning_for_stdin(args: argparse.Namespace, command: str) -> None:
    """Standard input brings samples only: the radio options would be silently ignored."""
    given = tuning_given(args)
    if given:
        raise ReceiverError(f"{given[0]} is for a radio (rtl_tcp://, rtlsdr://, soapy://); with standard input the "
                            f"program writing it is tuned (e.g. rtl_sdr -f HZ -g DB -s RATE - | chaincast {command} - ...)")


def tuning_from_args(args: argparse.Namespace, source_kind: str = "") -> Tuning:
    """Checked ``Tuning``; ReceiverError naming the option otherwise. ``source_kind``: a
    ``SourceSpec.kind``; the frequency is checked against an RTL-SDR's range for rtl_tcp and rtlsdr."""
    rate = DEFAULT_SAMPLE_RATE_HZ if getattr(args, "sample_rate", None) is None else args.sample_rate
    low, high = SAMPLE_RATE_RANGE_HZ
    if not (math.isfinite(rate) and low <= rate <= high):
        raise ReceiverError(f"--sample-rate {rate:g}: must be {low:g} to {high:g} samples/s")
    frequency = args.freq
    if args.downlink_freq is not None or args.lnb_lo is not None:
        if frequency is not None:
            raise ReceiverError("give --freq, or --downlink-freq with --lnb-lo, not both")
        if args.downlink_freq is None or args.lnb_lo is None:
            raise ReceiverError("--downlink-freq and --lnb-lo go together (the tuner is set to their difference)")
        if not LNB_LO_RANGE_HZ[0] <= args.lnb_lo <= LNB_LO_RANGE_HZ[1]:
            raise ReceiverError(f"--lnb-lo {args.lnb_lo:g}: an LNB's oscillator is {LNB_LO_RANGE_HZ[0]:g} to "
                                f"{LNB_LO_RANGE_HZ[1]:g} Hz (universal Ku LNB: 9.75e9 or 10.6e9)")
        frequency = args.downlink_freq - args.lnb_lo
        if frequency <= 0:
            raise ReceiverError(f"--downlink-freq {args.downlink_freq:g} is below --lnb-lo {args.lnb_lo:g}: "
                                f"no IF (a universal LNB takes 10.7-11.7 GHz on 9.75e9, 11.7-12.75 GHz on 10.6e9)")
    if (source_kind in RTL_SOURCES and frequency is not None
            and not RTL_SDR_RANGE_HZ[0] <= frequency <= RTL_SDR_RANGE_HZ[1]):
        origin = "--freq" if args.freq is not None else "downlink - LO"
        raise ReceiverError(f"{origin} {frequency:.0f} Hz is outside an RTL-SDR's {RTL_SDR_RANGE_HZ[0] / 1e6:g}-"
                            f"{RTL_SDR_RANGE_HZ[1] / 1e6:g} MHz")
    gain = parse_gain(args.gain)
    if not PPM_RANGE[0] <= args.ppm <= PPM_RANGE[1]:
        raise ReceiverError(f"--ppm {args.ppm}: must be {PPM_RANGE[0]} to {PPM_RANGE[1]}")
    return Tuning(sample_rate_hz=float(rate), frequency_hz=frequency, gain_db=gain, ppm=args.ppm, bias_tee=args.bias_tee,
                  downlink_hz=args.downlink_freq, lnb_lo_hz=args.lnb_lo)


def parse_gain(text) -> float | None:
    if text is None or str(text).strip().lower() == "auto":
        return None
    try:
        gain = float(text)
    except (TypeError, ValueError):
        raise ReceiverError(f"--gain {text!r}: a number of dB or auto") from None
    if not (math.isfinite(gain) and GAIN_RANGE_DB[0] <= gain <= GAIN_RANGE_DB[1]):
        raise ReceiverError(f"--gain {text}: must be {GAIN_RANGE_DB[0]:g} to {GAIN_RANGE_DB[1]:g} dB, or auto")
    return gain


def _hz(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a frequency in Hz") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a positive finite number of Hz")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
