"""Service commands (commands.py) from frame to reply, on both interpreters."""

import micropython

import commands
import protocol as p
from commands import Commands, SettingsStore
from config import Config
from control import Control
from fake_writer import FakeWriter
from fakes_service import (
    FakeBeam,
    FakeControl,
    FakeSensor,
    MemoryStore,
    RecordingWriter,
    RxUART,
    command_frame,
)
from flashdev import scratch_dir
from frame import cobs_decode_in_place

PIN = p.PIN_DEFAULT
WRONG = PIN + 1
FEVER_KEY = 1  # fever_threshold_cc
UNIX_S = 1767225600  # 2026-01-01T00:00:00Z, day 20454


class Rig:
    """Commands with fakes around it; with `real_control` a real Control (the pump's guard)
    ticked before the commands as Gate.step does, the beams `occupied`, the tank `tank_ok`."""

    def __init__(self, store=None, real_control=False):
        self.uart = RxUART()
        self.writer = RecordingWriter()
        self.config = Config()
        self.store = store
        self.cmds = Commands(self.uart, self.writer, self.config, store)
        self.sensor = FakeSensor()
        self.real_control = real_control
        self.control = Control(self.config, FakeWriter(), 100) if real_control else FakeControl()
        self.tank_ok = True
        self.occupied = False
        self.beam = FakeBeam()
        self.cmds.attach(self.sensor, self.control, self.beam, self.writer.status)
        self.now = 0

    def tick(self, ms=10):
        self.now += ms
        if self.real_control:
            self.control.tick(self.now, 0, self.occupied, p.DIR_UNKNOWN, self.tank_ok)
        else:
            self.control.pump = 0
            self.control.buzzer = 0
        self.cmds.tick(self.now, self.now // 1000)

    def send(self, command, pin=0, key=0, value=0, tag=7, **kw):
        """Send one command, run one tick; return the last REPLY (command, status, reason, arg)."""
        self.uart.feed(command_frame(command, pin, key, value, tag, **kw))
        self.tick()
        return self.writer.last()

    def run_until_reply(self, limit_ms=10000):
        n = len(self.writer.replies)
        for _ in range(limit_ms // 10):
            self.tick()
            if len(self.writer.replies) > n:
                return self.writer.last()
        raise AssertionError("no reply")


def ok(command, tag=7):
    return (command, p.REPLY_OK, p.REASON_NONE, tag)


def refused(command, reason, tag=7):
    return (command, p.REPLY_REFUSED, reason, tag)


# -- framing --


def test_cobs_decode_in_place_inverts_the_encoder():
    frame = command_frame(p.CMD_STATUS, tag=0)  # a zero tag puts zeros in the payload
    buf = bytearray(frame[:-1])
    n = cobs_decode_in_place(buf, len(buf))
    assert n == p.COMMAND_SIZE + 2
    assert buf[0] == 1 << 5 | p.COMMAND
    assert buf[1] == 0 and buf[2] == 0


def test_cobs_decode_rejects_a_code_pointing_past_the_end():
    assert cobs_decode_in_place(bytearray(b"\x05\x01\x02"), 3) == -1


def test_every_command_frame_gets_one_reply_carrying_its_tag():
    rig = Rig()
    assert rig.send(p.CMD_STATUS, tag=4321) == ok(p.CMD_STATUS, 4321)
    assert len(rig.writer.replies) == 1


def test_a_frame_split_over_many_ticks_is_answered_once_complete():
    rig = Rig()
    for byte in command_frame(p.CMD_STATUS, tag=9):
        rig.uart.feed(bytes((byte,)))
        rig.tick()
    assert rig.writer.replies == [ok(p.CMD_STATUS, 9)]


def test_two_frames_in_one_read_are_answered_in_order_one_a_tick():
    rig = Rig()
    rig.uart.feed(command_frame(p.CMD_STATUS, tag=1) + command_frame(p.CMD_STATUS, tag=2))
    rig.tick()
    assert [r[3] for r in rig.writer.replies] == [1]
    rig.tick()
    assert [r[3] for r in rig.writer.replies] == [1, 2]
    rig.tick()
    assert [r[3] for r in rig.writer.replies] == [1, 2]


def test_a_burst_of_commands_is_answered_one_a_tick_so_a_tick_writes_at_most_one_answer():
    rig = Rig()
    burst = b"".join(command_frame(p.CMD_STATUS, tag=t) for t in range(1, 4))
    burst += command_frame(p.CMD_GET_CONFIG, tag=4, key=FEVER_KEY)
    rig.uart.feed(burst)
    answered = []
    for _ in range(6):
        before = len(rig.writer.replies)
        rig.tick()
        answered.append(len(rig.writer.replies) - before)
    assert answered == [1, 1, 1, 1, 0, 0]
    assert [r[3] for r in rig.writer.replies] == [1, 2, 3, 4]


def test_bad_crc_is_answered_as_bad_frame_crc_without_a_tag():
    rig = Rig()
    frame = bytearray(command_frame(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800))
    frame[5] ^= 0x01
    rig.uart.feed(frame)
    rig.tick()
    rig.tick()  # the flip made a 0x01 a 0x00: a too-short frame, answered first, then this
    assert rig.writer.last() == (0, p.REPLY_BAD_FRAME, p.REASON_CRC, p.REPLY_NO_TAG)
    assert rig.config.fever_threshold_cc == 3730


def test_short_frame_is_answered_as_bad_frame_length():
    rig = Rig()
    rig.uart.feed(b"\x03\x01\x02\x00")
    rig.tick()
    assert rig.writer.last()[1:3] == (p.REPLY_BAD_FRAME, p.REASON_LENGTH)


def test_overlong_frame_is_answered_as_length_and_the_next_frame_still_works():
    rig = Rig()
    rig.uart.feed(b"\x01" * 40 + b"\x00" + command_frame(p.CMD_STATUS, tag=3))
    rig.tick()
    rig.tick()
    assert rig.writer.replies[0][1:3] == (p.REPLY_BAD_FRAME, p.REASON_LENGTH)
    assert rig.writer.replies[1] == ok(p.CMD_STATUS, 3)


def test_invalid_cobs_is_answered_as_length():
    rig = Rig()
    rig.uart.feed(b"\x20\x01\x02\x03\x04\x05\x06\x07\x08\x09\x00")
    rig.tick()
    assert rig.writer.last()[1:3] == (p.REPLY_BAD_FRAME, p.REASON_LENGTH)


def test_wrong_version_is_answered_as_bad_frame_version_with_the_tag():
    rig = Rig()
    assert rig.send(p.CMD_STATUS, tag=5, version=2) == (0, p.REPLY_BAD_FRAME, p.REASON_VERSION, 5)


def test_a_record_type_other_than_command_is_answered_as_bad_frame_type():
    rig = Rig()
    reply = rig.send(p.CMD_STATUS, kind=p.STATUS)
    assert reply[1:3] == (p.REPLY_BAD_FRAME, p.REASON_TYPE)


def test_unknown_command_is_refused_and_changes_nothing():
    rig = Rig()
    assert rig.send(99, PIN) == refused(99, p.REASON_UNKNOWN_COMMAND)
    assert rig.writer.configs == [] and rig.writer.statuses == 0


def _protocol_command_codes():
    return [getattr(p, name) for name in dir(p) if name.startswith("CMD_")]


def test_every_command_code_of_the_protocol_has_its_own_handler():
    table = getattr(commands, "COMMANDS", {})
    codes = _protocol_command_codes()
    assert sorted(table) == sorted(codes)
    handlers = [table[code][0] for code in codes]
    for handler in handlers:
        assert handlers.count(handler) == 1  # no code shares (falls through to) another's


def test_every_code_without_a_handler_is_refused_as_unknown_whatever_the_pin():
    rig = Rig()
    known = _protocol_command_codes()
    for code in range(256):
        if code in known:
            continue
        for pin in (PIN, WRONG):
            rig.tick(1000)  # within the rate of frames without the right PIN
            reply = rig.send(code, pin, FEVER_KEY, p.FILTER_FIR_MIN)
            assert reply == refused(code, p.REASON_UNKNOWN_COMMAND), (code, reply)
    assert rig.writer.configs == [] and rig.sensor.writes == []
    assert rig.cmds.bad_pins_total == 0 and not rig.cmds.locked


# -- the rate of frames without the right PIN (issue 12, defect 6) --

FREE_BURST = commands.FREE_BURST
FLOOD = 100


def test_a_flood_of_free_commands_is_answered_a_burst_then_four_a_second():
    rig = Rig()
    for tag in range(FLOOD):  # GET_CONFIG of everything, back to back
        rig.uart.feed(command_frame(p.CMD_GET_CONFIG, key=p.KEY_ALL, tag=tag))
    for _ in range(FLOOD):
        rig.tick()
    assert rig.cmds.received == FLOOD  # one frame a tick: 1 s to read them all
    answered = [r for r in rig.writer.replies if r[1] == p.REPLY_OK]
    limited = [r for r in rig.writer.replies if r[2] == p.REASON_RATE_LIMITED]
    assert FREE_BURST <= len(answered) <= FREE_BURST + 4  # four a second after the burst
    assert 1 <= len(limited) <= 5  # the refusals are no flood either
    assert len(rig.writer.configs) <= len(answered) * 30
    rig.tick(1000)
    assert rig.send(p.CMD_STATUS, tag=500) == ok(p.CMD_STATUS, 500)


def test_bad_frames_and_wrong_pins_are_rate_limited_too():
    rig = Rig()
    for _ in range(FLOOD):
        rig.uart.feed(b"\x02\x01\x00")
    for _ in range(FLOOD):  # one frame a tick
        rig.tick()
    assert rig.cmds.bad_frames == FLOOD
    assert len(rig.writer.replies) <= FREE_BURST + 8  # 1 s: 4 more and 4 refusals at most
    rig.tick(60000)
    n = len(rig.writer.replies)
    for _ in range(FLOOD):
        rig.uart.feed(command_frame(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800))
    for _ in range(40):  # 0.4 s: a token or two come back meanwhile
        rig.tick()
    assert len(rig.writer.replies) - n <= FREE_BURST + 4
    assert rig.cmds.locked


def test_pin_commands_with_the_right_pin_are_not_rate_limited():
    rig = Rig()
    for i in range(3 * FREE_BURST):
        assert rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3700 + i) == ok(p.CMD_SET_CONFIG)


def test_bad_frames_are_counted():
    rig = Rig()
    rig.uart.feed(b"\x02\x01\x00\x02\x01\x00")
    rig.tick()
    assert rig.cmds.bad_frames == 1  # one frame a tick
    rig.tick()
    assert rig.cmds.bad_frames == 2


# -- free commands --


def test_status_sends_the_identity_a_status_record_and_the_calibration():
    rig = Rig()
    rig.send(p.CMD_STATUS)
    assert rig.writer.statuses == 1
    keys = [c[0] for c in rig.writer.configs]
    assert keys == [
        p.KEY_BOOT_COUNT,
        p.KEY_DEVICE_ID,
        p.KEY_CAL_OFFSET,
        p.KEY_CAL_REFERENCE,
        p.KEY_CAL_DAY,
    ]


def test_the_identity_carries_a_device_id_above_2_31_as_its_i32_pattern():
    rig = Rig()
    rig.cmds.boot_count = 70000
    rig.cmds.device_id = 0xDEADBEEF
    rig.send(p.CMD_STATUS)
    identity = dict(rig.writer.configs[:2])
    assert identity[p.KEY_BOOT_COUNT] == 70000 & 0xFFFF
    assert identity[p.KEY_DEVICE_ID] & 0xFFFFFFFF == 0xDEADBEEF


def test_status_needs_no_pin_even_when_locked():
    rig = Rig()
    for _ in range(commands.BAD_PIN_LIMIT):
        rig.send(p.CMD_TIME_SYNC, WRONG, value=UNIX_S)
    assert rig.send(p.CMD_STATUS) == ok(p.CMD_STATUS)


def test_get_config_echoes_one_setting():
    rig = Rig()
    assert rig.send(p.CMD_GET_CONFIG, key=FEVER_KEY) == ok(p.CMD_GET_CONFIG)
    assert rig.writer.configs == [(FEVER_KEY, 3730)]


def test_get_config_all_sends_every_setting_but_never_the_pin():
    rig = Rig()
    rig.send(p.CMD_GET_CONFIG, key=p.KEY_ALL)
    keys = [c[0] for c in rig.writer.configs]
    import config

    for row in config.SETTINGS:
        assert row[0] in keys
    assert p.KEY_CAL_OFFSET in keys and p.KEY_BAD_PINS in keys
    assert p.KEY_PIN not in keys
    assert PIN not in [c[1] for c in rig.writer.configs]


def test_get_config_of_the_pin_is_refused_as_write_only():
    rig = Rig()
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_PIN) == refused(
        p.CMD_GET_CONFIG, p.REASON_WRITE_ONLY
    )
    assert rig.writer.configs == []


