"""The Gate as main.run() builds it (storage on) ticks without allocating: walkers, sensor reads,
commands arriving, journal appending, records draining, under micropython.heap_lock(), also
from a ticks_ms near its wrap and after uptimes past 2**30 ms and 2**30 centiseconds. The flash
work (journal flushes, counter commits) runs outside the tick, as Gate.run() does it: between
two locked ticks, and the test shows it happened. Both interpreters (the lock only bites on
MicroPython; the unix port's small ints are 63-bit, so the emulated Pico tier repeats this).
"""

import micropython

import protocol
from fakes_board import CommandUART, FakeBoard
from fakes_service import command_frame
from flashdev import scratch_dir
from gate import Gate
from storage import Storage

TICK = 10
WRAP = 1 << 30
TICKS = 10_000


def _lock():
    lock = getattr(micropython, "heap_lock", None)
    if lock is not None:
        lock()


def _unlock():
    unlock = getattr(micropython, "heap_unlock", None)
    if unlock is not None:
        unlock()


def run_locked(start_ms=0, uptime_s=0, ticks=TICKS):
    board = FakeBoard(start_ms=start_ms)
    board.uart = CommandUART()
    gate = Gate(board, storage=Storage.open(scratch_dir(128)))
    if uptime_s:
        gate.uptime_s = uptime_s
        gate.uptime_cs = (uptime_s * 100) & 0x3FFFFFFF
    status = command_frame(protocol.CMD_STATUS, tag=7)
    get_config = command_frame(protocol.CMD_GET_CONFIG, key=protocol.KEY_EMISSIVITY, tag=8)
    journal = gate.journal
    flushes = journal.flushes
    appended = journal.appended
    received = gate.commands.received
    people = gate.control.people_in + gate.control.people_out
    written = gate.writer.written + gate.writer.frames()
    chattered = gate.writer.chattered
    for i in range(ticks):
        phase = i % 200
        if phase == 0:
            board.i2c.object_raw = 15467 + i % 7
            board.beam_a.drive(0)
        elif phase == 20:
            board.beam_a.drive(1)
        elif phase == 80:
            board.beam_b.drive(0)
        elif phase == 100:
            board.beam_b.drive(1)
        elif phase == 150:
            board.uart.send(status if i % 400 < 200 else get_config)
        board.now = (board.now + TICK) & (WRAP - 1)
        _lock()
        try:
            gate.tick(board.now)
        finally:
            _unlock()
        gate.after_tick(board.now)  # outside the tick, as Gate.run() does
    c = gate.control
    assert c.people_in + c.people_out - people == ticks // 200
    assert gate.commands.received - received == ticks // 200
    assert gate.commands.bad_frames == 0
    # each passage, and before it the marker of the command answers (link chatter) before it
    assert journal.appended - appended >= ticks // 200 * 2
    assert gate.writer.chattered - chattered > ticks // 200 * 4  # answers: on the link only
    assert journal.flushes - flushes >= ticks // 200 // 4
    assert gate.writer.dropped == 0
    # every record went to the UART (or waits in the ring): journaled, or chatter
    assert gate.writer.written + gate.writer.frames() - written == (
        journal.appended - appended + gate.writer.chattered - chattered
    )
    assert 0 <= gate.uptime_cs < WRAP and 0 <= gate.writer.t_cs < WRAP
    return gate


def test_ten_thousand_ticks_with_storage_and_commands_allocate_nothing():
    run_locked()


def test_ticks_from_near_the_ticks_wrap_allocate_nothing():
    run_locked(start_ms=WRAP - 3000)


def test_ticks_after_2_30_ms_of_uptime_allocate_nothing():
    run_locked(uptime_s=(1 << 30) // 1000 + 7)


def test_ticks_across_2_30_centiseconds_of_uptime_allocate_nothing():
    gate = run_locked(uptime_s=(1 << 30) // 100 - 20)  # t_cs wraps 20 s into the run
    assert gate.uptime_cs < 100 * 100
