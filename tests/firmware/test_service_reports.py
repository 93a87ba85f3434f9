"""What the gate reports about itself to a technician (issue 13, points 8, 10 and 14), on both
interpreters: its firmware version and clock (GET_CONFIG 219 and 220), how long a wrong-PIN
lock has left (CONFIG 222 before the refusal), what the sensor read when a calibration is
refused (CONFIG 223 and 224 before the refusal); the clock and the lock answered under
heap_lock by the Gate as main.run() builds it."""

import micropython

import commands
import protocol as p
from fakes_board import CommandUART, FakeBoard
from fakes_service import command_frame
from flashdev import scratch_dir
from gate import Gate
from storage import Storage
from test_commands import PIN, UNIX_S, WRONG, Rig, refused

SHANGHAI_QH = 32  # UTC+08:00 in quarter hours, the TIME_SYNC key


def configs_sent(rig, since):
    return rig.writer.configs[since:]


def test_get_config_of_the_firmware_version_is_the_boot_records_version():
    rig = Rig()
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_FW_VERSION)[1] == p.REPLY_OK
    assert rig.writer.configs[-1] == (p.KEY_FW_VERSION, p.FW_VERSION)


def test_the_clock_of_a_gate_never_set_is_day_0_without_an_offset():
    rig = Rig()
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_CLOCK_DAY)[1] == p.REPLY_OK
    assert rig.writer.configs == [(p.KEY_CLOCK_DAY, 0), (p.KEY_CLOCK_SECOND, 0)]


def test_the_clock_is_the_sites_day_and_second_with_its_offset_once_set():
    rig = Rig()
    rig.tick(5000)  # uptime 5 s
    rig.send(p.CMD_TIME_SYNC, PIN, key=SHANGHAI_QH, value=UNIX_S + 16 * 3600)  # 00:00 there
    rig.tick(3 * 3600 * 1000 + 2000)  # three hours and two seconds later
    n = len(rig.writer.configs)
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_CLOCK_SECOND)[1] == p.REPLY_OK
    assert configs_sent(rig, n) == [
        (p.KEY_UTC_OFFSET, 480),
        (p.KEY_CLOCK_DAY, UNIX_S // 86400 + 1),  # 2026-01-02 in Shanghai
        (p.KEY_CLOCK_SECOND, 3 * 3600 + 2),
    ]


def test_the_values_the_gate_reports_are_read_only():
    rig = Rig()
    for key in range(p.KEY_FW_VERSION, p.KEY_CAL_SPREAD + 1):
        assert rig.send(p.CMD_SET_CONFIG, PIN, key, 1) == refused(
            p.CMD_SET_CONFIG, p.REASON_READ_ONLY
        )


def test_the_wrong_pin_that_locks_and_a_locked_refusal_say_how_long_is_left():
    rig = Rig()
    for _ in range(commands.BAD_PIN_LIMIT - 1):
        rig.send(p.CMD_TIME_SYNC, WRONG, value=UNIX_S)
    assert all(key != p.KEY_LOCK_LEFT_S for key, _ in rig.writer.configs)  # not locked yet
    n = len(rig.writer.configs)
    assert rig.send(p.CMD_TIME_SYNC, WRONG, value=UNIX_S)[2] == p.REASON_BAD_PIN
    assert configs_sent(rig, n) == [(p.KEY_LOCK_LEFT_S, commands.LOCK_MS // 1000)]
    rig.tick(19_500)
    n = len(rig.writer.configs)
    assert rig.send(p.CMD_TIME_SYNC, PIN, value=UNIX_S) == refused(
        p.CMD_TIME_SYNC, p.REASON_LOCKED
    )
    assert configs_sent(rig, n) == [(p.KEY_LOCK_LEFT_S, 41)]  # 40.49 s left, rounded up
    rig.tick(480)
    n = len(rig.writer.configs)
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_LOCK_LEFT_S)[1] == p.REPLY_OK
    assert configs_sent(rig, n) == [(p.KEY_LOCK_LEFT_S, 40)]  # 40.00 s left
    rig.tick(commands.LOCK_MS)
    n = len(rig.writer.configs)
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_LOCK_LEFT_S)[1] == p.REPLY_OK
    assert configs_sent(rig, n) == [(p.KEY_LOCK_LEFT_S, 0)]


def test_an_unstable_calibration_is_refused_with_the_median_and_spread_it_read():
    rig = Rig()
    rig.sensor.readings = [3650, 3710] * 20  # 21 readings, over the 0.50 C band
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    n = len(rig.writer.configs)
    assert rig.run_until_reply() == refused(p.CMD_CALIBRATE, p.REASON_UNSTABLE)
    assert configs_sent(rig, n) == [(p.KEY_CAL_MEDIAN, 3650), (p.KEY_CAL_SPREAD, 60)]


def test_a_calibration_far_from_the_reference_is_refused_with_what_the_sensor_read():
    rig = Rig()
    rig.sensor.object_cc = 2210  # the room behind, not the reference
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    n = len(rig.writer.configs)
    assert rig.run_until_reply() == refused(p.CMD_CALIBRATE, p.REASON_RANGE)
    assert configs_sent(rig, n) == [(p.KEY_CAL_MEDIAN, 2210), (p.KEY_CAL_SPREAD, 0)]


def test_a_calibration_someone_walked_into_sends_no_reading():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    rig.tick(500)
    rig.control.inside = 1
    n = len(rig.writer.configs)
    assert rig.run_until_reply() == refused(p.CMD_CALIBRATE, p.REASON_BUSY)
    assert configs_sent(rig, n) == []


def _locked_tick(gate, board, ticks):
    lock = getattr(micropython, "heap_lock", None)
    for _ in range(ticks):
        board.now += 10
        if lock is not None:
            lock()
        try:
            gate.tick(board.now)
        finally:
            if lock is not None:
                micropython.heap_unlock()
        gate.after_tick(board.now)


def test_the_clock_and_a_locked_refusal_are_answered_without_allocating():
    board = FakeBoard()
    board.uart = CommandUART()
    gate = Gate(board, storage=Storage.open(scratch_dir(128)))
    frames = [command_frame(p.CMD_TIME_SYNC, PIN, SHANGHAI_QH, UNIX_S, tag=1)]
    for tag in range(2, 2 + commands.BAD_PIN_LIMIT):  # wrong PINs: persisted, outside the lock
        frames.append(command_frame(p.CMD_TIME_SYNC, WRONG, 0, UNIX_S, tag=tag))
    for frame in frames:  # the gate takes one frame a tick
        board.uart.send(frame)
        for _ in range(3):
            board.now += 10
            gate.tick(board.now)
            gate.after_tick(board.now)
    assert gate.commands.locked and gate.commands.synced
    received = gate.commands.received
    clock = command_frame(p.CMD_GET_CONFIG, 0, p.KEY_CLOCK_DAY, 0, tag=20)
    locked = command_frame(p.CMD_SET_CONFIG, PIN, 1, 3800, tag=21)  # small ints only
    left = command_frame(p.CMD_GET_CONFIG, 0, p.KEY_LOCK_LEFT_S, 0, tag=22)
    version = command_frame(p.CMD_GET_CONFIG, 0, p.KEY_FW_VERSION, 0, tag=23)
    for frame in (clock, locked, left, version):
        board.uart.send(frame)
        _locked_tick(gate, board, 20)
    assert gate.commands.received - received == 4
    assert gate.commands.locked
