"""SigMF recordings on disk (adapter): a streaming writer and a chunked reader for the channel tool."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import sigmf
from sigmf import SigMFFile

from chaincast.fec.wire.recording import RecordingInfo, parse_sigmf_meta
from chaincast.fec.wire.errors import WireError
from chaincast.sdr.channel import cu8_to_complex, quantize_cu8


class RecordingError(Exception):
    """A recording that cannot be read or written; the message is one line for the user."""


def sigmf_paths(path: str | Path) -> tuple[Path, Path]:
    """``x.sigmf-meta`` / ``x.sigmf-data`` / ``x`` -> (meta path, data path)."""
    path = Path(path)
    if path.suffix in (".sigmf-meta", ".sigmf-data"):
        path = path.with_suffix("")
    return path.with_suffix(".sigmf-meta"), path.with_suffix(".sigmf-data")


class SigmfWriter:
    """Writes IQ chunks as they come; the metadata file is written by ``close()``."""

    def __init__(self, path: str | Path, info: RecordingInfo, cu8_rms_lsb: float = 40.0):
        """``cu8_rms_lsb``: 8-bit code RMS of a unit-power input (what an ideal AGC would set)."""
        self.meta_path, self.data_path = sigmf_paths(path)
        self.info = info
        self.cu8_rms_lsb = cu8_rms_lsb
        self.samples_written = 0
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.data_path, "wb")

    def write(self, iq: np.ndarray) -> None:
        if self.info.datatype == "cu8":
            self._file.write(quantize_cu8(iq, rms_lsb=self.cu8_rms_lsb).tobytes())
        else:
            self._file.write(np.asarray(iq, dtype="<c8").tobytes())
        self.samples_written += len(iq)

    def close(self) -> None:
        self._file.close()
        meta = SigMFFile(data_file=str(self.data_path), global_info=self.info.global_fields(), skip_checksum=True)
        capture = {} if self.info.frequency_hz is None else {sigmf.FREQUENCY_KEY: self.info.frequency_hz}
        meta.add_capture(0, metadata=capture)
        meta.tofile(str(self.meta_path), toarchive=False, overwrite=True)  # the data file was just rewritten too

    def __enter__(self) -> "SigmfWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_sigmf_info(path: str | Path) -> RecordingInfo:
    meta_path, data_path = sigmf_paths(path)
    try:
        info = parse_sigmf_meta(meta_path.read_text())
    except FileNotFoundError:
        raise RecordingError(f"{meta_path}: no such recording") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{meta_path}: not text, so not SigMF metadata") from None
    except WireError as bad:
        raise RecordingError(f"{meta_path}: {bad}") from None
    if not data_path.exists():
        raise RecordingError(f"{data_path}: data file missing")
    return info


def read_sigmf_chunks(path: str | Path, chunk_samples: int = 1 << 20) -> Iterator[np.ndarray]:
    """``complex64`` chunks of a SigMF recording, never the whole file at once."""
    info = read_sigmf_info(path)
    _, data_path = sigmf_paths(path)
    with open(data_path, "rb") as f:
        while chunk := f.read(chunk_samples * info.bytes_per_sample):
            usable = len(chunk) - len(chunk) % info.bytes_per_sample
            if info.datatype == "cu8":
                yield cu8_to_complex(np.frombuffer(chunk[:usable], np.uint8))
            else:
                yield np.frombuffer(chunk[:usable], "<c8").astype(np.complex64)