def test_get_config_of_an_unknown_key_is_refused():
    rig = Rig()
    assert rig.send(p.CMD_GET_CONFIG, key=99) == refused(p.CMD_GET_CONFIG, p.REASON_UNKNOWN_KEY)


def test_get_config_of_emissivity_reads_the_sensor():
    rig = Rig()
    rig.sensor.emissivity_word = 62258
    rig.send(p.CMD_GET_CONFIG, key=p.KEY_EMISSIVITY)
    assert rig.writer.configs == [(p.KEY_EMISSIVITY, 62258)]


def test_self_test_passes_with_a_healthy_sensor():
    rig = Rig()
    assert rig.send(p.CMD_SELF_TEST) == ok(p.CMD_SELF_TEST)


def test_self_test_names_a_blank_identity():
    rig = Rig()
    rig.sensor.identity_words = (0xFFFF, 0xFFFF, 0xFFFF, 0xFFFF)
    assert rig.send(p.CMD_SELF_TEST)[1:3] == (p.REPLY_FAILED, p.REASON_IDENTITY)


def test_self_test_names_a_blank_config_register():
    rig = Rig()
    rig.sensor.config_word = 0xFFFF
    assert rig.send(p.CMD_SELF_TEST)[1:3] == (p.REPLY_FAILED, p.REASON_SENSOR_CONFIG)


