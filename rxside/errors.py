class ReceiverError(Exception):
    """Bad input the receiver cannot start on (a missing or unusable file, bad metadata, an option out
    of range): one line for the user, naming the file or option and what is wrong."""
