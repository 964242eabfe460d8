class ReceiverError(Exception):
    """Bad input the receiver cannot start on (missing file, bad metadata): one line for the user."""
