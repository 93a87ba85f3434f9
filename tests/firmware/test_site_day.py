"""The gate's "today" is the site's day: a Shanghai gate's daily count restarts at local
midnight, not at 08:00 (issue 12, defect 11). Both interpreters."""

import protocol as p
from fakes_board import FakeBoard
from fakes_service import DuplexUART, command_frame
from flashdev import scratch_dir
from gate import Gate
from storage import Storage
from walkers import advance, walk_in

UNIX_S = 1767225600  # 2026-01-01T00:00:00Z
SHANGHAI_QH = 32  # UTC+08:00 in quarter hours (TIME_SYNC key)


def today_in_store(gate):
    gate.commit_counters()
    return gate.storage.persist.get("people_in_today")


def gate_synced_at(unix_s, key):
    board = FakeBoard()
    board.uart = DuplexUART()
    gate = Gate(board, storage=Storage.open(scratch_dir()))
    board.uart.feed(command_frame(p.CMD_TIME_SYNC, p.PIN_DEFAULT, key, unix_s))
    advance(board, gate, 100)
    assert gate.commands.synced
    return board, gate


def test_a_shanghai_sites_count_restarts_at_local_midnight():
    board, gate = gate_synced_at(UNIX_S + 15 * 3600 + 58 * 60, SHANGHAI_QH)  # 23:58 local
    walk_in(board, gate, after_ms=300)
    walk_in(board, gate, after_ms=300)
    assert today_in_store(gate) == 2
    advance(board, gate, 120000)  # 00:00 in Shanghai (16:00 UTC)
    walk_in(board, gate, after_ms=300)
    assert today_in_store(gate) == 1


def test_a_shanghai_sites_count_does_not_restart_at_08_00():
    board, gate = gate_synced_at(UNIX_S - 2 * 60, SHANGHAI_QH)  # 07:58 local, 23:58 UTC
    walk_in(board, gate, after_ms=300)
    advance(board, gate, 120000)  # 00:00 UTC, 08:00 in Shanghai: the same local day
    walk_in(board, gate, after_ms=300)
    assert today_in_store(gate) == 2
