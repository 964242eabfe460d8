"""Any radio SoapySDR drives (adapter): ``soapy://driver=rtlsdr``, ``soapy://driver=airspy``, ...

SoapySDR's Python bindings are not on PyPI; Debian's ``python3-soapysdr`` installs them for the
system Python 3.11. They read buffers through the array interface and work with NumPy 2, so when
they are not importable from the environment, the system's copy is loaded from
``/usr/lib/python3/dist-packages`` (that module alone: the rest of that folder is not put on the
path). Samples are read as complex64 (``CF32``). Kept thin: with no radio here only the
``driver=null`` device can be opened, which gives no samples.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np

from chaincast.rxside.errors import ReceiverError
from chaincast.rxside.live import SourceLost, Tuning

SYSTEM_MODULE = "/usr/lib/python3/dist-packages/SoapySDR.py"
READ_SAMPLES = 1 << 16
READ_TIMEOUT_US = 500_000
MAX_TIMEOUTS = 10  # consecutive read timeouts (5 s without a sample) before the device counts as lost


def load_soapysdr():
    """The SoapySDR module, or ReceiverError saying what is missing."""
    try:
        import SoapySDR
        return SoapySDR
    except ImportError:
        pass
    folder = Path(SYSTEM_MODULE).parent
    extensions = sorted(folder.glob(f"_SoapySDR.cpython-{sys.version_info.major}{sys.version_info.minor}-*.so"))
    if not Path(SYSTEM_MODULE).is_file() or not extensions:
        raise ReceiverError("soapy://: SoapySDR's Python bindings are not installed "
                            "(Debian: apt install python3-soapysdr, plus the SoapySDR module for your radio)")
    try:
        for name, path in (("_SoapySDR", extensions[0]), ("SoapySDR", Path(SYSTEM_MODULE))):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[name] = module
            spec.loader.exec_module(module)
    except (ImportError, OSError) as bad:
        sys.modules.pop("SoapySDR", None)
        sys.modules.pop("_SoapySDR", None)
        raise ReceiverError(f"soapy://: SoapySDR's Python bindings do not load here ({bad}); "
                            f"Debian: apt install python3-soapysdr") from None
    return module


class SoapySource:
    datatype = "cf32_le"
    reopens = True

    def __init__(self, args: str, tuning: Tuning):
        self.soapy = load_soapysdr()
        self.args = args
        self.name = f"soapy://{args}"
        self.tuning = tuning
        self.sample_rate_hz = tuning.sample_rate_hz
        self._device = None
        self._stream = None
        self._buffer = np.zeros(READ_SAMPLES, np.complex64)
        self.driver = ""
        self.loss_events = 0  # SOAPY_SDR_OVERFLOW reports (LiveSource's loss counters; drivers do not say how many)
        self.samples_lost = 0

    def open(self) -> None:
        soapy = self.soapy
        rx = soapy.SOAPY_SDR_RX
        try:
            device = soapy.Device(self.args)
        except Exception as bad:  # the bindings raise RuntimeError for "no match"
            raise SourceLost(f"no SoapySDR device matches {self.args!r} ({bad})") from None
        try:
            device.setSampleRate(rx, 0, self.tuning.sample_rate_hz)
            if self.tuning.frequency_hz is not None:
                device.setFrequency(rx, 0, self.tuning.frequency_hz)
            if self.tuning.ppm:
                device.setFrequencyCorrection(rx, 0, float(self.tuning.ppm))
            if self.tuning.gain_db is None:
                device.setGainMode(rx, 0, True)
            else:
                device.setGainMode(rx, 0, False)
                device.setGain(rx, 0, self.tuning.gain_db)
            if self.tuning.bias_tee:
                device.writeSetting("biastee", "true")
            stream = device.setupStream(rx, soapy.SOAPY_SDR_CF32)
            device.activateStream(stream)
        except Exception as bad:
            raise SourceLost(f"SoapySDR settings refused ({bad})") from None
        self.driver = str(device.getDriverKey())
        self._device, self._stream = device, stream

    def read(self) -> bytes:
        timeouts = 0
        while self._device is not None:
            result = self._device.readStream(self._stream, [self._buffer], READ_SAMPLES, timeoutUs=READ_TIMEOUT_US)
            if result.ret > 0:
                return self._buffer[:result.ret].tobytes()
            if result.ret == self.soapy.SOAPY_SDR_OVERFLOW:
                self.loss_events += 1  # the driver lost samples: LiveInput counts it and marks a gap
                continue
            timeouts += 1
            if result.ret != self.soapy.SOAPY_SDR_TIMEOUT or timeouts >= MAX_TIMEOUTS:
                raise SourceLost(f"readStream: {self.soapy.errToStr(result.ret)}")
        return b""

    def close(self) -> None:
        device, self._device = self._device, None
        if device is None:
            return
        try:
            device.deactivateStream(self._stream)
            device.closeStream(self._stream)
        except Exception:
            pass  # gone already

    def capture(self) -> dict:
        return {"device": f"SoapySDR {self.driver or self.args}", **self.tuning.capture()}
