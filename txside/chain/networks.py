"""Bitcoin networks: P2P/blk-file magic bytes and genesis block hashes (from Core's chainparams)."""

from chaincast.txside.chain.errors import ChainDataError

# Network names follow Core's -chain= values, except "testnet" for testnet3.
MAIN, TESTNET, TESTNET4, SIGNET, REGTEST = "main", "testnet", "testnet4", "signet", "regtest"

# pchMessageStart: the 4 bytes that start every blk*.dat record (as they appear in the file).
MAGIC_BY_NETWORK: dict[str, bytes] = {
    MAIN: bytes.fromhex("f9beb4d9"),
    TESTNET: bytes.fromhex("0b110907"),
    TESTNET4: bytes.fromhex("1c163f28"),
    SIGNET: bytes.fromhex("0a03cf40"),  # default signet; custom signets derive their own magic
    REGTEST: bytes.fromhex("fabfb5da"),
}
NETWORK_BY_MAGIC: dict[bytes, str] = {magic: net for net, magic in MAGIC_BY_NETWORK.items()}

# Genesis block hashes in display (reversed) order.
GENESIS_HASH_HEX: dict[str, str] = {
    MAIN: "000000000019d6689c085ae165831e934ff763ae46a2a6c172b3f1b60a8ce26f",
    TESTNET: "000000000933ea01ad0ee984209779baaec3ced90fa3f408719526f8d77f4943",
    TESTNET4: "00000000da84f2bafbbc53dee25a72ae507ff4914b867c565be350b0da8bf043",
    SIGNET: "00000008819873e925422c1ff0f99f7cc9bbb232af63a077a480a3633bee1ef6",
    REGTEST: "0f9188f13cb7b2c71f2a335e3a4fc328bf5beb436012afca590b1a11466e2206",
}
NETWORK_BY_GENESIS: dict[bytes, str] = {bytes.fromhex(h)[::-1]: net for net, h in GENESIS_HASH_HEX.items()}

_ALIASES = {"mainnet": MAIN, "bitcoin": MAIN, "test": TESTNET, "testnet3": TESTNET}


def network_of_magic(magic: bytes) -> str:
    """Network name for a 4-byte message start; ChainDataError if unknown."""
    try:
        return NETWORK_BY_MAGIC[bytes(magic)]
    except KeyError:
        raise ChainDataError(f"unknown network magic {bytes(magic).hex()}") from None


def normalize_network(name: str) -> str:
    """Accept Core's spellings ("main", "test") and common ones ("mainnet", "testnet3")."""
    key = name.strip().lower()
    key = _ALIASES.get(key, key)
    if key not in MAGIC_BY_NETWORK:
        raise ChainDataError(f"unknown network {name!r}; expected one of {', '.join(MAGIC_BY_NETWORK)}")
    return key
