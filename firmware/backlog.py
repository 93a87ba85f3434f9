"""Backlog: the flash journal streamed to the host on request, interleaved with live records.

The host asks with CMD_BACKLOG (free: reading changes nothing) from the acknowledged position
(key BACKLOG_UNACKNOWLEDGED) or from a (boot, seq) key (key BACKLOG_FROM, value boot << 16 |
seq). `start()` flushes the journal, positions its cursor and sends CONFIG KEY_BACKLOG_BYTES
(the journal bytes ahead: the host's progress bar); then every tick `pump()` sends,
after the live records have gone out (the RecordWriter has nothing waiting), up to
FRAMES_PER_TICK journal entries within the tick's UART byte budget, reading at most MAX_STEPS
entries a call: a bounded amount of flash reading per tick, the control loop never waits.
When the cursor has caught up with the journal it sends CONFIG KEY_BACKLOG_SENT (frames sent),
CONFIG KEY_JOURNAL_DROPPED (records the ring deleted before they were acknowledged, since it
was made) and the final REPLY_OK carrying the request's tag (link chatter, as the answer to a
free command: not journaled, records.py; `start()` first has the pending chatter marked, so the
download covers it). The host stores what it got and
acknowledges with CMD_ACK (PIN; value boot << 16 | seq, "everything up to here is stored"):
`acknowledge()` persists it in the journal, so the next download resumes after it.

A replayed record travels in a REPLAY frame, so that it cannot be mistaken for a live record:
COBS(payload + CRC-16/CCITT-FALSE big-endian) + 0x00, payload = byte0 (VERSION << 5 | REPLAY),
u16 boot (little-endian), then the journaled record's own payload (header and body, without
its CRC). The journal holds each record as payload + CRC, as the RecordWriter queued it.

Reading a journal file opens it (a little allocation) while a download runs; idle, `pump()`
compares two integers.
"""

from micropython import const

import protocol
from frame import cobs_encode_into, crc16

FRAMES_PER_TICK = const(4)
MAX_STEPS = const(8)
BACKLOG_UNACKNOWLEDGED = protocol.BACKLOG_UNACKNOWLEDGED
BACKLOG_FROM = protocol.BACKLOG_FROM

_REPLAY_HEAD = const(3)  # byte0 + u16 boot
_ENTRY = const(64)  # a journal frame: payload + CRC of one record
_PAYLOAD_MAX = protocol.MAX_PAYLOAD
_B0_REPLAY = protocol.VERSION << protocol.VERSION_SHIFT | protocol.REPLAY


class Backlog:
    def __init__(self, journal, writer):
        self._journal = journal
        self._writer = writer
        self._entry = bytearray(_ENTRY)
        self._payload = bytearray(_REPLAY_HEAD + _PAYLOAD_MAX + 2)
        self._wire = bytearray(_REPLAY_HEAD + _PAYLOAD_MAX + 4)
        self.active = False
        self.tag = 0
        self.sent = 0  # REPLAY frames sent by the current (or last) download
        self.bad_entries = 0  # journal entries too short or too long to be a record

    def start(self, key, value, tag):
        """Positions the journal's cursor for a download; False if `key` is unknown."""
        journal = self._journal
        self._writer.mark_chatter()  # the link chatter so far: its marker is downloaded too
        journal.flush()
        if key == BACKLOG_UNACKNOWLEDGED:
            cursor = journal.read_unacknowledged()
        elif key == BACKLOG_FROM:
            cursor = journal.read_from((value >> 16) & 0xFFFF, value & 0xFFFF)
        else:
            return False
        self._writer.config(protocol.KEY_BACKLOG_BYTES, cursor.bytes_ahead())
        self.active = True
        self.tag = tag
        self.sent = 0
        return True

    def acknowledge(self, value):
        """The host stored everything up to (boot, seq) = value: persist it."""
        return self._journal.acknowledge((value >> 16) & 0xFFFF, value & 0xFFFF)

    def pump(self, uart, budget_bytes):
        """Sends journal frames while the live stream is idle; returns the bytes written."""
        if not self.active or self._writer.frames():
            return 0
        cursor = self._journal.cursor
        entry = self._entry
        payload = self._payload
        wire = self._wire
        written = 0
        for _ in range(FRAMES_PER_TICK):
            if budget_bytes - written < len(wire):
                break
            n = cursor.next_into(entry, MAX_STEPS)
            if n == 0:
                if cursor.at_end:
                    self._finish()
                break
            body = n - 2  # the record's payload, without its CRC
            if body < protocol.HEADER_SIZE or body > _PAYLOAD_MAX:
                self.bad_entries += 1
                continue
            boot = cursor.boot
            payload[0] = _B0_REPLAY
            payload[1] = boot & 0xFF
            payload[2] = boot >> 8
            for i in range(body):
                payload[_REPLAY_HEAD + i] = entry[i]
            size = _REPLAY_HEAD + body
            crc = crc16(payload, size, 0)
            payload[size] = crc >> 8
            payload[size + 1] = crc & 0xFF
            length = cobs_encode_into(payload, size + 2, wire, 0)
            wire[length] = 0
            length += 1
            uart.write(memoryview(wire)[:length])
            written += length
            self.sent += 1
        return written

    def _finish(self):
        self.active = False
        writer = self._writer
        journal = self._journal
        writer.chatter = True  # the end of a download asked for without a PIN: not journaled
        writer.config(protocol.KEY_BACKLOG_SENT, self.sent)
        writer.config(protocol.KEY_JOURNAL_DROPPED, journal.dropped_records)
        writer.reply(protocol.CMD_BACKLOG, protocol.REPLY_OK, protocol.REASON_NONE, self.tag)
        writer.chatter = False
