"""IQ sources (adapter): SigMF recordings and raw cu8/cf32 files, read in chunks.

Every source yields ``complex64[n]`` chunks at ``info.sample_rate_hz``, the same chunk type a live
RTL-SDR source will yield, and never holds the whole file in memory.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from chaincast.fec.wire.errors import WireError
from chaincast.fec.wire.recording import RAW_SUFFIXES, RecordingInfo, parse_sigmf_meta
from chaincast.rxside.errors import ReceiverError
from chaincast.sdr.channel import cu8_to_complex


CF32_CLIP = 1e6


class FileSource:
    def __init__(self, path: str | Path, sample_rate_hz: float | None = None, chunk_samples: int = 1 << 19,
                 datatype: str | None = None):
        """``datatype`` ("cu8" or "cf32_le") reads a raw file whatever its suffix (rtl_sdr writes .bin)."""
        path = Path(path)
        self.chunk_samples = chunk_samples
        if path.suffix in (".sigmf-meta", ".sigmf-data", ".sigmf"):
            if datatype is not None:
                raise ReceiverError(f"{path}: --datatype is for raw files; SigMF metadata names its own")
            self.info, self.data_path = _open_sigmf(path.with_suffix(""))
        elif path.suffix in RAW_SUFFIXES or datatype is not None:
            if sample_rate_hz is None:
                raise ReceiverError(f"{path}: a raw recording needs --sample-rate")
            if not path.is_file():
                raise ReceiverError(f"{path}: no such file")
            try:
                self.info = RecordingInfo(sample_rate_hz=sample_rate_hz, datatype=datatype or RAW_SUFFIXES[path.suffix])
            except WireError as bad:
                raise ReceiverError(f"{path}: {bad}") from None
            self.data_path = path
        else:
            raise ReceiverError(f"{path}: unknown recording type (use .sigmf-meta, .cu8, .cf32, or --datatype for a raw file)")
        if sample_rate_hz is not None and path.suffix.startswith(".sigmf") and sample_rate_hz != self.info.sample_rate_hz:
            raise ReceiverError(f"{path}: --sample-rate {sample_rate_hz:g} contradicts the metadata's {self.info.sample_rate_hz:g}")
        self.total_samples = self.data_path.stat().st_size // self.info.bytes_per_sample

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
                raw = raw[: len(raw) - len(raw) % self.info.bytes_per_sample]  # a truncated tail is dropped
                if not raw:
                    break
                if self.info.datatype == "cu8":
                    yield cu8_to_complex(np.frombuffer(raw, np.uint8))
                else:
                    chunk = np.frombuffer(raw, "<c8").astype(np.complex64)
                    # garbage floats (NaN, inf, 1e38) would poison every filter state downstream;
                    # real streams are many orders of magnitude below the clip level
                    parts = np.nan_to_num(chunk.view(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
                    yield np.clip(parts, -CF32_CLIP, CF32_CLIP).view(np.complex64)


def _open_sigmf(base: Path) -> tuple[RecordingInfo, Path]:
    meta_path, data_path = base.with_suffix(".sigmf-meta"), base.with_suffix(".sigmf-data")
    try:
        info = parse_sigmf_meta(meta_path.read_text())
    except FileNotFoundError:
        raise ReceiverError(f"{meta_path}: no such file") from None
    except UnicodeDecodeError:
        raise ReceiverError(f"{meta_path}: not text, so not SigMF metadata") from None
    except WireError as bad:
        raise ReceiverError(f"{meta_path}: {bad}") from None
    if not data_path.is_file():
        raise ReceiverError(f"{data_path}: data file missing")
    return info, data_path
