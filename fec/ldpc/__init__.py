"""chaincast.fec.ldpc: the LDPC inner-code family, the inner code of every MODCOD but
``qpsk-cc1/2``.

- ``construct``: deterministic generator of the IRA / quasi-cyclic codes (DVB-S2 structure and
  degree profiles, our own girth-conditioned edge placement); writes ``tables/``.
- ``codes``: ``get_code(rate, n)`` -> ``LdpcCode``; ``parity_check_matrix``, ``check_adjacency``,
  ``syndrome``. Rates 1/3, 1/2, 3/5, 2/3, 3/4, 5/6; n = 64800 and 16200.
- ``encode``: ``encode(code, info_bits[..., k]) -> codeword[..., n]`` (systematic, linear time).
- ``decode``: ``decode(code, llr[batch, n]) -> LdpcDecodeResult(codeword, ok, iterations)``,
  layered self-corrected offset min-sum (numba), and ``decode_reference`` (NumPy).
"""
