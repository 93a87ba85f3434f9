"""The Gate's flash work waits for an idle channel and comes in bounded steps (issue 11, item 5).

A flash erase stalls a Pico for 45 ms, several tick periods: the journal flushes, the counter
commits and the gc.mem_free() samples after the tick (Gate.after_tick) wait while anyone is in
the channel, unless the journal's RAM buffer is nearly full or the wait has lasted
FLASH_WAIT_MAX_MS; a journal segment change is a loop pass of its own. A passage or an alarm is
the exception: it is on flash before the next tick's sample, whoever is inside (issue 12,
defect 10). Both interpreters.
"""

from fakes_board import FakeBoard, raw_from_cc
from flashdev import scratch_dir
from gate import FLASH_WAIT_MAX_MS, FLUSH_RECORDS, WORK_FLUSH, Gate
from storage import Storage
from walkers import TICK, advance

FEVER_KEY = 1  # fever_threshold_cc (config.py)


def boot(root, **kw):
    board = FakeBoard()
    gate = Gate(board, storage=Storage.open(root, **kw))
    gate.step(board.now)
    advance(board, gate, 1000)  # the boot's own records flushed
    return board, gate


def records(gate, n):
    """`n` records the host did not ask for, journaled (CONFIG of the fever threshold)."""
    for _ in range(n):
        gate.writer.config(FEVER_KEY, 3730)


def enter(board, gate):
    """A person steps through beam A and stands inside (a verdict pending)."""
    board.i2c.object_raw = raw_from_cc(3620)
    board.beam_a.drive(0)
    advance(board, gate, 200)
    board.beam_a.drive(1)
    advance(board, gate, 100)


def leave(board, gate):
    board.beam_b.drive(0)
    advance(board, gate, 200)
    board.beam_b.drive(1)
    board.i2c.object_raw = raw_from_cc(2200)
    advance(board, gate, 200)


def test_a_due_flush_waits_while_someone_is_in_the_channel_and_follows_when_they_leave():
    board, gate = boot(scratch_dir())
    journal = gate.journal
    enter(board, gate)
    assert gate.control.inside == 1
    flushes = journal.flushes
    records(gate, FLUSH_RECORDS + 2)  # a flush is due
    advance(board, gate, 300)
    assert journal.flushes == flushes and journal.pending >= FLUSH_RECORDS
    assert not gate.channel_idle(board.now)
    leave(board, gate)
    assert gate.control.people_in == 1
    assert journal.flushes > flushes and journal.pending == 0


def test_a_counter_commit_waits_while_someone_is_in_the_channel():
    board, gate = boot(scratch_dir())
    enter(board, gate)
    gate.counters.urgent = True  # as after a reset: a commit is due at once
    advance(board, gate, 300)
    assert gate.counters.urgent  # still waiting
    leave(board, gate)
    assert not gate.counters.urgent


def test_a_nearly_full_journal_buffer_is_flushed_even_while_someone_is_inside():
    board, gate = boot(scratch_dir())
    journal = gate.journal
    enter(board, gate)
    flushes = journal.flushes
    while not journal.nearly_full():
        records(gate, 1)
    assert gate.work_due(board.now) == WORK_FLUSH
    advance(board, gate, TICK)
    assert journal.flushes == flushes + 1 and journal.pending == 0
    assert gate.control.inside == 1
    leave(board, gate)
    assert gate.control.people_in == 1 and journal.dropped_records == 0


def test_flash_work_waits_for_an_idle_channel_no_longer_than_flash_wait_max_ms():
    board, gate = boot(scratch_dir())
    journal = gate.journal
    board.beam_b.drive(0)  # a beam blocked for good (stuck): the channel is never idle
    advance(board, gate, 200)
    flushes = journal.flushes
    records(gate, FLUSH_RECORDS)
    advance(board, gate, FLASH_WAIT_MAX_MS - 500)
    assert journal.flushes == flushes
    advance(board, gate, 1000)
    assert journal.flushes > flushes and journal.pending == 0


def test_a_journal_segment_change_is_a_loop_pass_of_its_own():
    board, gate = boot(scratch_dir(), segment_bytes=200)
    journal = gate.journal
    changes = 0
    for _ in range(12):
        records(gate, FLUSH_RECORDS)
        for _ in range(20):  # the records go out on the UART (no flash work in a tick)
            board.now += TICK
            gate.tick(board.now)
        appended = journal.appended
        while journal.pending:
            segments = journal.segments
            pending = journal.pending
            due = journal.rotation_due()
            assert gate.after_tick(board.now)
            if due:  # the segment change alone: nothing written
                assert journal.pending == pending and not journal.rotation_due()
                changes += 1
            else:  # one write, up to the segment's end: no segment change
                assert journal.segments == segments and journal.pending < pending
        assert journal.appended == appended
    assert changes >= 5
    assert journal.dropped_records == 0 and gate.journal_lost == 0


def test_a_passage_is_flushed_at_once_even_while_the_next_walker_is_inside():
    board, gate = boot(scratch_dir())
    journal = gate.journal
    enter(board, gate)  # the first walker, inside
    board.beam_b.drive(0)
    advance(board, gate, 200)
    board.beam_a.drive(0)  # the next one steps in while the first leaves
    advance(board, gate, 100)
    board.beam_b.drive(1)
    board.beam_a.drive(1)
    passages = gate.control.people_in
    while gate.control.people_in == passages:  # up to the tick that writes the passage
        flushes = journal.flushes
        advance(board, gate, TICK)
    assert gate.control.inside == 1 and not gate.channel_idle(board.now)
    assert journal.flushes > flushes and not journal.urgent  # flushed after that very tick
