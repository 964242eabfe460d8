"""chaincast.fec.ldpc: the LDPC inner-code family (issue 3), under construction.

Not yet used by any MODCOD: the link still runs the convolutional placeholder.
"""
