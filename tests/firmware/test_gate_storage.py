"""The Gate with its flash storage (storage.py): boot count, power-cut boots, persisted
counters, every record journaled, journal losses reported. Both interpreters."""

import struct

import persist
import protocol
from fakes_board import FakeBoard, raw_from_cc
from fakes_service import command_frame
from flashdev import scratch_dir
from gate import COMMIT_MS, FLUSH_MS, Gate
from storage import Storage
from support import sent_payloads
from walkers import TICK, advance, walk_in


def boot(root, **kw):
    board = FakeBoard()
    gate = Gate(board, storage=Storage.open(root, **kw))
    gate.step(board.now)
    return board, gate


def records(board):
    """(type, payload) of every frame the board's UART sent."""
    return [(payload[0] & 0x1F, payload) for payload in sent_payloads(board.uart)]


def boot_record(board):
    kind, payload = records(board)[0]
    assert kind == protocol.BOOT
    return payload[7], payload[12] | payload[13] << 8  # reset_cause, boot_count


def test_every_boot_counts_one_more_and_says_so_in_the_boot_record():
    root = scratch_dir()
    board, gate = boot(root)
    assert boot_record(board)[1] == 1
    gate.shutdown()
    board, gate = boot(root)
    assert boot_record(board)[1] == 2


def test_a_boot_after_a_session_that_never_shut_down_is_a_power_cut():
    root = scratch_dir()
    boot(root)  # and the power goes
    board, gate = boot(root)
    assert boot_record(board)[0] == protocol.RESET_POWER_CUT


def test_a_boot_after_a_clean_shutdown_is_a_plain_power_on():
    root = scratch_dir()
    board, gate = boot(root)
    gate.shutdown()
    board, gate = boot(root)
    assert boot_record(board)[0] == protocol.RESET_POWER_ON


def test_counted_people_are_committed_and_found_by_the_next_boot():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    walk_in(board, gate, after_ms=300)
    advance(board, gate, COMMIT_MS)
    state = persist.Persist(root + "/state")
    state.load()
    assert state.get("people_in_total") == 2
    assert state.get("people_in_today") == 2


def test_counters_not_yet_committed_are_the_last_committed_values_after_a_cut():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    advance(board, gate, COMMIT_MS)
    walk_in(board, gate, after_ms=300)  # power cut before the next commit
    state = persist.Persist(root + "/state")
    state.load()
    assert state.get("people_in_total") == 1


def test_every_record_sent_is_in_the_journal_after_a_flush():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    advance(board, gate, FLUSH_MS)
    assert gate.journal.pending == 0
    assert gate.journal.appended == gate.writer.sent


def test_records_the_journal_deleted_before_a_download_are_reported_as_a_loss():
    root = scratch_dir()
    board, gate = boot(root, segment_bytes=80, max_segments=2)
    for _ in range(12):
        walk_in(board, gate, after_ms=300)
        gate.flush_journal(board.now)
    advance(board, gate, TICK)
    losses = [
        p
        for kind, p in records(board)
        if kind == protocol.FAULT and p[7] == protocol.FAULT_JOURNAL_LOSS
    ]
    assert losses
    assert gate.journal_lost == gate.journal.dropped_records > 0


def test_the_gate_runs_without_a_filesystem_and_reports_it():
    board = FakeBoard()
    not_a_directory = scratch_dir() + "/a_file"
    with open(not_a_directory, "w") as f:
        f.write("x")
    storage = Storage.open(not_a_directory)
    gate = Gate(board, storage=storage)
    walk_in(board, gate, after_ms=300)
    faults = [p for kind, p in records(board) if kind == protocol.FAULT]
    assert faults[0][7] == protocol.FAULT_STORAGE
    assert gate.control.people_in == 1


# -- the persisted counters are restored at boot (defect 9) --


