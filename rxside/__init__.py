"""chaincast.rxside: the home user's receiver (folder ``rxside/``).

IQ chunks (source) -> PL frames (chaincast.sdr.rx) -> link frames and packets (linkdecode)
-> objects (assembler) -> blocks validated by libbitcoinkernel (kernel) -> optionally on to a
running bitcoind or a folder (sinks, bitcoind). Never imports chaincast.txside.
"""
