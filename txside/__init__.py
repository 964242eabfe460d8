"""chaincast.txside: the broadcaster's uplink (folder ``txside/``).

blocks -> objects (chaincast.fec.wire.objects) -> RaptorQ packets per carousel pass (packetizer)
-> link frames -> coded, scrambled, mapped PL frames -> IQ (uplink) -> SigMF file (recording).
Never imports chaincast.rxside.
"""