def test_self_test_names_an_implausible_ambient():
    rig = Rig()
    rig.sensor.ambient_cc = 7500
    assert rig.send(p.CMD_SELF_TEST)[1:3] == (p.REPLY_FAILED, p.REASON_AMBIENT)


def test_self_test_names_a_silent_sensor():
    rig = Rig()
    rig.sensor.fail = True
    assert rig.send(p.CMD_SELF_TEST)[1:3] == (p.REPLY_FAILED, p.REASON_SENSOR)


# -- PIN --


def test_wrong_pin_is_refused_counted_and_changes_nothing():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_BAD_PIN)
    assert rig.config.fever_threshold_cc == 3730
    assert rig.cmds.bad_pins == 1 and rig.cmds.bad_pins_total == 1
    assert rig.writer.configs == []


def test_a_pin_above_two_to_the_thirty_is_wrong():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, 0xFFFFFFFF, FEVER_KEY, 3800)
    assert reply[2] == p.REASON_BAD_PIN


def test_fifth_wrong_pin_in_a_row_locks_even_the_right_pin():
    rig = Rig()
    for _ in range(commands.BAD_PIN_LIMIT):
        assert rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)[2] == p.REASON_BAD_PIN
    assert rig.cmds.locked
    reply = rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_LOCKED)
    assert rig.config.fever_threshold_cc == 3730


