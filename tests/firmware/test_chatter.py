"""Link chatter and the journal (records.py): the CONFIG, REPLY and STATUS answers to frames
without the right PIN go out on the link but not into the journal, and one CONFIG KEY_CHATTER
marker, journaled just before the next record the journal keeps, accounts for their sequence
numbers. Both interpreters; the marker allocates nothing."""

import struct

import micropython

import protocol
from records import RecordWriter


class ListJournal:
    """A journal stand-in: (seq, type, config key, config value) of every entry appended."""

    def __init__(self):
        self.entries = []
        self.urgent = False

    def append(self, boot, seq, frame, length, start=0):
        kind = frame[start] & 0x1F
        key = value = None
        if kind == protocol.CONFIG:
            key = frame[start + 7]
            value = struct.unpack_from("<i", frame, start + 8)[0]
        self.entries.append((seq, kind, key, value))


class CountingJournal:
    """Counts appends without allocating (for heap_lock)."""

    def __init__(self):
        self.appended = 0
        self.urgent = False

    def append(self, boot, seq, frame, length, start=0):
        self.appended += 1


class NullUART:
    def write(self, buf):
        return len(buf)


def writer_with(journal, ring_bytes=2048):
    writer = RecordWriter(ring_bytes)
    writer.journal = journal
    return writer


def chatter(writer, n):
    writer.chatter = True
    for _ in range(n):
        writer.config(protocol.KEY_EMISSIVITY, 65535)
    writer.reply(protocol.CMD_GET_CONFIG, protocol.REPLY_OK, 0, 7)
    writer.chatter = False


def test_answers_to_frames_without_the_right_pin_are_sent_and_not_journaled():
    journal = ListJournal()
    writer = writer_with(journal)
    writer.chatter = True
    writer.config(protocol.KEY_EMISSIVITY, 65535)
    writer.status(1, 2, 3, 4, 5, 6, 7)
    writer.reply(protocol.CMD_STATUS, protocol.REPLY_OK, 0, 7)
    writer.chatter = False
    assert writer.sent == 3 and writer.frames() == 3  # on the link
    assert journal.entries == []
    assert writer.chattered == 3


def test_the_next_kept_record_comes_after_one_marker_covering_the_run():
    journal = ListJournal()
    writer = writer_with(journal)
    writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)  # seq 0
    chatter(writer, 4)  # seqs 1..5
    writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)
    assert journal.entries == [
        (0, protocol.PASSAGE, None, None),
        (6, protocol.CONFIG, protocol.KEY_CHATTER, 5),  # seqs 1..5: not journaled, not lost
        (7, protocol.PASSAGE, None, None),
    ]
    assert writer.sent == 8  # the marker goes out on the link too


def test_a_fault_or_an_alarm_made_while_answering_is_journaled():
    journal = ListJournal()
    writer = writer_with(journal)
    writer.chatter = True
    writer.config(protocol.KEY_EMISSIVITY, 65535)  # seq 0
    writer.fault(protocol.FAULT_JOURNAL_LOSS, 1, 3)
    writer.alarm(protocol.ALARM_FEVER, 3800)
    writer.chatter = False
    assert [(seq, kind) for seq, kind, _, _ in journal.entries] == [
        (1, protocol.CONFIG),  # the marker for seq 0
        (2, protocol.FAULT),
        (3, protocol.ALARM),
    ]


def test_a_command_with_the_right_pin_is_journaled_after_the_marker():
    journal = ListJournal()
    writer = writer_with(journal)
    chatter(writer, 2)  # seqs 0..2
    writer.config(protocol.KEY_UTC_OFFSET, 480)  # chatter off: a PIN command's echo
    writer.reply(protocol.CMD_TIME_SYNC, protocol.REPLY_OK, 0, 9)
    assert journal.entries == [
        (3, protocol.CONFIG, protocol.KEY_CHATTER, 3),
        (4, protocol.CONFIG, protocol.KEY_UTC_OFFSET, 480),
        (5, protocol.REPLY, None, None),
    ]


def test_mark_chatter_journals_the_pending_run_and_nothing_when_there_is_none():
    journal = ListJournal()
    writer = writer_with(journal)
    writer.mark_chatter()
    assert journal.entries == []
    chatter(writer, 1)
    writer.chatter = True  # as inside an answer (BACKLOG starts a download)
    writer.mark_chatter()
    writer.chatter = False
    writer.mark_chatter()
    assert journal.entries == [(2, protocol.CONFIG, protocol.KEY_CHATTER, 2)]


def test_a_run_a_dropped_record_breaks_is_only_vouched_for_after_the_drop():
    journal = ListJournal()
    writer = writer_with(journal, ring_bytes=64)  # four CONFIG records (14 stored bytes)
    writer.chatter = True
    for _ in range(5):
        writer.config(protocol.KEY_EMISSIVITY, 65535)  # seqs 0..3 queued, seq 4 dropped
    assert writer.dropped == 1
    writer.drain(NullUART(), 1000)
    writer.config(protocol.KEY_EMISSIVITY, 65535)  # seq 5
    writer.chatter = False
    writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)
    # 0..3 and the dropped 4 stay a gap for the host (a loss is never hidden); 5 is covered
    assert journal.entries == [
        (6, protocol.CONFIG, protocol.KEY_CHATTER, 1),
        (7, protocol.PASSAGE, None, None),
    ]


def test_a_record_dropped_after_the_run_leaves_it_unmarked():
    journal = ListJournal()
    writer = writer_with(journal, ring_bytes=64)
    chatter(writer, 3)  # seqs 0..3 fill the ring (58 of 64 bytes)
    writer.chatter = True
    writer.status(1, 2, 3, 4, 5, 6, 7)  # seq 4: dropped
    writer.chatter = False
    writer.drain(NullUART(), 1000)
    writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)
    # a marker for 0..3 would sit at 4, the dropped record's number: 0..4 stay a gap
    assert writer.dropped == 1
    assert journal.entries == [(5, protocol.PASSAGE, None, None)]


def test_a_long_run_is_marked_every_16384_records():
    journal = ListJournal()
    writer = writer_with(journal)
    uart = NullUART()
    writer.chatter = True
    for _ in range(16384 + 5):
        writer.reply(protocol.CMD_GET_CONFIG, protocol.REPLY_REFUSED, 21, 7)
        writer.drain(uart, 1000)
    writer.chatter = False
    writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)
    markers = [value for _, _, key, value in journal.entries if key == protocol.KEY_CHATTER]
    assert markers == [16384, 5]  # each within the host's half window of 2**15
    assert writer.dropped == 0


def test_chatter_and_its_marker_allocate_nothing():
    journal = CountingJournal()
    writer = writer_with(journal)
    uart = NullUART()
    micropython.heap_lock()
    try:
        for _ in range(100):
            writer.chatter = True
            writer.config(protocol.KEY_EMISSIVITY, 65535)
            writer.reply(protocol.CMD_GET_CONFIG, protocol.REPLY_OK, 0, 7)
            writer.chatter = False
            writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3650, 80)
            writer.drain(uart, 1000)
    finally:
        micropython.heap_unlock()
    assert journal.appended == 200  # each passage and its marker
    assert writer.chattered == 200
