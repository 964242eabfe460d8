class WireError(ValueError):
    """Bytes that do not parse as the wire format they claim to be (a normal event on a radio link)."""