def test_lock_ends_after_sixty_seconds():
    rig = Rig()
    for _ in range(commands.BAD_PIN_LIMIT):
        rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    rig.tick(commands.LOCK_MS - 100)
    assert rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)[2] == p.REASON_LOCKED
    rig.tick(100)
    assert rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800) == ok(p.CMD_SET_CONFIG)
    assert not rig.cmds.locked


def test_a_right_pin_resets_the_wrong_pins_in_a_row():
    rig = Rig()
    for _ in range(commands.BAD_PIN_LIMIT - 1):
        rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    assert not rig.cmds.locked
    assert rig.cmds.bad_pins == 1 and rig.cmds.bad_pins_total == commands.BAD_PIN_LIMIT


def test_the_lockout_survives_a_reset_on_the_filesystem():
    import persist

    root = scratch_dir() + "/state"
    rig = Rig(SettingsStore(persist.Persist(root)))
    for _ in range(commands.BAD_PIN_LIMIT):
        rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    assert rig.cmds.locked
    again = Rig(SettingsStore(persist.Persist(root)))  # the plug pulled and put back
    reply = again.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_LOCKED)
    again.tick(commands.LOCK_MS)  # a full lock from the boot: pulling the plug saves no time
    assert again.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800) == ok(p.CMD_SET_CONFIG)
    third = Rig(SettingsStore(persist.Persist(root)))  # the right PIN cleared the lockout
    assert third.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3700) == ok(p.CMD_SET_CONFIG)


def test_wrong_pins_in_a_row_survive_a_reset():
    store = MemoryStore()
    rig = Rig(store)
    for _ in range(commands.BAD_PIN_LIMIT - 1):
        rig.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)
    again = Rig(store)
    assert again.send(p.CMD_SET_CONFIG, WRONG, FEVER_KEY, 3800)[2] == p.REASON_BAD_PIN
    assert again.cmds.locked


def test_set_pin_changes_the_pin_and_never_echoes_it():
    rig = Rig()
    assert rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_PIN, 24680) == ok(p.CMD_SET_CONFIG)
    assert rig.writer.configs == []
    assert rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)[2] == p.REASON_BAD_PIN
    assert rig.send(p.CMD_SET_CONFIG, 24680, FEVER_KEY, 3800) == ok(p.CMD_SET_CONFIG)


def test_set_pin_beyond_pin_max_is_refused():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_PIN, p.PIN_MAX + 1)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_RANGE)
    assert rig.cmds.pin == PIN


# -- SET_CONFIG --


def test_set_config_changes_echoes_and_persists_the_setting():
    rig = Rig(MemoryStore())
    assert rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800) == ok(p.CMD_SET_CONFIG)
    assert rig.config.fever_threshold_cc == 3800
    assert rig.writer.configs == [(FEVER_KEY, 3800)]
    assert rig.store.settings[FEVER_KEY] == 3800


def test_set_config_out_of_range_is_refused_and_nothing_changes():
    rig = Rig(MemoryStore())
    reply = rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 9999)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_RANGE)
    assert rig.config.fever_threshold_cc == 3730
    assert rig.store.saves == 0 and rig.writer.configs == []


def test_set_config_of_the_beam_timings_applies_to_the_beam_counter_at_once():
    rig = Rig()
    rig.send(p.CMD_SET_CONFIG, PIN, 10, 50)  # debounce_ms
    rig.send(p.CMD_SET_CONFIG, PIN, 11, 20000)  # beam_stuck_ms
    rig.send(p.CMD_SET_CONFIG, PIN, 18, 8000)  # vacate_ms
    assert (rig.beam.debounce_ms, rig.beam.stuck_ms, rig.beam.vacate_ms) == (50, 20000, 8000)


def test_set_config_breaking_a_cross_setting_rule_is_refused_as_range():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, PIN, 7, 1)  # window_max 1 < fever_votes 2
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_RANGE)
    assert rig.config.window_max == 8


