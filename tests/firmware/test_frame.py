"""frame.py: CRC-16/CCITT-FALSE and COBS encoding, on both interpreters, without allocation."""

import sys

import micropython

import frame
from frame import cobs_encode_into, copy_into, crc16
from vectors import COBS_VECTORS, CRC_VECTORS


def _bitwise_crc_entry(index):
    crc = index << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def _encode(data):
    dst = bytearray(len(data) + len(data) // 254 + 2)
    n = cobs_encode_into(data, len(data), dst, 0)
    return bytes(dst[:n])


def _pseudo_random_bytes(seed, n, zero_every):
    """Deterministic bytes (an LCG) with a zero about every `zero_every` bytes."""
    out = bytearray(n)
    x = seed
    for i in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        out[i] = 0 if (x >> 16) % zero_every == 0 else (x >> 8) & 0xFF
    return out


def _has_zero(buf, n):
    for i in range(n):
        if buf[i] == 0:
            return True
    return False


def test_crc16_of_123456789_is_the_catalogue_check_value_29b1():
    assert crc16(b"123456789", 9, 0) == 0x29B1


def test_crc16_matches_every_vector():
    for data, expected in CRC_VECTORS:
        assert crc16(data, len(data), 0) == expected, data


def test_crc16_tables_are_the_polynomial_0x1021():
    for i in range(256):
        entry = _bitwise_crc_entry(i)
        assert frame._CRC_HI[i] == entry >> 8, i
        assert frame._CRC_LO[i] == entry & 0xFF, i


def test_crc16_covers_only_length_bytes_from_start():
    buf = bytearray(b"xx123456789yy")
    assert crc16(buf, 9, 2) == 0x29B1


def test_crc16_of_a_payload_followed_by_its_big_endian_crc_is_zero():
    buf = bytearray(b"123456789\x29\xb1")
    assert crc16(buf, 11, 0) == 0


def test_cobs_encodes_every_known_vector():
    for data, expected in COBS_VECTORS:
        assert _encode(data) == expected, data


def test_cobs_encodes_from_start_without_a_slice():
    src = bytearray(b"\xaa\xaa12345\x006789\xaa")
    dst = bytearray(16)
    n = cobs_encode_into(src, 10, dst, 2)
    assert bytes(dst[:n]) == b"\x0612345\x056789"


def test_cobs_output_has_no_zero_and_respects_the_size_bound():
    for seed in range(40):
        n = (seed * 37) % 600
        data = _pseudo_random_bytes(seed, n, 1 + seed % 9)
        encoded = _encode(data)
        assert not _has_zero(encoded, len(encoded)), seed
        assert len(encoded) <= n + (n + 253) // 254 + (1 if n == 0 else 0), seed


def test_cobs_of_fewer_than_254_bytes_is_exactly_one_byte_longer():
    for n in (0, 1, 9, 33, 100, 253):
        data = _pseudo_random_bytes(n, n, 5)
        assert len(_encode(data)) == n + 1, n


def test_crc16_and_cobs_allocate_nothing():
    src = bytearray(b"\x21\x05\x00\xe4\x0e\x00\x00\x10\x28\x00\x00\x00\x00")
    dst = bytearray(20)
    micropython.heap_lock()
    try:
        for _ in range(200):
            crc = crc16(src, 11, 0)
            src[11] = crc >> 8
            src[12] = crc & 0xFF
            n = cobs_encode_into(src, 13, dst, 0)
    finally:
        micropython.heap_unlock()
    assert n == 14
    assert not _has_zero(dst, n)


def test_micropython_runs_the_viper_versions_and_cpython_the_bytecode_ones():
    if sys.implementation.name == "micropython":
        import frame_native

        assert frame.NATIVE
        assert frame.crc16 is frame_native.crc16
        assert frame.cobs_encode_into is frame_native.cobs_encode_into
        assert frame.copy_into is frame_native.copy_into
    else:
        assert not frame.NATIVE
        assert frame.crc16 is frame.py_crc16


def test_viper_crc16_cobs_and_copy_agree_with_the_bytecode_versions():
    if sys.implementation.name != "micropython":
        return  # CPython has only the bytecode versions
    import frame_native

    for i in range(256):
        assert frame_native._CRC_HI[i] == frame._CRC_HI[i], i
        assert frame_native._CRC_LO[i] == frame._CRC_LO[i], i
    for seed in range(30):
        n = (seed * 29) % 520
        data = _pseudo_random_bytes(seed, n + 7, 1 + seed % 7)
        start = seed % 7
        assert frame_native.crc16(data, n, start) == frame.py_crc16(data, n, start), seed
        a = bytearray(n + n // 254 + 2)
        b = bytearray(n + n // 254 + 2)
        na = frame_native.cobs_encode_into(data, n, a, start)
        nb = frame.py_cobs_encode_into(data, n, b, start)
        assert na == nb and a == b, seed
        a = bytearray(n + 9)
        b = bytearray(n + 9)
        frame_native.copy_into(data, start, a, 3, n)
        frame.py_copy_into(data, start, b, 3, n)
        assert a == b and bytes(a[3 : 3 + n]) == bytes(data[start : start + n]), seed


def test_copy_into_copies_length_bytes_without_a_slice():
    src = bytearray(b"xx12345yy")
    dst = bytearray(b"abcdefgh")
    micropython.heap_lock()
    try:
        copy_into(src, 2, dst, 1, 5)
    finally:
        micropython.heap_unlock()
    assert bytes(dst) == b"a12345gh"
