"""Byte-level wire formats shared by the uplink and the receiver: the one place both import.

- :mod:`.profile`    profiles and MODCODs (numbers both sides agree on)
- :mod:`.plheader`   the 8-bit PLS field of a physical-layer frame header
- :mod:`.linkframe`  the data field of one link frame (packets + CRC-32C), before the outer code
- :mod:`.packet`     one RaptorQ symbol of one object, with its header
- :mod:`.objects`    object types and the object encoding (payload + SHA-256 trailer)
- :mod:`.envelope`   a file or message signed by the broadcaster (the payload of a FILE object)
- :mod:`.bundle`     consecutive small blocks as one object (the payload of a BLOCK_BUNDLE object)
- :mod:`.chainindex` the chain index object's payload (recent blocks, what is on the air)
- :mod:`.headers`    the headers object's payload (a run of consecutive block headers)

Every format is a frozen dataclass with ``pack()`` and a classmethod ``unpack()`` that rejects
short input, trailing bytes, unknown versions and bad checksums with :class:`WireError`.
"""

from chaincast.fec.wire.errors import WireError

__all__ = ["WireError"]