def test_set_config_of_an_unknown_key_is_refused():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, PIN, 99, 1)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_UNKNOWN_KEY)


def test_set_config_of_the_calibration_offset_is_refused_as_read_only():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_CAL_OFFSET, 100)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_READ_ONLY)
    assert rig.cmds.cal_offset_cc == 0


def test_set_config_that_cannot_be_persisted_is_undone():
    store = MemoryStore()
    store.fail = True
    rig = Rig(store)
    reply = rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    assert reply[1:3] == (p.REPLY_FAILED, p.REASON_STORAGE)
    assert rig.config.fever_threshold_cc == 3730


def test_settings_and_pin_survive_a_reboot_with_the_same_store():
    store = MemoryStore()
    rig = Rig(store)
    rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_PIN, 4321)
    again = Rig(store)
    assert again.config.fever_threshold_cc == 3800
    assert again.cmds.pin == 4321


def test_settings_survive_a_reboot_on_the_filesystem_through_persist():
    import persist

    root = scratch_dir() + "/state"
    rig = Rig(SettingsStore(persist.Persist(root)))
    rig.send(p.CMD_SET_CONFIG, PIN, FEVER_KEY, 3800)
    rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_PIN, 4321)
    again = Rig(SettingsStore(persist.Persist(root)))
    assert again.config.fever_threshold_cc == 3800
    assert again.cmds.pin == 4321


# -- TIME_SYNC --


def test_time_sync_sends_a_time_record():
    rig = Rig()
    assert rig.send(p.CMD_TIME_SYNC, PIN, value=UNIX_S) == ok(p.CMD_TIME_SYNC)
    assert rig.writer.times == [UNIX_S]


def test_today_follows_uptime_after_a_time_sync():
    rig = Rig()
    assert rig.cmds.today() == 0
    rig.send(p.CMD_TIME_SYNC, PIN, value=UNIX_S + 86400 - 10)
    assert rig.cmds.today() == 20454
    rig.tick(20000)
    assert rig.cmds.today() == 20455


UNIX_2040 = 2208988800  # 2040-01-01T00:00:00Z: beyond an i32 (2038-01-19)
SHANGHAI_QH = 32  # UTC+08:00 in quarter hours, the TIME_SYNC key


def _u32_as_i32(unix_s):
    return unix_s - (1 << 32) if unix_s >= 1 << 31 else unix_s


def test_time_sync_beyond_2038_is_accepted_and_recorded_as_u32():
    rig = Rig()
    reply = rig.send(p.CMD_TIME_SYNC, PIN, value=_u32_as_i32(UNIX_2040))
    assert reply == ok(p.CMD_TIME_SYNC)
    assert rig.writer.times == [UNIX_2040]
    assert rig.cmds.today() == UNIX_2040 // 86400


def test_today_is_the_sites_day_and_turns_at_local_midnight():
    rig = Rig()
    sync_s = UNIX_S + 15 * 3600 + 59 * 60  # 2026-01-01 15:59 UTC = 23:59 in Shanghai
    reply = rig.send(p.CMD_TIME_SYNC, PIN, key=SHANGHAI_QH, value=sync_s)
    assert reply == ok(p.CMD_TIME_SYNC)
    assert (p.KEY_UTC_OFFSET, 480) in rig.writer.configs  # the offset in minutes, echoed
    assert rig.writer.times == [sync_s]  # the TIME record stays UTC
    assert rig.cmds.today() == 20454
    rig.tick(61000)  # 00:00:01 in Shanghai, still 16:00 UTC on the 1st
    assert rig.cmds.today() == 20455


def test_a_site_west_of_greenwich_starts_its_day_later():
    rig = Rig()
    rig.send(p.CMD_TIME_SYNC, PIN, key=(-20) & 0xFF, value=UNIX_S + 3 * 3600)  # UTC-05:00
    assert rig.cmds.today() == 20453  # 22:00 on New Year's Eve in New York
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_UTC_OFFSET)[1] == p.REPLY_OK
    assert rig.writer.configs[-1] == (p.KEY_UTC_OFFSET, -300)


def test_time_sync_with_an_offset_beyond_utc_minus_12_or_plus_14_is_refused():
    rig = Rig()
    for key in (57, (-49) & 0xFF):
        reply = rig.send(p.CMD_TIME_SYNC, PIN, key=key, value=UNIX_S)
        assert reply == refused(p.CMD_TIME_SYNC, p.REASON_RANGE)
    assert rig.writer.times == [] and not rig.cmds.synced


def test_time_sync_with_wrong_pin_sends_no_time():
    rig = Rig()
    rig.send(p.CMD_TIME_SYNC, WRONG, value=UNIX_S)
    assert rig.writer.times == []


# -- CALIBRATE --


