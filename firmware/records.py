"""RecordWriter: encodes records into a preallocated transmit ring, drains whole frames to a UART.

Each record method packs the payload (protocol.*_FORMAT) with struct.pack_into straight into
the ring, appends its CRC-16 (big-endian) and returns the sequence number it used. `drain`
COBS-encodes the oldest frames into a per-type staging bytearray of the exact frame length
(COBS of fewer than 254 bytes is always one byte longer, so the length depends only on the type)
and hands that to uart.write: whole frames only, never more than the byte budget. Nothing here
allocates after __init__; the tests run passage() and drain() under micropython.heap_lock().

The ring holds payload + CRC (9..33 bytes a record) back to back; a record that does not fit
before the end of the ring starts again at 0, leaving a 0x00 marker (no valid type byte is 0).
When there is no room the record is dropped and counted in `dropped`, but its sequence number is
still used, so the host sees the gap; STATUS records carry `dropped` as tx_dropped (mod 2**16).

Every record also goes into the journal, except link chatter: the CONFIG, REPLY and STATUS
records made while `chatter` is set (Commands sets it while it answers a frame without the
right PIN, the Backlog while it ends a download) go out on the link only, so a flood of free
commands never makes the journal delete a passage, an alarm or any record a site needs to make
room. A run of chatter is accounted for by one marker, a CONFIG KEY_CHATTER record with
`value` = the run's length, that covers the `value` sequence numbers right before its own: it
is written (on the link and into the journal) just before the next record the journal keeps,
before a download starts (`mark_chatter()`, Backlog) and before a clean stop, so a host knows
those numbers are not lost. The journal thus holds at most one marker per record it keeps,
whatever the flood. A run that a dropped record interrupts is not vouched for (its numbers stay
a gap: a loss is never hidden).

Values are made to fit their fields: temperatures and `detail` saturate at the i16 limits,
transit_cs at 255, u16 counters wrap modulo 2**16 (STATUS fevers, remeasures, sensor_errors,
tx_dropped, irq_overflows, events_dropped, tx_short), u8 codes are masked to 8 bits. u32 fields
(people counts, uptime_s, mem_free, device_id, unix_s) are passed as they are.
"""

import struct

from micropython import const

import protocol
from frame import cobs_encode_into, crc16

_TYPES = const(32)
_I16_MAX = const(32767)
_I16_MIN = const(-32768)
_TRANSIT_MAX = const(255)
_CHATTER_RUN_MAX = const(16384)  # a marker covers fewer seqs than the host's 2**15 window
_KEY_CHATTER = protocol.KEY_CHATTER

_B0 = protocol.VERSION << protocol.VERSION_SHIFT
_B0_BOOT = _B0 | protocol.BOOT
_B0_PASSAGE = _B0 | protocol.PASSAGE
_B0_ALARM = _B0 | protocol.ALARM
_B0_FAULT = _B0 | protocol.FAULT
_B0_STATUS = _B0 | protocol.STATUS
_B0_TIME = _B0 | protocol.TIME
_B0_CONFIG = _B0 | protocol.CONFIG
_B0_REPLY = _B0 | protocol.REPLY

_BOOT_FORMAT = protocol.BOOT_FORMAT
_PASSAGE_FORMAT = protocol.PASSAGE_FORMAT
_ALARM_FORMAT = protocol.ALARM_FORMAT
_FAULT_FORMAT = protocol.FAULT_FORMAT
_STATUS_FORMAT = protocol.STATUS_FORMAT
_TIME_FORMAT = protocol.TIME_FORMAT
_CONFIG_FORMAT = protocol.CONFIG_FORMAT
_REPLY_FORMAT = protocol.REPLY_FORMAT

_BOOT_SIZE = protocol.BOOT_SIZE
_PASSAGE_SIZE = protocol.PASSAGE_SIZE
_ALARM_SIZE = protocol.ALARM_SIZE
_FAULT_SIZE = protocol.FAULT_SIZE
_STATUS_SIZE = protocol.STATUS_SIZE
_TIME_SIZE = protocol.TIME_SIZE
_CONFIG_SIZE = protocol.CONFIG_SIZE
_REPLY_SIZE = protocol.REPLY_SIZE


def _i16(value):
    if value > _I16_MAX:
        return _I16_MAX
    if value < _I16_MIN:
        return _I16_MIN
    return value


