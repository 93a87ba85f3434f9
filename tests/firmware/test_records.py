"""RecordWriter: exact frames, sequence numbers, the full ring, drain budgets, no allocation."""

import micropython

import protocol
from records import RecordWriter
from support import raises
from vectors import RECORD_VECTORS

_PASSAGE_WIRE = protocol.PASSAGE_SIZE + 4  # payload + CRC + COBS code byte + delimiter
_STATUS_WIRE = protocol.STATUS_SIZE + 4


class CaptureUART:
    """Keeps what is written in a preallocated buffer; takes at most `accept` bytes a write."""

    def __init__(self, capture=4096, accept=-1):
        self.data = bytearray(capture)
        self.n = 0
        self.writes = 0
        self.accept = accept

    def write(self, buf):
        n = len(buf)
        if 0 <= self.accept < n:
            n = self.accept
        data = self.data
        size = len(data)
        at = self.n
        for i in range(n):
            if at < size:
                data[at] = buf[i]
            at += 1
        self.n = at
        self.writes += 1
        return n

    def captured(self):
        return bytes(self.data[: self.n])


def _write(writer, method, args):
    return getattr(writer, method)(*args)


def _frame_of(method, args, seq=0, t_cs=0):
    writer = RecordWriter()
    writer.seq = seq
    writer.t_cs = t_cs
    _write(writer, method, args)
    uart = CaptureUART()
    writer.drain(uart, 1000)
    return uart.captured()


def test_every_record_type_encodes_to_its_golden_frame():
    for method, args, seq, t_cs, _fields, wire in RECORD_VECTORS:
        assert _frame_of(method, args, seq, t_cs) == bytes.fromhex(wire), method


def test_a_passage_is_15_bytes_on_the_wire():
    frame = _frame_of("passage", (protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 30))
    assert len(frame) == 15
    assert _PASSAGE_WIRE == 15


def test_sequence_numbers_start_at_zero_and_count_up():
    writer = RecordWriter()
    assert writer.boot(protocol.RESET_POWER_ON, 1, 5, protocol.FW_VERSION) == 0
    assert writer.passage(0, 1, 3650, 20) == 1
    assert writer.fault(protocol.FAULT_TANK_EMPTY, 1, 0) == 2


def test_sequence_numbers_wrap_at_65536():
    writer = RecordWriter()
    writer.seq = 0xFFFF
    assert writer.alarm(protocol.ALARM_FEVER, 3800) == 0xFFFF
    assert writer.alarm(protocol.ALARM_FEVER, 3800) == 0


def test_a_full_ring_drops_the_record_and_counts_it():
    writer = RecordWriter(ring_bytes=64)  # room for 4 passages of 13 stored bytes
    for _ in range(4):
        assert writer.passage(0, 1, 3650, 20) >= 0
    assert writer.passage(0, 1, 3650, 20) == -1
    assert writer.dropped == 1
    assert writer.sent == 4


def test_a_dropped_record_still_uses_its_sequence_number():
    writer = RecordWriter(ring_bytes=64)
    for _ in range(5):
        writer.passage(0, 1, 3650, 20)  # seq 0..3 queued, seq 4 dropped
    writer.drain(CaptureUART(), 1000)
    assert writer.passage(0, 1, 3650, 20) == 5


def test_status_carries_the_dropped_count_as_tx_dropped():
    writer = RecordWriter(ring_bytes=50)  # one status record (43 stored bytes) fits
    writer.status(1, 2, 3, 4, 5, 6, 7)
    writer.status(1, 2, 3, 4, 5, 6, 7)  # dropped
    writer.drain(CaptureUART(), 1000)
    writer.status(1, 2, 3, 4, 5, 6, 7)
    uart = CaptureUART()
    writer.drain(uart, 1000)
    frame = uart.captured()
    assert frame == _frame_with_dropped(2, 1)


def _frame_with_dropped(seq, dropped):
    writer = RecordWriter()
    writer.seq = seq
    writer.dropped = dropped
    writer.status(1, 2, 3, 4, 5, 6, 7)
    uart = CaptureUART()
    writer.drain(uart, 1000)
    return uart.captured()


def test_drain_writes_only_whole_frames_within_the_budget():
    writer = RecordWriter()
    for _ in range(3):
        writer.passage(0, 1, 3650, 20)
    uart = CaptureUART()
    assert writer.drain(uart, 2 * _PASSAGE_WIRE + 14) == 2 * _PASSAGE_WIRE
    assert uart.writes == 2
    assert writer.pending() == _PASSAGE_WIRE


