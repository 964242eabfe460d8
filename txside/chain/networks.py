"""Bitcoin networks by name: blk-file magic bytes and genesis block hashes, as lookups over the
shared chain parameters (``chaincast.fec.wire.bitcoin.CHAINS``, from Core's chainparams)."""

from chaincast.fec.wire.bitcoin import CHAINS, display_hex
from chaincast.txside.chain.errors import ChainDataError

# Network names follow Core's -chain= values, except "testnet" for testnet3.
MAIN, TESTNET, TESTNET4, SIGNET, REGTEST = "main", "testnet", "testnet4", "signet", "regtest"

# pchMessageStart: the 4 bytes that start every blk*.dat record (as they appear in the file).
MAGIC_BY_NETWORK: dict[str, bytes] = {name: params.magic for name, params in CHAINS.items()}
NETWORK_BY_MAGIC: dict[bytes, str] = {magic: net for net, magic in MAGIC_BY_NETWORK.items()}

# Genesis block hashes in display (reversed) order, and by internal-order hash.
GENESIS_HASH_HEX: dict[str, str] = {name: display_hex(params.genesis_hash) for name, params in CHAINS.items()}
NETWORK_BY_GENESIS: dict[bytes, str] = {params.genesis_hash: name for name, params in CHAINS.items()}

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