def test_calibrate_starts_then_sets_the_offset_with_reference_and_day():
    rig = Rig(MemoryStore())
    rig.send(p.CMD_TIME_SYNC, PIN, value=UNIX_S)
    rig.sensor.object_cc = 3650
    assert rig.send(p.CMD_CALIBRATE, PIN, value=3700, tag=11) == (
        p.CMD_CALIBRATE,
        p.REPLY_STARTED,
        p.REASON_NONE,
        11,
    )
    assert rig.run_until_reply() == ok(p.CMD_CALIBRATE, 11)
    assert rig.config.calibration_offset_cc == 50
    assert (rig.cmds.cal_reference_cc, rig.cmds.cal_day) == (3700, 20454)
    assert (p.KEY_CAL_OFFSET, 50) in rig.writer.configs
    assert rig.store.service[1:] == [50, 3700, 20454]


def test_calibrate_takes_about_two_seconds_of_readings():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    start = rig.now
    rig.run_until_reply()
    assert 1900 <= rig.now - start <= 2300
    assert rig.sensor.reads == 21


def test_calibrate_reads_no_faster_than_the_sensor_settles():
    rig = Rig()
    rig.control.settle_ms = 650
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    rig.run_until_reply()
    assert rig.sensor.reads == 4


def test_unstable_calibration_is_refused_and_keeps_the_old_offset():
    rig = Rig()
    rig.sensor.readings = [3650, 3800] * 20
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    assert rig.run_until_reply() == refused(p.CMD_CALIBRATE, p.REASON_UNSTABLE)
    assert rig.config.calibration_offset_cc == 0 and rig.cmds.cal_reference_cc == 0


def test_calibrate_with_someone_in_the_gate_is_refused_as_busy():
    rig = Rig()
    rig.control.inside = 1
    assert rig.send(p.CMD_CALIBRATE, PIN, value=3700) == refused(p.CMD_CALIBRATE, p.REASON_BUSY)


def test_someone_walking_in_aborts_a_calibration_as_busy():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    rig.tick(500)
    rig.control.inside = 1
    assert rig.run_until_reply() == refused(p.CMD_CALIBRATE, p.REASON_BUSY)
    assert rig.config.calibration_offset_cc == 0


def test_a_second_calibrate_while_one_runs_is_refused_as_busy():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700, tag=1)
    assert rig.send(p.CMD_CALIBRATE, PIN, value=3700, tag=2) == refused(
        p.CMD_CALIBRATE, p.REASON_BUSY, 2
    )


def test_calibrate_with_an_implausible_reference_is_refused_as_range():
    rig = Rig()
    assert rig.send(p.CMD_CALIBRATE, PIN, value=2000) == refused(p.CMD_CALIBRATE, p.REASON_RANGE)


def test_calibrate_with_a_failing_sensor_fails_and_keeps_the_offset():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    rig.sensor.fail = True
    assert rig.run_until_reply()[1:3] == (p.REPLY_FAILED, p.REASON_SENSOR)
    assert rig.config.calibration_offset_cc == 0


def test_calibration_survives_a_reboot_with_the_same_store():
    store = MemoryStore()
    rig = Rig(store)
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    rig.run_until_reply()
    again = Rig(store)
    assert again.config.calibration_offset_cc == 50
    assert again.cmds.cal_reference_cc == 3700


# -- PUMP_PRIME, BUZZER_TEST, RESET_COUNTERS, SET_EMISSIVITY --


def test_pump_prime_runs_the_pump_for_the_seconds_asked():
    rig = Rig(real_control=True)
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=3) == ok(p.CMD_PUMP_PRIME)
    on = 0
    for _ in range(500):
        rig.tick()
        on += rig.control.pump
    assert 2980 <= on * 10 <= 3000


def test_pump_prime_longer_than_max_run_is_refused():
    rig = Rig(real_control=True)
    seconds = rig.config.pump_max_run_ms // 1000 + 1
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=seconds) == refused(
        p.CMD_PUMP_PRIME, p.REASON_RANGE
    )
    rig.tick()
    assert rig.control.pump == 0


def test_pump_prime_with_an_empty_tank_is_refused():
    rig = Rig(real_control=True)
    rig.tank_ok = False
    rig.tick()
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=2)[2] == p.REASON_TANK_EMPTY


def test_pump_prime_stops_when_the_tank_runs_dry_and_does_not_resume():
    rig = Rig(real_control=True)
    rig.send(p.CMD_PUMP_PRIME, PIN, value=5)
    rig.tick()
    assert rig.control.pump == 1
    rig.tank_ok = False
    rig.tick()
    assert rig.control.pump == 0 and not rig.cmds.priming
    rig.tank_ok = True
    rig.tick()
    assert rig.control.pump == 0


def test_pump_prime_respects_the_rest_after_a_run():
    rig = Rig(real_control=True)
    rig.send(p.CMD_PUMP_PRIME, PIN, value=1)
    rig.tick()  # the guard starts the prime
    rig.tick(1000)
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=1)[2] == p.REASON_RESTING
    rig.tick(rig.config.pump_min_rest_ms)
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=1) == ok(p.CMD_PUMP_PRIME)


