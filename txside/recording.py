"""SigMF recordings on disk (adapter): a streaming writer and a chunked reader for the channel tool."""

from __future__ import annotations

import math
import os
import stat
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


# A .sigmf-meta is a few hundred bytes of JSON; anything far larger is not one (and is not read).
MAX_META_BYTES = 1 << 20


def sigmf_paths(path: str | Path) -> tuple[Path, Path]:
    """``x.sigmf-meta`` / ``x.sigmf-data`` / ``x`` -> (meta path, data path). Any other suffix is
    kept: ``x.cu8`` -> ``x.cu8.sigmf-meta``, never a file of another name such as ``x.sigmf-meta``."""
    path = Path(path)
    if path.suffix in (".sigmf-meta", ".sigmf-data"):
        path = path.with_suffix("")
    return path.with_name(path.name + ".sigmf-meta"), path.with_name(path.name + ".sigmf-data")


class SigmfWriter:
    """Writes IQ chunks as they come; the metadata file is written by ``close()``.

    ``atomic``: the samples go to a hidden file beside the data file, renamed over it by
    ``close()``, so a recording that fails half-way (an exception inside ``with``) leaves
    nothing behind and an older recording of the same name stays whole."""

    def __init__(self, path: str | Path, info: RecordingInfo, cu8_rms_lsb: float = 40.0, *, atomic: bool = False):
        """``cu8_rms_lsb``: 8-bit code RMS of a unit-power input (what an ideal AGC would set)."""
        self.meta_path, self.data_path = sigmf_paths(path)
        self.info = info
        self.cu8_rms_lsb = cu8_rms_lsb
        self.samples_written = 0
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        self._writing = self.data_path.with_name(f".{self.data_path.name}.partial") if atomic else self.data_path
        self._file = open(self._writing, "wb")

    def write(self, iq: np.ndarray) -> None:
        if self.info.datatype == "cu8":
            self._file.write(quantize_cu8(iq, rms_lsb=self.cu8_rms_lsb).tobytes())
        else:
            self._file.write(np.asarray(iq, dtype="<c8").tobytes())
        self.samples_written += len(iq)

    def close(self) -> None:
        self._file.close()
        if self._writing != self.data_path:
            os.replace(self._writing, self.data_path)
        meta = SigMFFile(data_file=str(self.data_path), global_info=self.info.global_fields(), skip_checksum=True)
        capture = {} if self.info.frequency_hz is None else {sigmf.FREQUENCY_KEY: self.info.frequency_hz}
        meta.add_capture(0, metadata=capture)
        meta.tofile(str(self.meta_path), toarchive=False, overwrite=True)  # the data file was just rewritten too

    def abort(self) -> None:
        """Stop without a recording: the file being written is removed (with ``atomic``, only the
        hidden one, so an older recording of the same name stays)."""
        self._file.close()
        self._writing.unlink(missing_ok=True)

    def __enter__(self) -> "SigmfWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.close()
        else:
            self.abort()


def read_sigmf_info(path: str | Path) -> RecordingInfo:
    """The metadata of a recording, after checking both files: the metadata is a regular file of
    at most ``MAX_META_BYTES`` that parses, with a finite sample rate (and symbol rate, if given);
    the data file is a non-empty regular file of whole samples. RecordingError otherwise."""
    meta_path, data_path = sigmf_paths(path)
    _regular(meta_path, "no such recording", MAX_META_BYTES)
    try:
        info = parse_sigmf_meta(meta_path.read_text())
    except OSError as error:
        raise RecordingError(f"{meta_path}: {error.strerror or error}") from None
    except UnicodeDecodeError:
        raise RecordingError(f"{meta_path}: not text, so not SigMF metadata") from None
    except WireError as bad:
        raise RecordingError(f"{meta_path}: {bad}") from None
    if not math.isfinite(info.sample_rate_hz):
        raise RecordingError(f"{meta_path}: sample rate {info.sample_rate_hz} is not a finite number")
    if info.symbol_rate_hz is not None and not (math.isfinite(info.symbol_rate_hz) and info.symbol_rate_hz > 0):
        raise RecordingError(f"{meta_path}: symbol rate {info.symbol_rate_hz} is not a positive number")
    size = _regular(data_path, "data file missing")
    if size % info.bytes_per_sample:
        raise RecordingError(f"{data_path}: {size} bytes, not a whole number of {info.datatype} samples "
                             f"({info.bytes_per_sample} bytes each)")
    return info


def _regular(path: Path, missing: str, max_bytes: int | None = None) -> int:
    """Size of ``path``, a non-empty readable regular file (of at most ``max_bytes``); RecordingError otherwise."""
    try:
        st = path.stat()
    except FileNotFoundError:
        raise RecordingError(f"{path}: {missing}") from None
    except OSError as error:
        raise RecordingError(f"{path}: {error.strerror or error}") from None
    if stat.S_ISDIR(st.st_mode):
        raise RecordingError(f"{path}: is a directory, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise RecordingError(f"{path}: not a regular file")
    if not os.access(path, os.R_OK):
        raise RecordingError(f"{path}: cannot be read (permission denied)")
    if st.st_size == 0:
        raise RecordingError(f"{path}: empty file")
    if max_bytes is not None and st.st_size > max_bytes:
        raise RecordingError(f"{path}: {st.st_size} bytes, too big for SigMF metadata")
    return st.st_size


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
