import os

from chaincast.fec.fountain import FountainDecoder, FountainEncoder, choose_symbol_size, pass_of_symbol


def test_symbol_size_is_aligned_and_bounded():
    assert choose_symbol_size(250, 824) == 256
    assert choose_symbol_size(100_000, 825) == 824


def test_every_pass_sends_fresh_symbols():
    enc = FountainEncoder(os.urandom(40_000), 824)
    ids = [s.symbol_id for p in range(4) for s in enc.pass_symbols(p)]
    assert len(ids) == len(set(ids))


def test_object_rebuilt_from_halves_of_two_passes():
    data = os.urandom(40_000)
    enc = FountainEncoder(data, 824)
    half = enc.pass_symbols(1)[::2] + enc.pass_symbols(2)[1::2]
    dec = FountainDecoder(len(data), 824)
    results = [dec.add(s.symbol_id, s.data) for s in half]
    assert any(r == data for r in results)
    # neither half alone is enough (each is about K/2 symbols)
    dec1 = FountainDecoder(len(data), 824)
    assert all(dec1.add(s.symbol_id, s.data) is None for s in enc.pass_symbols(1)[::2])


def test_decoder_ignores_wrong_sized_and_repeated_symbols():
    data = os.urandom(3000)
    enc = FountainEncoder(data, 1000)
    first = enc.pass_symbols(0)[0]
    dec = FountainDecoder(len(data), 1000)
    assert dec.add(first.symbol_id, first.data[:-1]) is None
    dec.add(first.symbol_id, first.data)
    dec.add(first.symbol_id, first.data)
    assert dec.symbols_received == 1


def test_pass_of_symbol_names_the_pass_that_sent_it():
    for size, symbol_size in ((200, 208), (5000, 1000), (100_000, 1000)):
        enc = FountainEncoder(os.urandom(size), symbol_size)
        for p in range(4):
            assert {pass_of_symbol(s.symbol_id, enc.k) for s in enc.pass_symbols(p)} == {p}