def test_pump_prime_while_the_guard_rests_is_refused():
    rig = Rig(real_control=True)
    rig.control.guard.resting = True
    rig.control.guard._rest_since = rig.now
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=1)[2] == p.REASON_RESTING


def test_pump_prime_started_just_before_the_maximum_run_stops_at_it():
    """The issue's case: the channel kept the pump on for most of its maximum run; a prime
    asked then ran on past it (130 s with a 60 s limit). One guard: it stops at the limit."""
    rig = Rig(real_control=True)
    rig.config.set("pump_max_run_ms", 60000)
    rig.occupied = True  # someone stands in the gate: the pump mists
    for _ in range(5500):
        rig.tick()
    assert rig.control.pump == 1
    assert rig.send(p.CMD_PUMP_PRIME, PIN, value=60) == ok(p.CMD_PUMP_PRIME)
    run_ms = 55010
    for _ in range(7000):
        rig.tick()
        if not rig.control.pump:
            break
        run_ms += 10
    assert run_ms <= 60000
    assert rig.control.resting and not rig.cmds.priming


def test_buzzer_test_plays_every_pattern_once():
    rig = Rig()
    assert rig.send(p.CMD_BUZZER_TEST, PIN) == ok(p.CMD_BUZZER_TEST)
    beeps = 0
    last = 0
    for _ in range(1000):
        rig.tick()
        if rig.control.buzzer and not last:
            beeps += 1
        last = rig.control.buzzer
    # chirp 1, remeasure 2, fault 1, fever 3 per round for ceil(3000 / 1100) = 3 rounds
    assert beeps == 1 + 2 + 1 + 9
    assert not rig.cmds.buzzer_testing


def test_buzzer_test_with_wrong_pin_stays_silent():
    rig = Rig()
    rig.send(p.CMD_BUZZER_TEST, WRONG)
    rig.tick()
    assert rig.control.buzzer == 0 and not rig.cmds.buzzer_testing


def test_reset_counters_zeroes_the_counters_and_sends_a_status():
    rig = Rig()
    assert rig.send(p.CMD_RESET_COUNTERS, PIN) == ok(p.CMD_RESET_COUNTERS)
    c = rig.control
    assert (c.people_in, c.people_out, c.fevers, c.remeasures, c.sensor_errors) == (0, 0, 0, 0, 0)
    assert (rig.beam.people_in, rig.beam.people_out) == (0, 0)
    assert rig.writer.statuses == 1


def test_reset_counters_with_wrong_pin_keeps_them():
    rig = Rig()
    rig.send(p.CMD_RESET_COUNTERS, WRONG)
    assert rig.control.people_in == 5


def test_set_emissivity_writes_the_eeprom_and_records_it():
    rig = Rig()
    assert rig.send(p.CMD_SET_EMISSIVITY, PIN, value=62258) == ok(p.CMD_SET_EMISSIVITY)
    assert rig.sensor.writes == [(0x24, 62258)]
    assert rig.writer.configs == [(p.KEY_EMISSIVITY, 62258)]


def test_set_emissivity_goes_through_the_driver_that_rescales_the_companion_cell():
    rig = Rig()
    rig.send(p.CMD_SET_EMISSIVITY, PIN, value=62258)
    assert rig.sensor.emissivity_calls == [62258]


def test_set_emissivity_with_someone_in_the_gate_is_refused_as_busy():
    rig = Rig()
    rig.control.inside = 1
    assert rig.send(p.CMD_SET_EMISSIVITY, PIN, value=62258) == refused(
        p.CMD_SET_EMISSIVITY, p.REASON_BUSY
    )
    assert rig.sensor.writes == []


def test_set_emissivity_to_the_current_value_writes_nothing():
    rig = Rig()
    assert rig.send(p.CMD_SET_EMISSIVITY, PIN, value=0xFFFF) == ok(p.CMD_SET_EMISSIVITY)
    assert rig.sensor.writes == []


def test_set_emissivity_out_of_range_is_refused_and_writes_nothing():
    rig = Rig()
    assert rig.send(p.CMD_SET_EMISSIVITY, PIN, value=100)[2] == p.REASON_RANGE
    assert rig.sensor.writes == []


def test_set_emissivity_with_wrong_pin_writes_nothing():
    rig = Rig()
    rig.send(p.CMD_SET_EMISSIVITY, WRONG, value=62258)
    assert rig.sensor.writes == []


def test_set_emissivity_failing_on_the_bus_is_reported():
    rig = Rig()
    rig.sensor.fail = True
    assert rig.send(p.CMD_SET_EMISSIVITY, PIN, value=62258)[1:3] == (
        p.REPLY_FAILED,
        p.REASON_SENSOR,
    )


# -- SET_FILTER: the IIR and FIR bits of the MLX90614's config register 0x25 --

