"""IQ sources (adapter): SigMF recordings and raw cu8/cf32 files, read in chunks.

Every source yields ``complex64[n]`` chunks at ``info.sample_rate_hz``, the same chunk type a live
RTL-SDR source will yield, and never holds the whole file in memory.

A recording is checked when it is opened, before the receiver writes anything: the metadata is a
readable regular file of at most ``MAX_META_BYTES`` that parses as SigMF; the data file is a
readable regular file holding at least one sample and a whole number of them; the sample rate is
within ``SAMPLE_RATE_RANGE_HZ``. ``ReceiverError`` names the file and what is wrong.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.recording import BYTES_PER_SAMPLE, RAW_SUFFIXES, RecordingInfo, parse_sigmf_meta
from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.settings import SAMPLE_RATE_RANGE_HZ
from chaincast.sdr.channel import cu8_to_complex


CF32_CLIP = 1e6
MAX_META_BYTES = 16 << 20  # a .sigmf-meta is a few hundred bytes of JSON; one this large is not read
SIGMF_SUFFIXES = (".sigmf-meta", ".sigmf-data", ".sigmf")


class FileSource:
    def __init__(self, path: str | Path, sample_rate_hz: float | None = None, chunk_samples: int = 1 << 19,
                 datatype: str | None = None):
        """``meta_path``: the SigMF metadata file (None for a raw file); ``data_path``: the samples.
        ``sample_rate_hz`` in samples/s: needed for a raw file; for SigMF it must equal the
        metadata's. ``datatype`` ("cu8" or "cf32_le") reads a raw file whatever its suffix (rtl_sdr
        writes .bin); it must agree with a .cu8/.cf32/.cfile suffix. ``ReceiverError`` for anything
        unusable (see the module docstring)."""
        path = Path(path)
        if not isinstance(chunk_samples, int) or chunk_samples < 1:
            raise ValueError(f"chunk_samples must be a positive integer, got {chunk_samples!r}")
        self.chunk_samples = chunk_samples
        if datatype is not None and datatype not in BYTES_PER_SAMPLE:
            raise ReceiverError(f"--datatype {datatype!r}: supported: {', '.join(BYTES_PER_SAMPLE)}")
        if sample_rate_hz is not None and not (math.isfinite(sample_rate_hz) and sample_rate_hz > 0):
            raise ReceiverError(f"--sample-rate {sample_rate_hz:g}: must be a positive number of samples/s")
        if path.suffix in SIGMF_SUFFIXES:
            if datatype is not None:
                raise ReceiverError(f"{path}: --datatype is for raw files; SigMF metadata names its own")
            self.meta_path = path.with_suffix(".sigmf-meta")
            self.info, self.data_path = _open_sigmf(path)
            rate_origin = f"{self.meta_path}: core:sample_rate"
            if sample_rate_hz is not None and sample_rate_hz != self.info.sample_rate_hz:
                raise ReceiverError(f"{path}: --sample-rate {sample_rate_hz:g} contradicts the metadata's "
                                    f"{self.info.sample_rate_hz:g}")
        elif path.suffix in RAW_SUFFIXES or datatype is not None:
            implied = RAW_SUFFIXES.get(path.suffix)
            if datatype is not None and implied is not None and datatype != implied:
                raise ReceiverError(f"{path}: --datatype {datatype} contradicts the {path.suffix} suffix ({implied})")
            if sample_rate_hz is None:
                raise ReceiverError(f"{path}: a raw recording needs --sample-rate")
            self.info = RecordingInfo(sample_rate_hz=sample_rate_hz, datatype=datatype or implied)
            self.meta_path, self.data_path = None, path
            rate_origin = "--sample-rate"
        else:
            raise ReceiverError(f"{path}: unknown recording type (use .sigmf-meta, .cu8, .cf32, or --datatype for a raw file)")
        low, high = SAMPLE_RATE_RANGE_HZ
        if not low <= self.info.sample_rate_hz <= high:
            raise ReceiverError(f"{rate_origin} {self.info.sample_rate_hz:g} samples/s is outside what the receiver "
                                f"takes ({low:g} to {high:g})")
        size = _regular_file(self.data_path, "recording", readable=True)
        if size == 0:
            raise ReceiverError(f"{self.data_path}: empty (0 bytes), no samples to receive")
        if size % self.info.bytes_per_sample:
            raise ReceiverError(f"{self.data_path}: {size} bytes is not a whole number of {self.info.datatype} "
                                f"samples ({self.info.bytes_per_sample} bytes each): wrong datatype, or cut short?")
        self.total_samples = size // self.info.bytes_per_sample

    @property
    def duration_s(self) -> float:
        return self.total_samples / self.info.sample_rate_hz

    @property
    def key(self) -> str:
        """Names this recording in the receiver's state (path and size: a rewritten file starts over)."""
        return f"{self.data_path.resolve()}:{self.data_path.stat().st_size}"

    def chunks(self, start_sample: int = 0) -> Iterator[np.ndarray]:
        """Chunks from ``start_sample`` on (a resumed receiver skips what it has committed)."""
        step = self.chunk_samples * self.info.bytes_per_sample
        with open(self.data_path, "rb") as f:
            f.seek(min(max(start_sample, 0), self.total_samples) * self.info.bytes_per_sample)
            while raw := f.read(step):
                raw = raw[: len(raw) - len(raw) % self.info.bytes_per_sample]  # a file that grew by a partial sample
                if not raw:
                    break
                yield raw_to_complex(raw, self.info.datatype)


