"""Project exceptions for chain data."""


class ChainDataError(ValueError):
    """Malformed or inconsistent chain data (short input, trailing bytes, bad framing...)."""


class BlockRejectedError(ChainDataError):
    """libbitcoinkernel refused a block (or did not make it the active tip)."""
