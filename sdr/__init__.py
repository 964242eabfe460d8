"""chaincast.sdr: the pure-NumPy/numba modem library (arrays in, arrays out).

Nothing here knows about Bitcoin, files, sockets or SigMF; it may import only
:mod:`chaincast.fec.wire.profile` and :mod:`chaincast.fec.wire.plheader` for frame constants.

Modules
-------
``rrc``        root-raised-cosine pulse at any (non-integer) samples per symbol
``modem``      QPSK map / LLR / hard decisions, pi/2-BPSK
``scrambler``  PRBS 1 + x^14 + x^15 (restarted every PL frame by the FEC pipeline)
``plframe``    PL frame: SOF, RM(1,7)-coded PLS header, slots, pilot blocks
``tx``         streaming ``Modulator`` (pulse shaping straight to the output sample rate)
``channel``    streaming ``Channel`` (clock offset, CFO, phase noise, I/Q imbalance, DC, AWGN),
               RTL-SDR cu8 quantisation helpers
``interp``     the shared fractional-delay FIR kernel used by ``tx`` and ``channel``
``timing``     Gardner timing recovery kernel (Rice ch. 8)
``acquisition`` coarse carrier offset from the 4th-power line, and the frequency scan
``frontend``   DC removal, NCO mixer, matched filter and timing: samples -> symbols
``framesync``  SOF search, flywheel and header-less frames on the symbol stream
``header``     the SOF's coherent check and the PLS decode
``tracking``   per-frame carrier phase / frequency / amplitude / N0 tracking, fades, erasures
``rx``         streaming ``Demodulator`` (the stages composed) -> ``PLFrame`` results

Project-wide conventions
------------------------
* Bits are ``uint8`` 0/1, MSB-first within bytes (``np.unpackbits`` order).
* LLR = log P(b=0) / P(b=1) as ``float32``: positive means bit 0.
* Symbols have unit average energy, Es = 1.
* QPSK Gray map: bit pair (b0, b1) -> ((1 - 2*b0) + 1j*(1 - 2*b1)) / sqrt(2).
* ``noise_var`` is N0 per complex symbol, so Es/N0 = 1 / noise_var; QPSK LLRs are
  b0: 2*sqrt(2)*Re(y)/N0, b1: 2*sqrt(2)*Im(y)/N0.
* Sample streams are ``complex64``; a transmitted signal has mean power 1.0 per sample, so at
  ``sps = sample_rate_hz / symbol_rate_hz`` samples per symbol the noise power per sample for a
  given Es/N0 is ``sps / 10**(esn0_db / 10)``.
* Units are in names (``sample_rate_hz``, ``cfo_hz``); shapes/dtypes are in docstrings.
* Streaming objects (``process()`` / ``flush()``) keep state between calls and give the same
  output as one call on the concatenated input.
* Decoders return results and never raise on bad signal data.
"""