def status_now(board, gate):
    """The fields of a STATUS record the gate sends now, by name."""
    gate._status()
    advance(board, gate, TICK)
    payload = [p for kind, p in records(board) if kind == protocol.STATUS][-1]
    values = struct.unpack(protocol.STATUS_FORMAT, payload)[3:]
    return {name: values[i] for i, name in enumerate(protocol.STATUS_FIELDS)}


def test_status_after_a_reboot_reports_the_people_counted_before_it():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    walk_in(board, gate, after_ms=300)
    gate.shutdown()
    board, gate = boot(root)
    status = status_now(board, gate)
    assert (status["people_in"], status["people_in_today"]) == (2, 2)
    walk_in(board, gate, after_ms=300)
    status = status_now(board, gate)
    assert (status["people_in"], status["people_in_today"]) == (3, 3)


def test_counters_committed_before_a_power_cut_are_restored():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    advance(board, gate, COMMIT_MS)  # committed, then the power goes
    board, gate = boot(root)
    assert status_now(board, gate)["people_in"] == 1


def test_today_restarts_at_a_new_day_and_the_total_goes_on():
    root = scratch_dir()
    board, gate = boot(root)
    day_s = 86400
    board.uart.feed(
        command_frame(
            protocol.CMD_TIME_SYNC, pin=protocol.PIN_DEFAULT, value=20000 * day_s + day_s - 30
        )
    )
    advance(board, gate, TICK * 3)
    walk_in(board, gate, after_ms=300)
    advance(board, gate, 40_000)  # past midnight
    walk_in(board, gate, after_ms=300)
    status = status_now(board, gate)
    assert (status["people_in"], status["people_in_today"]) == (2, 1)


def reset_counters(board, gate):
    board.uart.feed(command_frame(protocol.CMD_RESET_COUNTERS, pin=protocol.PIN_DEFAULT))
    advance(board, gate, TICK * 3)


def test_a_counter_reset_is_an_explicit_record_and_survives_a_reboot():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    walk_in(board, gate, after_ms=300)
    walk_in(board, gate, after_ms=300)
    gate.shutdown()
    board, gate = boot(root)  # 3 people from the last boot
    walk_in(board, gate, after_ms=300)
    advance(board, gate, COMMIT_MS)
    reset_counters(board, gate)
    resets = [
        p
        for kind, p in records(board)
        if kind == protocol.CONFIG and p[7] == protocol.KEY_COUNTERS_RESET
    ]
    assert len(resets) == 1
    assert struct.unpack_from("<i", resets[0], 8)[0] == 4  # the total it cleared
    # as many people as before the reset pass before the next commit: still a reset
    walk_in(board, gate, after_ms=300)
    advance(board, gate, COMMIT_MS)
    gate.shutdown()
    board, gate = boot(root)
    status = status_now(board, gate)
    assert (status["people_in"], status["people_in_today"]) == (1, 1)


# -- a power cut loses no passage and no alarm (defect 10) --


def journaled(root):
    """(boot, seq, type) of every entry the journal under `root` holds, as the next boot
    finds it."""
    import journal

    j = journal.Journal.open(root + "/journal")
    cursor = j.read_from(0, 0)
    buf = bytearray(journal.MAX_FRAME)
    out = []
    while True:
        n = cursor.next_into(buf, 64)
        if n == 0:
            if cursor.at_end:
                break
            continue
        out.append((cursor.boot, cursor.seq, buf[0] & 0x1F))
    cursor.close()
    return out


def test_a_passage_and_its_alarm_are_on_flash_right_after_the_tick_that_made_them():
    root = scratch_dir()
    board, gate = boot(root)
    board.i2c.object_raw = raw_from_cc(3850)  # a fever
    board.beam_a.drive(0)
    advance(board, gate, 200)
    board.beam_a.drive(1)
    advance(board, gate, 600)
    board.beam_b.drive(0)
    advance(board, gate, 200)
    board.beam_b.drive(1)
    passages = gate.control.people_in
    while gate.control.people_in == passages:  # up to the tick that writes the passage
        advance(board, gate, TICK)
    # the power goes now: no further tick, no shutdown
    kinds = [kind for _, _, kind in journaled(root)]
    assert kinds.count(protocol.PASSAGE) == 1
    assert kinds.count(protocol.ALARM) == 1