def raw_to_complex(raw: bytes, datatype: str) -> np.ndarray:
    """Whole samples of ``datatype`` ("cu8" or "cf32_le") -> complex64[n]."""
    if datatype == "cu8":
        return cu8_to_complex(np.frombuffer(raw, np.uint8))
    chunk = np.frombuffer(raw, "<c8").astype(np.complex64)
    # garbage floats (NaN, inf, 1e38) would poison every filter state downstream;
    # real streams are many orders of magnitude below the clip level
    parts = np.nan_to_num(chunk.view(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    return np.clip(parts, -CF32_CLIP, CF32_CLIP).view(np.complex64)


def _regular_file(path: Path, what: str, readable: bool = False) -> int:
    """Size in bytes of ``path``, which must be a regular file (readable, if asked); ReceiverError
    naming it otherwise."""
    try:
        info = path.stat()
    except FileNotFoundError:
        kind = "a broken symbolic link" if path.is_symlink() else "no such file"
        raise ReceiverError(f"{path}: {kind}") from None
    except OSError as bad:
        raise ReceiverError(f"{path}: cannot read ({bad.strerror or bad})") from None
    if stat.S_ISDIR(info.st_mode):
        raise ReceiverError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(info.st_mode):
        raise ReceiverError(f"{path}: not a regular file, so not a {what}")
    if readable:
        try:
            os.close(os.open(path, os.O_RDONLY))
        except OSError as bad:
            raise ReceiverError(f"{path}: cannot read ({bad.strerror or bad})") from None
    return info.st_size


def _open_sigmf(path: Path) -> tuple[RecordingInfo, Path]:
    meta_path, data_path = path.with_suffix(".sigmf-meta"), path.with_suffix(".sigmf-data")  # "a.b.sigmf-meta" keeps ".b"
    if path.suffix == ".sigmf" and path.is_file() and not meta_path.exists():
        raise ReceiverError(f"{path}: SigMF archives are not read; extract it (tar xf) and give its .sigmf-meta")
    size = _regular_file(meta_path, "SigMF metadata file")
    if size > MAX_META_BYTES:
        raise ReceiverError(f"{meta_path}: {size} bytes, more than the {MAX_META_BYTES >> 20} MiB a SigMF metadata "
                            f"file may have here")
    try:
        with open(meta_path, "rb") as f:
            raw = f.read(MAX_META_BYTES + 1)  # bounded, whatever the size said a moment ago
    except OSError as bad:
        raise ReceiverError(f"{meta_path}: cannot read ({bad.strerror or bad})") from None
    if len(raw) > MAX_META_BYTES:
        raise ReceiverError(f"{meta_path}: more than the {MAX_META_BYTES >> 20} MiB a SigMF metadata file may have here")
    try:
        info = parse_sigmf_meta(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ReceiverError(f"{meta_path}: not UTF-8 text, so not SigMF metadata") from None
    except WireError as bad:
        raise ReceiverError(f"{meta_path}: {bad}") from None
    if not data_path.exists() and not data_path.is_symlink():
        raise ReceiverError(f"{data_path}: data file missing")
    return info, data_path
