"""frame.py: CRC-16/CCITT-FALSE and COBS encoding, on both interpreters, without allocation."""

import micropython

import frame
from frame import cobs_encode_into, crc16
from vectors import COBS_VECTORS, CRC_VECTORS


def _bitwise_crc_entry(index):
    crc = index << 8
    for _ in range(8):
        crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else (crc << 1)
        crc &= 0xFFFF
    return crc


def _encode(data):
    dst = bytearray(len(data) + len(data) // 254 + 2)
    n = cobs_encode_into(data, len(data), dst)
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
    assert crc16(b"123456789", 9) == 0x29B1


def test_crc16_matches_every_vector():
    for data, expected in CRC_VECTORS:
        assert crc16(data, len(data)) == expected, data


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
    assert crc16(buf, 11) == 0


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
            crc = crc16(src, 11)
            src[11] = crc >> 8
            src[12] = crc & 0xFF
            n = cobs_encode_into(src, 13, dst)
    finally:
        micropython.heap_unlock()
    assert n == 14
    assert not _has_zero(dst, n)