def test_drain_with_a_budget_below_one_frame_writes_nothing():
    writer = RecordWriter()
    writer.status(1, 2, 3, 4, 5, 6, 7)
    uart = CaptureUART()
    assert writer.drain(uart, _STATUS_WIRE - 1) == 0
    assert uart.writes == 0
    assert writer.pending() == _STATUS_WIRE


def test_drain_gives_uart_write_a_buffer_of_the_exact_frame_length():
    writer = RecordWriter()
    writer.passage(0, 1, 3650, 20)
    writer.status(1, 2, 3, 4, 5, 6, 7)
    lengths = []

    class LengthUART:
        def write(self, buf):
            lengths.append(len(buf))
            return len(buf)

    writer.drain(LengthUART(), 1000)
    assert lengths == [_PASSAGE_WIRE, _STATUS_WIRE]


def test_pending_counts_the_wire_bytes_waiting():
    writer = RecordWriter()
    assert writer.pending() == 0
    writer.passage(0, 1, 3650, 20)
    writer.status(1, 2, 3, 4, 5, 6, 7)
    assert writer.pending() == _PASSAGE_WIRE + _STATUS_WIRE
    writer.drain(CaptureUART(), 1000)
    assert writer.pending() == 0


def test_the_ring_wraps_around_and_keeps_the_order():
    writer = RecordWriter(ring_bytes=100)
    reference = RecordWriter(ring_bytes=4096)
    uart = CaptureUART(capture=8192)
    expected = CaptureUART(capture=8192)
    for i in range(200):
        for w in (writer, reference):
            w.t_cs = i * 3
            if i % 7 == 3:
                w.status(i, i, 0, 0, i, 1000, 0)
            else:
                w.passage(i % 7, i % 3, 3600 + i, i)
        writer.drain(uart, 50)  # a partial drain: the ring keeps some frames across the wrap
        reference.drain(expected, 10000)
    writer.drain(uart, 100000)
    assert writer.dropped == 0
    assert uart.captured() == expected.captured()


def test_a_write_that_takes_nothing_keeps_the_frame_for_the_next_drain():
    writer = RecordWriter()
    writer.passage(0, 1, 3650, 20)
    stalled = CaptureUART(accept=0)
    assert writer.drain(stalled, 1000) == 0
    assert writer.tx_short == 1
    uart = CaptureUART()
    writer.drain(uart, 1000)
    assert uart.captured() == _frame_of("passage", (0, 1, 3650, 20))


def test_a_short_write_is_counted_and_a_delimiter_ends_the_broken_frame():
    writer = RecordWriter()
    writer.passage(0, 1, 3650, 20)
    writer.passage(0, 1, 3650, 21)
    assert writer.drain(CaptureUART(accept=5), 1000) == 5
    assert writer.tx_short == 1
    uart = CaptureUART()
    writer.drain(uart, 1000)
    second = RecordWriter()
    second.seq = 1
    second.passage(0, 1, 3650, 21)
    expected = CaptureUART()
    second.drain(expected, 1000)
    assert uart.captured() == b"\x00" + expected.captured()


def test_out_of_range_values_saturate_at_their_field_limits():
    wide = _frame_of("passage", (0, 1, 40000, 300))
    capped = _frame_of("passage", (0, 1, 32767, 255))
    assert wide == capped
    assert _frame_of("fault", (1, 1, -99999)) == _frame_of("fault", (1, 1, -32768))


def test_a_ring_too_small_for_one_record_is_refused():
    raises(ValueError, RecordWriter, 16)


def test_passage_and_drain_allocate_nothing_for_10000_records():
    writer = RecordWriter()
    uart = CaptureUART(capture=16)
    writer.passage(0, 1, 3650, 20)  # warm up
    writer.drain(uart, 1000)
    micropython.heap_lock()
    try:
        for i in range(10000):
            writer.t_cs = i
            writer.passage(i & 7, i & 3, 3600 + (i & 255), i & 255)
            writer.drain(uart, 100)
    finally:
        micropython.heap_unlock()
    assert writer.sent == 10001
    assert writer.dropped == 0
    assert writer.written == 10001


def test_every_record_method_allocates_nothing():
    writer = RecordWriter()
    uart = CaptureUART(capture=16)
    micropython.heap_lock()
    try:
        writer.boot(1, 2, 3, 4)
        writer.passage(1, 2, 3, 4)
        writer.alarm(1, 3800)
        writer.fault(1, 1, 7)
        writer.status(1, 2, 3, 4, 5, 6, 7)
        writer.time_sync(1767225600)
        writer.config(1, -1)
        writer.reply(1, 0, 0, 5)
        writer.drain(uart, 1000)
    finally:
        micropython.heap_unlock()
    assert writer.written == 8
