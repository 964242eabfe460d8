"""chaincast.fec: the coding library (folder ``fec/``). Pure: bytes and arrays in, bytes and arrays out.

Conventions used by every module here and by the modem (chaincast.sdr):

- Bits are ``uint8`` arrays of 0/1. Bytes are unpacked most-significant bit first
  (``np.unpackbits`` order), and packed the same way.
- LLRs are ``float32`` with ``LLR = log P(b=0) / P(b=1)``: positive means bit 0.
- Multi-byte integers in our wire formats are big-endian (network order); Bitcoin data inside
  objects keeps Bitcoin's own little-endian serialisation and is opaque here.
- Batched entry points take ``(batch, n)`` arrays; 1-D input is treated as a batch of one.

Layers: ``fountain`` (RaptorQ object <-> symbols), ``outer`` (Reed-Solomon), ``convolutional``
(the placeholder inner code), ``crc`` (CRC-32C), and ``wire`` (the byte-level formats both the
uplink and the receiver use: object, packet, link frame, PLS field, profiles).
"""