class RecordWriter:
    """Record encoder and transmit ring. `ring_bytes` is the payload + CRC storage."""

    def __init__(self, ring_bytes=2048):
        if ring_bytes < protocol.MAX_PAYLOAD + protocol.CRC_SIZE:
            raise ValueError("ring_bytes too small for one record")
        self._ring = bytearray(ring_bytes)
        self._size = ring_bytes
        self._head = 0  # offset of the oldest record (or of a wrap marker / the ring's end)
        self._tail = 0  # where the next record goes
        self._frames = 0
        self._pending = 0  # wire bytes waiting (frames with COBS overhead and delimiter)
        self._resync = False  # a frame went out short: send a lone delimiter first
        self._delimiter = bytearray(1)
        sizes = bytearray(_TYPES)
        stages = [None] * _TYPES
        for record in protocol.RECORDS:
            sizes[record[0]] = record[3]
            stages[record[0]] = bytearray(record[3] + protocol.CRC_SIZE + 2)
        self._sizes = bytes(sizes)
        self._stages = tuple(stages)
        self.t_cs = 0  # uptime in centiseconds, set by the Gate every tick
        self.seq = 0  # the sequence number the next record gets
        self.sent = 0  # records queued in the ring
        self.dropped = 0  # records dropped because the ring was full
        self.written = 0  # frames handed whole to the UART
        self.tx_short = 0  # uart.write calls that took fewer bytes than the frame
        self.journal = None  # a journal.Journal: every record is also appended to it
        self.boot_id = 0  # the boot number the journal entries are tagged with
        self.chatter = False  # CONFIG, REPLY and STATUS records are link chatter: not journaled
        self.chattered = 0  # chatter records sent and not journaled
        self._chatter_run = 0  # chatter records since the last journaled one, not marked yet
        self._chatter_next = 0  # the seq after the run's last record

    # -- the ring --

    def _reserve(self, length):
        """Offset for `length` contiguous bytes, or -1 when the ring has no room."""
        if self._frames == 0:
            self._head = 0
            self._tail = 0
            return 0 if length <= self._size else -1
        head = self._head
        tail = self._tail
        if tail > head:
            if self._size - tail >= length:
                return tail
            if head >= length:
                if tail < self._size:
                    self._ring[tail] = 0  # wrap marker: the reader goes back to 0
                return 0
            return -1
        if head - tail >= length:  # tail < head; tail == head means full
            return tail
        return -1

    def _commit(self, offset, size):
        ring = self._ring
        crc = crc16(ring, size, offset)
        end = offset + size
        ring[end] = crc >> 8
        ring[end + 1] = crc & 0xFF
        journal = self.journal
        if journal is not None:
            seq = ring[offset + 1] | ring[offset + 2] << 8
            kind = ring[offset]
            if self.chatter and (kind == _B0_CONFIG or kind == _B0_REPLY or kind == _B0_STATUS):
                if self._chatter_next != seq:
                    self._chatter_run = 0  # a dropped record before it: a new run
                self._chatter_run += 1
                self._chatter_next = (seq + 1) & 0xFFFF
                self.chattered += 1
            else:
                journal.append(self.boot_id, seq, ring, size + 2, offset)
                if kind == _B0_PASSAGE or kind == _B0_ALARM:
                    journal.urgent = True  # on flash before the next tick's sample (Gate)
        self._tail = end + 2
        self._frames += 1
        self._pending += size + 4
        self.sent += 1

    def mark_chatter(self):
        """Writes the pending run of chatter as one CONFIG KEY_CHATTER record (journaled and
        sent) covering the run's sequence numbers, right before its own."""
        run = self._chatter_run
        if not run:
            return
        self._chatter_run = 0
        if self._chatter_next != self.seq:
            return  # a dropped record after the run: it is not vouched for
        chatter = self.chatter
        self.chatter = False
        self.config(_KEY_CHATTER, run)
        self.chatter = chatter

    def _take(self, size):
        """Use the next sequence number; return the offset for `size` payload bytes or -1."""
        self.seq = (self.seq + 1) & 0xFFFF
        offset = self._reserve(size + 2)
        if offset < 0:
            self.dropped += 1
        return offset

    # -- records: each returns the sequence number used, or -1 when dropped --

    def boot(self, reset_cause, boot_count, device_id, fw_version):
        if self._chatter_run:
            self.mark_chatter()
        seq = self.seq
        off = self._take(_BOOT_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _BOOT_FORMAT,
            self._ring,
            off,
            _B0_BOOT,
            seq,
            self.t_cs,
            reset_cause & 0xFF,
            fw_version,
            boot_count & 0xFFFF,
            device_id,
        )
        self._commit(off, _BOOT_SIZE)
        return seq

    def passage(self, verdict, direction, temp_cc, transit_cs):
        if self._chatter_run:
            self.mark_chatter()
        seq = self.seq
        off = self._take(_PASSAGE_SIZE)
        if off < 0:
            return -1
        if transit_cs > _TRANSIT_MAX:
            transit_cs = _TRANSIT_MAX
        elif transit_cs < 0:
            transit_cs = 0
        struct.pack_into(
            _PASSAGE_FORMAT,
            self._ring,
            off,
            _B0_PASSAGE,
            seq,
            self.t_cs,
            _i16(temp_cc),
            (verdict & 0x0F) | ((direction & 0x03) << 4),
            transit_cs,
        )
        self._commit(off, _PASSAGE_SIZE)
        return seq

    def alarm(self, kind, temp_cc):
        if self._chatter_run:
            self.mark_chatter()
        seq = self.seq
        off = self._take(_ALARM_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _ALARM_FORMAT, self._ring, off, _B0_ALARM, seq, self.t_cs, kind & 0xFF, _i16(temp_cc)
        )
        self._commit(off, _ALARM_SIZE)
        return seq

    def fault(self, code, active, detail):
        if self._chatter_run:
            self.mark_chatter()
        seq = self.seq
        off = self._take(_FAULT_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _FAULT_FORMAT,
            self._ring,
            off,
            _B0_FAULT,
            seq,
            self.t_cs,
            code & 0xFF,
            1 if active else 0,
            _i16(detail),
        )
        self._commit(off, _FAULT_SIZE)
        return seq

    def status(
        self,
        people_in,
        people_out,
        fevers,
        remeasures,
        uptime_s,
        mem_free,
        sensor_errors,
        people_in_today=0,
        irq_overflows=0,
        events_dropped=0,
    ):
        """tx_dropped and tx_short come from this writer's own counts."""
        if self._chatter_run and (not self.chatter or self._chatter_run >= _CHATTER_RUN_MAX):
            self.mark_chatter()
        seq = self.seq
        off = self._take(_STATUS_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _STATUS_FORMAT,
            self._ring,
            off,
            _B0_STATUS,
            seq,
            self.t_cs,
            people_in,
            people_out,
            fevers & 0xFFFF,
            remeasures & 0xFFFF,
            uptime_s,
            mem_free,
            sensor_errors & 0xFFFF,
            self.dropped & 0xFFFF,
            people_in_today,
            irq_overflows & 0xFFFF,
            events_dropped & 0xFFFF,
            self.tx_short & 0xFFFF,
        )
        self._commit(off, _STATUS_SIZE)
        return seq

    def time_sync(self, unix_s):
        """The host-set wall clock: unix_s is the time at this record's t_cs."""
        if self._chatter_run:
            self.mark_chatter()
        seq = self.seq
        off = self._take(_TIME_SIZE)
        if off < 0:
            return -1
        struct.pack_into(_TIME_FORMAT, self._ring, off, _B0_TIME, seq, self.t_cs, unix_s)
        self._commit(off, _TIME_SIZE)
        return seq

    def config(self, key, value):
        if self._chatter_run and (not self.chatter or self._chatter_run >= _CHATTER_RUN_MAX):
            self.mark_chatter()
        seq = self.seq
        off = self._take(_CONFIG_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _CONFIG_FORMAT, self._ring, off, _B0_CONFIG, seq, self.t_cs, key & 0xFF, value
        )
        self._commit(off, _CONFIG_SIZE)
        return seq

    def reply(self, command, status, reason, arg):
        if self._chatter_run and (not self.chatter or self._chatter_run >= _CHATTER_RUN_MAX):
            self.mark_chatter()
        seq = self.seq
        off = self._take(_REPLY_SIZE)
        if off < 0:
            return -1
        struct.pack_into(
            _REPLY_FORMAT,
            self._ring,
            off,
            _B0_REPLY,
            seq,
            self.t_cs,
            command & 0xFF,
            status & 0xFF,
            reason & 0xFF,
            arg,
        )
        self._commit(off, _REPLY_SIZE)
        return seq

    # -- transmit --

    def pending(self):
        """Wire bytes waiting in the ring (COBS overhead and delimiters included)."""
        return self._pending

    def frames(self):
        """Frames waiting in the ring."""
        return self._frames

    def drain(self, uart, budget_bytes):
        """Write whole frames, oldest first, while they fit in budget_bytes; return bytes written.

        A write that takes nothing (0 or None) leaves the frame for the next drain. A write that
        takes part of a frame loses the rest of it (counted in tx_short); the next drain sends
        a lone 0x00 first so that only that frame is damaged, not the one after it.
        """
        if not self._frames and not self._resync:
            return 0  # most ticks: nothing waiting
        written = 0
        if self._resync:
            if budget_bytes < 1:
                return 0
            n = uart.write(self._delimiter)
            if not n:
                self.tx_short += 1
                return 0
            self._resync = False
            written = 1
            budget_bytes -= 1
        ring = self._ring
        size = self._size
        sizes = self._sizes
        while self._frames:
            head = self._head
            if head >= size or ring[head] == 0:
                head = 0
                self._head = 0
            kind = ring[head] & 0x1F
            stored = sizes[kind] + 2
            length = stored + 2
            if length > budget_bytes:
                break
            stage = self._stages[kind]
            stage[cobs_encode_into(ring, stored, stage, head)] = 0
            n = uart.write(stage)
            if not n:
                self.tx_short += 1
                break
            self._head = head + stored
            self._frames -= 1
            self._pending -= length
            written += n
            budget_bytes -= length
            if n < length:
                self.tx_short += 1
                self._resync = True
                break
            self.written += 1
        return written
