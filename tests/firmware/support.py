"""Helpers for tests that run on both MicroPython and CPython (no pytest here)."""


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raised; fail if it raised none."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("expected %s from %r" % (exc_type.__name__, fn))


def payloads(data):
    """The payloads (CRC checked and removed) of the 0x00-delimited COBS frames in data."""
    from frame import cobs_decode_in_place, crc16

    out = []
    start = 0
    for i in range(len(data)):
        if data[i] == 0:
            buf = bytearray(data[start:i])
            n = cobs_decode_in_place(buf, len(buf))
            assert n >= 3, "not a COBS frame"
            assert crc16(buf, n - 2, 0) == buf[n - 2] << 8 | buf[n - 1], "CRC"
            out.append(bytes(buf[: n - 2]))
            start = i + 1
    return out


def sent_payloads(uart):
    """The payloads a fakes_board.FakeUART was given."""
    return payloads(uart.data[: uart.written])
