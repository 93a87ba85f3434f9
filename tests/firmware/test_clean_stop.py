"""A clean stop (CMD_STOP, or the board's power-fail signal) before the power goes: everything
on flash, the session marked ended, so the next boot is a plain power-on; a gate unplugged
without one is a power cut (issue 12, defect 15). Both interpreters."""

import protocol as p
from fakes_board import FakeBoard
from fakes_service import DuplexUART, command_frame
from flashdev import scratch_dir
from gate import Gate
from storage import Storage
from support import payloads
from walkers import advance, walk_in

CMD_STOP = getattr(p, "CMD_STOP", 14)


def boot(root, power_failing=None):
    board = FakeBoard()
    board.uart = DuplexUART()
    if power_failing is not None:
        board.power_failing = power_failing
    gate = Gate(board, storage=Storage.open(root))
    gate.step(board.now)
    return board, gate


def sent(board):
    return payloads(board.uart.data[: board.uart.written])


def replies(board, command):
    """(status, reason, tag) of every REPLY to `command`."""
    out = []
    for payload in sent(board):
        if payload[0] & p.TYPE_MASK == p.REPLY and payload[7] == command:
            tag = payload[10] | payload[11] << 8 | payload[12] << 16 | payload[13] << 24
            out.append((payload[8], payload[9], tag))
    return out


def reset_cause(board):
    first = sent(board)[0]
    assert first[0] & p.TYPE_MASK == p.BOOT
    return first[7]


def journaled_kinds(journal):
    """The record type of every frame the journal kept (read from its start)."""
    cursor = journal.read_unacknowledged()
    buf = bytearray(64)
    kinds = []
    for _ in range(10000):
        n = cursor.next_into(buf)
        if n:
            kinds.append(buf[0] & p.TYPE_MASK)
        elif cursor.at_end:
            return kinds
    raise AssertionError("the journal cursor never reached its end")


def test_a_boot_after_a_stop_command_is_a_plain_power_on():
    root = scratch_dir()
    board, gate = boot(root)
    board.uart.feed(command_frame(CMD_STOP, p.PIN_DEFAULT, tag=41))
    advance(board, gate, 500)
    assert replies(board, CMD_STOP)[-1] == (p.REPLY_OK, p.REASON_NONE, 41)
    board, gate = boot(root)  # the technician unplugs it and plugs it in again
    assert reset_cause(board) == p.RESET_POWER_ON


def test_unplugged_without_a_clean_stop_is_a_power_cut():
    root = scratch_dir()
    boot(root)  # and the plug is pulled
    board, gate = boot(root)
    assert reset_cause(board) == p.RESET_POWER_CUT


def test_what_was_counted_is_on_flash_when_the_stop_is_answered():
    root = scratch_dir()
    board, gate = boot(root)
    walk_in(board, gate, after_ms=300)
    board.uart.feed(command_frame(CMD_STOP, p.PIN_DEFAULT, tag=42))
    advance(board, gate, 500)
    assert replies(board, CMD_STOP)[-1][0] == p.REPLY_OK
    assert board.pump.state == 0 and board.buzzer.state == 0
    after = Storage.open(root)
    assert after.persist.get("people_in_total") == 1
    assert p.PASSAGE in journaled_kinds(after.journal)


def test_a_stopped_gate_counts_nobody_and_keeps_its_outputs_off():
    root = scratch_dir()
    board, gate = boot(root)
    board.uart.feed(command_frame(CMD_STOP, p.PIN_DEFAULT, tag=43))
    advance(board, gate, 500)
    written = board.uart.written
    walk_in(board, gate, after_ms=300)
    assert gate.control.people_in == 0
    assert board.pump.state == 0
    assert board.uart.written == written


def test_a_stop_with_a_wrong_pin_changes_nothing():
    root = scratch_dir()
    board, gate = boot(root)
    board.uart.feed(command_frame(CMD_STOP, p.PIN_DEFAULT + 1, tag=44))
    advance(board, gate, 500)
    assert replies(board, CMD_STOP)[-1] == (p.REPLY_REFUSED, p.REASON_BAD_PIN, 44)
    walk_in(board, gate, after_ms=300)
    assert gate.control.people_in == 1


def test_the_boards_power_fail_signal_stops_the_gate_cleanly():
    root = scratch_dir()
    failing = [False]
    board, gate = boot(root, power_failing=lambda: failing[0])
    walk_in(board, gate, after_ms=300)
    failing[0] = True  # the hold-up supply says the power is going
    advance(board, gate, 100)
    board, gate = boot(root)
    assert reset_cause(board) == p.RESET_POWER_ON
    assert Storage.open(root).persist.get("people_in_total") == 1