FACTORY = 0x9FB4  # BAA: IIR off (100), FIR 1024 (111), gain and the other bits factory data
IIR_HALF_FIR_1024 = 0x0700  # IIR a1 = 0.5 (000), FIR N = 1024 (111)


def test_get_config_of_the_sensor_filter_reads_the_filter_bits_of_0x25():
    rig = Rig()
    rig.sensor.config_word = FACTORY
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_SENSOR_FILTER) == ok(p.CMD_GET_CONFIG)
    assert rig.writer.configs == [(p.KEY_SENSOR_FILTER, 0x0704)]


def test_get_config_of_the_sensor_filter_with_a_silent_sensor_fails():
    rig = Rig()
    rig.sensor.fail = True
    assert rig.send(p.CMD_GET_CONFIG, key=p.KEY_SENSOR_FILTER)[1:3] == (
        p.REPLY_FAILED,
        p.REASON_SENSOR,
    )


def test_set_filter_writes_only_the_filter_bits_of_0x25_and_echoes_them():
    rig = Rig()
    rig.sensor.config_word = FACTORY
    assert rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024) == ok(p.CMD_SET_FILTER)
    assert rig.sensor.writes == [(0x25, 0x9FB0)]
    assert rig.writer.configs == [(p.KEY_SENSOR_FILTER, IIR_HALF_FIR_1024)]


def test_set_filter_sets_the_settle_time_measurement_and_calibration_wait_for():
    from mlx90614 import settle_ms_for

    rig = Rig()
    rig.sensor.config_word = FACTORY
    rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024)
    assert rig.control.settle_ms == settle_ms_for(0x9FB0) == 939


def test_set_filter_to_the_bits_already_there_writes_nothing():
    rig = Rig()
    rig.sensor.config_word = FACTORY
    assert rig.send(p.CMD_SET_FILTER, PIN, value=0x0704) == ok(p.CMD_SET_FILTER)
    assert rig.sensor.writes == []


def test_set_filter_with_bits_outside_iir_and_fir_is_refused_and_writes_nothing():
    rig = Rig()
    for value in (0x0708, 0x8704, 0x0740, -1):
        assert rig.send(p.CMD_SET_FILTER, PIN, value=value) == refused(
            p.CMD_SET_FILTER, p.REASON_RANGE
        )
    assert rig.sensor.writes == []


def test_set_filter_below_fir_128_is_refused_as_the_datasheet_advises():
    rig = Rig()
    assert rig.send(p.CMD_SET_FILTER, PIN, value=0x0304) == refused(
        p.CMD_SET_FILTER, p.REASON_RANGE
    )
    assert rig.send(p.CMD_SET_FILTER, PIN, value=0x0404) == ok(p.CMD_SET_FILTER)


def test_set_filter_with_someone_in_the_gate_is_refused_as_busy():
    rig = Rig()
    rig.control.inside = 1
    assert rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024) == refused(
        p.CMD_SET_FILTER, p.REASON_BUSY
    )
    assert rig.sensor.writes == []


def test_set_filter_during_a_calibration_is_refused_as_busy():
    rig = Rig()
    rig.send(p.CMD_CALIBRATE, PIN, value=3700)
    assert rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024) == refused(
        p.CMD_SET_FILTER, p.REASON_BUSY
    )


def test_set_filter_never_builds_on_a_blank_config_register():
    rig = Rig()
    rig.sensor.config_word = 0xFFFF
    reply = rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024)
    assert reply[1:3] == (p.REPLY_FAILED, p.REASON_SENSOR_CONFIG)
    assert rig.sensor.writes == []
    assert rig.control.settle_ms == 100


def test_set_filter_failing_on_the_bus_is_reported_and_keeps_the_settle_time():
    rig = Rig()
    rig.sensor.fail = True
    reply = rig.send(p.CMD_SET_FILTER, PIN, value=IIR_HALF_FIR_1024)
    assert reply[1:3] == (p.REPLY_FAILED, p.REASON_SENSOR)
    assert rig.control.settle_ms == 100


def test_set_filter_with_wrong_pin_writes_nothing():
    rig = Rig()
    assert rig.send(p.CMD_SET_FILTER, WRONG, value=IIR_HALF_FIR_1024)[2] == p.REASON_BAD_PIN
    assert rig.sensor.writes == []


def test_set_config_of_the_sensor_filter_is_refused_as_read_only():
    rig = Rig()
    reply = rig.send(p.CMD_SET_CONFIG, PIN, p.KEY_SENSOR_FILTER, IIR_HALF_FIR_1024)
    assert reply == refused(p.CMD_SET_CONFIG, p.REASON_READ_ONLY)


# -- the idle tick --


def test_idle_ticks_allocate_nothing():
    rig = Rig()
    rig.send(p.CMD_STATUS)  # warm up
    micropython.heap_lock()
    try:
        for i in range(1000):
            rig.cmds.tick(i * 10, i // 100)
    finally:
        micropython.heap_unlock()
    assert len(rig.writer.replies) == 1
