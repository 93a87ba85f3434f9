"""The journal backlog download (backlog.py): REPLAY frames, order, budget, end, resume.

Runs on both interpreters: on MicroPython each test gets a fresh littlefs mount, on CPython a
temporary directory.
"""

import protocol
from backlog import BACKLOG_FROM, BACKLOG_UNACKNOWLEDGED, FRAMES_PER_TICK, Backlog
from fakes_board import FakeUART
from flashdev import scratch_dir
from journal import OVERHEAD, Journal
from records import RecordWriter
from support import payloads

BOOT = 7
TAG = 0x1234
BIG_BUDGET = 10_000


def new_rig(ring_bytes=2048):
    journal = Journal.open(scratch_dir() + "/journal")
    writer = RecordWriter(ring_bytes)
    writer.journal = journal
    writer.boot_id = BOOT
    return journal, writer, Backlog(journal, writer)


def passages(writer, n):
    seqs = []
    for i in range(n):
        seqs.append(writer.passage(protocol.VERDICT_NORMAL, protocol.DIR_IN, 3600 + i, 50))
    return seqs


def sent(uart):
    return bytes(uart.data[: uart.written])


def live_out(writer):
    """Drain the live records to nowhere (a technician was not connected)."""
    writer.drain(FakeUART(), BIG_BUDGET)


def download(backlog, uart, ticks=200, budget=BIG_BUDGET, live=None):
    """Tick until the download ends: the live records first (to `live`), then the backlog."""
    live = live if live is not None else FakeUART()
    for _ in range(ticks):
        backlog._writer.drain(live, BIG_BUDGET)
        backlog.pump(uart, budget)
        if not backlog.active:
            return
    raise AssertionError("the download did not finish")


def test_a_download_sends_every_journaled_record_in_a_replay_frame():
    journal, writer, backlog = new_rig()
    seqs = passages(writer, 5)
    live_out(writer)
    assert backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    uart = FakeUART()
    download(backlog, uart)
    replays = [f for f in payloads(sent(uart)) if f[0] & 0x1F == protocol.REPLAY]
    assert len(replays) == 5
    for i in range(5):
        payload, seq = replays[i], seqs[i]
        assert payload[0] == protocol.VERSION << protocol.VERSION_SHIFT | protocol.REPLAY
        assert payload[1] | payload[2] << 8 == BOOT
        inner = payload[protocol.REPLAY_HEAD_SIZE :]
        assert inner[0] & 0x1F == protocol.PASSAGE
        assert inner[1] | inner[2] << 8 == seq
        assert len(inner) == protocol.PASSAGE_SIZE


def test_the_end_of_a_download_says_how_many_were_sent_and_carries_the_tag():
    journal, writer, backlog = new_rig()
    passages(writer, 3)
    live_out(writer)
    backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    end = FakeUART()
    download(backlog, FakeUART(), live=end)
    writer.drain(end, BIG_BUDGET)
    configs = []
    reply = None
    for f in payloads(sent(end)):
        if f[0] & 0x1F == protocol.CONFIG:
            configs.append((f[7], f[8] | f[9] << 8 | f[10] << 16 | f[11] << 24))
        elif f[0] & 0x1F == protocol.REPLY:
            reply = f
    assert (protocol.KEY_BACKLOG_SENT, 3) in configs
    assert (protocol.KEY_JOURNAL_DROPPED, 0) in configs
    assert reply[7] == protocol.CMD_BACKLOG and reply[8] == protocol.REPLY_OK
    assert reply[10] | reply[11] << 8 == TAG


def test_a_download_announces_the_journal_bytes_it_has_ahead():
    journal, writer, backlog = new_rig()
    passages(writer, 5)
    live_out(writer)
    backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    announced = FakeUART()
    writer.drain(announced, BIG_BUDGET)
    (config,) = payloads(sent(announced))
    assert config[7] == protocol.KEY_BACKLOG_BYTES
    entry = protocol.PASSAGE_SIZE + 2 + OVERHEAD  # payload, CRC, the journal's own 7 bytes
    assert config[8] | config[9] << 8 == 5 * entry


def test_live_records_waiting_go_out_before_any_replay():
    journal, writer, backlog = new_rig()
    passages(writer, 2)
    backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    uart = FakeUART()
    assert backlog.pump(uart, BIG_BUDGET) == 0
    assert uart.written == 0


def test_a_tick_sends_a_bounded_number_of_frames_within_its_budget():
    journal, writer, backlog = new_rig()
    passages(writer, 20)
    live_out(writer)
    backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    live_out(writer)
    uart = FakeUART()
    backlog.pump(uart, BIG_BUDGET)
    assert len(payloads(sent(uart))) == FRAMES_PER_TICK
    small = FakeUART()
    assert backlog.pump(small, 20) == 0  # a replayed passage is 20 bytes: the budget is short


def test_a_download_after_an_acknowledgement_resumes_after_it():
    journal, writer, backlog = new_rig()
    seqs = passages(writer, 6)
    live_out(writer)
    assert backlog.acknowledge(BOOT << 16 | seqs[3])
    backlog.start(BACKLOG_UNACKNOWLEDGED, 0, TAG)
    uart = FakeUART()
    download(backlog, uart)
    replayed = [f[4] | f[5] << 8 for f in payloads(sent(uart))]
    assert replayed == seqs[4:]


def test_a_download_from_a_key_starts_at_that_record():
    journal, writer, backlog = new_rig()
    seqs = passages(writer, 6)
    live_out(writer)
    backlog.start(BACKLOG_FROM, BOOT << 16 | seqs[2], TAG)
    uart = FakeUART()
    download(backlog, uart)
    assert [f[4] | f[5] << 8 for f in payloads(sent(uart))] == seqs[2:]


def test_an_unknown_start_key_is_refused_and_nothing_runs():
    journal, writer, backlog = new_rig()
    assert not backlog.start(9, 0, TAG)
    assert not backlog.active