def test_the_next_boot_says_how_far_the_previous_boots_journal_got():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    last_boot, last_seq, _ = journaled(root)[-1]
    board, gate = boot(root)  # after a power cut
    ends = [
        struct.unpack_from("<i", p, 8)[0]
        for kind, p in records(board)
        if kind == protocol.CONFIG and p[7] == protocol.KEY_JOURNAL_END
    ]
    assert ends == [last_boot << 16 | last_seq]
    assert last_boot == 1 and last_seq > 0


def flood_while_walking(command, key=0, frames_per_walker=20):
    """Ten walkers (every other one a fever), `frames_per_walker` free commands sent back to
    back before each, on a journal of three 512-byte segments; the journal's kinds after."""
    root = scratch_dir()
    board, gate = boot(root, segment_bytes=512, max_segments=3)
    for i in range(10):
        for _ in range(frames_per_walker):
            board.uart.feed(command_frame(command, key=key))
        board.i2c.object_raw = raw_from_cc(3800 if i % 2 else 3620)
        board.beam_a.drive(0)
        advance(board, gate, 200)
        board.beam_a.drive(1)
        advance(board, gate, 600)
        board.beam_b.drive(0)
        advance(board, gate, 200)
        board.beam_b.drive(1)
        board.i2c.object_raw = raw_from_cc(2200)
        advance(board, gate, 1300)
    advance(board, gate, FLUSH_MS)
    assert gate.commands.received == 10 * frames_per_walker
    assert gate.control.people_in == 10
    return root, gate, [kind for _, _, kind in journaled(root)]


def test_a_get_config_flood_never_pushes_a_passage_or_an_alarm_out_of_the_journal():
    root, gate, kinds = flood_while_walking(protocol.CMD_GET_CONFIG, key=protocol.KEY_ALL)
    assert gate.writer.sent > 1000  # the flood was answered on the link
    assert kinds.count(protocol.PASSAGE) == 10
    assert kinds.count(protocol.ALARM) == 5
    assert gate.journal.dropped_records == 0  # the ring deleted nothing


def test_a_status_flood_never_pushes_a_passage_or_an_alarm_out_of_the_journal():
    root, gate, kinds = flood_while_walking(protocol.CMD_STATUS)
    assert gate.writer.sent > 500  # each answer: identity, STATUS, calibration, REPLY
    assert kinds.count(protocol.PASSAGE) == 10
    assert kinds.count(protocol.ALARM) == 5
    assert gate.journal.dropped_records == 0


def test_the_journal_accounts_for_every_number_of_the_flood_it_did_not_keep():
    """What the journal kept, with its chatter markers, covers every sequence number the gate
    used: a host downloading it sees no gap."""
    root, gate, kinds = flood_while_walking(protocol.CMD_GET_CONFIG, frames_per_walker=5)
    import journal

    j = journal.Journal.open(root + "/journal")
    cursor = j.read_from(0, 0)
    buf = bytearray(journal.MAX_FRAME)
    covered = 0  # the sequence numbers before this one are kept or covered by a marker
    markers = 0
    while True:
        n = cursor.next_into(buf, 64)
        if n == 0:
            if cursor.at_end:
                break
            continue
        assert cursor.boot == 1
        first = cursor.seq
        if buf[0] & 0x1F == protocol.CONFIG and buf[7] == protocol.KEY_CHATTER:
            first -= struct.unpack_from("<i", buf, 8)[0]
            markers += 1
        assert first == covered
        covered = cursor.seq + 1
    assert markers >= 10 and gate.writer.chattered > 0
    assert covered == gate.writer.seq  # up to the last record the gate made
