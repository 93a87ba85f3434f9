"""Every field-service command against the firmware on the real MicroPython interpreter.

The gate boots once for the module: firmware/ unchanged on the unix port, its board served by
the shim (host_tools/shim) with a flash filesystem and a DCI MLX90614 (the medical,
gradient-compensated part, whose emissivity needs its companion cell rescaled), its UART a
pseudo-terminal, virtual time paced at REALTIME times the wall clock in a background thread.
DeviceLink (and `fevergate` itself) talk to it over pyserial as to /dev/ttyUSB0. Each test
checks the effect where it happens: the World's pump and buzzer logs, the sensor model's
EEPROM, the records the gate sends back. Tests that change something put it back.

Persistence across a reboot boots two more gates, one after the other, on one flash image.
"""

import datetime
import io
import re
import threading
import time

import pytest

from host_tools import cli
from host_tools.decoder import Status, StreamDecoder
from host_tools.device import (
    EXIT_FAILED,
    EXIT_REFUSED,
    DeviceLink,
    FevergateError,
)
from host_tools.shim.bridge import MicroPythonRuntime
from host_tools.shim.mlx90614_model import MLX90614Model
from host_tools.shim.pty_port import PtyPort
from host_tools.shim.runner import WATCH_SLICE_MS, Pacer
from host_tools.shim.scenario import Scenario
from host_tools.shim.world import MLX_ADDRESS, World
from host_tools.wire import protocol as p

PIN = p.PIN_DEFAULT
WRONG = PIN + 1
REALTIME = 10.0  # simulated seconds per wall second
DURATION_MS = 3_600_000  # longer than the module takes; the gate is stopped at teardown
WALKERS = [(1000, 36.6), (4000, 36.8)]  # two people in before the tests start
PUMP_REST_MS = 1000  # pump_min_rest_ms for the module: a prime test waits 0.1 s, not 1 s
UNIX_S = 1767225600  # 2026-01-01T00:00:00Z, day 20454
EMISSIVITY = 0x24 - 0x20  # model.eeprom indices
CONFIG = 0x25 - 0x20
COMPANION = 0x2F - 0x20


class LiveGate:
    """The firmware on MicroPython in a thread, its UART on a pty, until `stop()`."""

    def __init__(self, flash, sensor=None, walkers=()):
        self.sensor = sensor or MLX90614Model(seed=6, part="DCI", address=MLX_ADDRESS)
        self.world = World(Scenario.scripted(list(walkers), DURATION_MS), sensor=self.sensor)
        self.pty = PtyPort()
        self.world.uart.sinks.append(self.pty.write)
        pacer = Pacer(self.world, REALTIME, self.pty)
        self.bridge = MicroPythonRuntime(
            self.world, slice_ms=WATCH_SLICE_MS, pacer=pacer.at, flash=flash
        )
        self.error = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            self.bridge.run()
        except BaseException as exc:  # noqa: BLE001  (reported by the tests and at stop)
            self.error = exc

    @property
    def now_ms(self):
        return self.world.clock.elapsed

    def link(self, pin=PIN):
        return DeviceLink(self.pty.path, pin=pin, timeout=5.0)

    def wait_until(self, predicate, timeout_s=10.0):
        deadline = time.monotonic() + timeout_s
        while not predicate():
            assert self.error is None, self.error
            assert time.monotonic() < deadline, "the simulated gate did not get there in time"
            time.sleep(0.005)

    def wait_virtual(self, ms):
        until = self.now_ms + ms
        self.wait_until(lambda: self.now_ms >= until)

    def stop(self):
        self.world.end_ms = min(self.world.end_ms, self.now_ms)  # the board ends next slice
        self._thread.join(timeout=30)
        self.pty.close()
        if self.error is not None:
            raise self.error


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    live = LiveGate(str(tmp_path_factory.mktemp("flash")), walkers=WALKERS)
    try:
        live.wait_virtual(8000)  # the walkers have passed: nobody in the gate
        with live.link() as link:
            link.set_config("pump_min_rest_ms", PUMP_REST_MS)
        yield live
    finally:
        live.stop()


def refusal(reply):
    return (reply.status, reply.reason)


def fevergate(*argv):
    """The real CLI, as a technician runs it: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    code = cli.main([str(a) for a in argv], cli.State(out, err))
    return code, out.getvalue(), err.getvalue()


def switches_on(log, since):
    return [t for t, level in log[since:] if level]


def pump_rested(gate):
    """Waits until the pump has been off for its rest after the last run."""
    log = gate.world.pump.log
    gate.wait_until(lambda: not log or gate.now_ms - log[-1][0] > PUMP_REST_MS + 200)


# -- free commands --


def test_status_needs_no_pin_and_carries_counters_and_calibration(gate):
    with gate.link(pin=None) as link:
        reply = link.status()
    (status,) = reply.of_type("status")
    # the module's two walkers went in before the tests started (a u32 is always >= 0)
    assert (status.fields["people_in"], status.fields["people_out"]) == (len(WALKERS), 0)
    assert {p.KEY_CAL_OFFSET, p.KEY_CAL_REFERENCE, p.KEY_CAL_DAY} <= set(reply.configs())


def test_service_status_shows_the_firmware_version_and_the_gates_clock(gate):
    code, before, err = fevergate("service", gate.pty.path, "status")
    assert code == 0, err
    assert "firmware: 0.1.0" in before.splitlines()  # protocol.FW_VERSION 0x000100
    assert "gate clock: never set since boot (time-sync or sync sets it)" in before.splitlines()
    assert fevergate("time-sync", gate.pty.path, "--pin", PIN, "--utc-offset", "+02:00")[0] == 0
    code, after, err = fevergate("service", gate.pty.path, "status")
    assert code == 0, err
    (clock,) = [line for line in after.splitlines() if line.startswith("gate clock")]
    shown = re.fullmatch(
        r"gate clock: (\S+ \S+) UTC\+02:00 \(set since boot; "
        r"(as|\d+ s (ahead of|behind)|\d+ min( \d+ s)? (ahead of|behind)) this computer\)",
        clock,
    )
    assert shown, clock
    site = datetime.timezone(datetime.timedelta(hours=2))
    at = datetime.datetime.strptime(shown[1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=site)
    assert abs(at.timestamp() - time.time()) < 120  # the gate's clock runs at REALTIME x
    settings = after.split("settings in force:\n")[1]
    assert "  fever_threshold_cc = " in settings and "gate clock" not in settings


def test_self_test_passes_on_the_simulated_sensor(gate):
    with gate.link(pin=None) as link:
        assert link.self_test().ok


def test_self_test_fails_with_the_reason_when_the_sensor_does_not_answer(gate):
    gate.sensor.nack_rate = 1.0
    try:
        with gate.link(pin=None) as link:
            reply = link.request(p.CMD_SELF_TEST)
    finally:
        gate.sensor.nack_rate = 0.0
    assert refusal(reply) == (p.REPLY_FAILED, p.REASON_SENSOR)
    with pytest.raises(FevergateError) as info:
        reply.check()
    assert info.value.exit_code == EXIT_FAILED


# -- settings --

SETTINGS = [  # the list: (name, a changed value, a value outside the range)
    ("fever_threshold_cc", 3800, 4300),
    ("hysteresis_cc", 35, 101),
    ("skin_offset_cc", 70, 501),
    ("plausibility_floor_cc", 3100, 2499),
    ("debounce_ms", 50, 501),
    ("pump_hold_ms", 3000, 60001),
    ("pump_max_run_ms", 120000, 999),
    ("pump_min_rest_ms", 5000, -1),
    ("buzzer_enabled", 0, 2),
    ("status_interval_ms", 30000, 999),
    ("ambient_comp", 0, 2),
    ("ambient_gain_permille", 120, 301),
    ("ambient_ref_cc", 2000, 999),
]


@pytest.mark.parametrize("name, value, outside", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_a_setting_is_echoed_and_read_back(gate, name, value, outside):
    with gate.link() as link:
        (before,) = link.get_config(name).values()
        try:
            echo = link.set_config(name, value).configs()
            assert list(echo.values()) == [value]
            assert list(link.get_config(name).values()) == [value]
        finally:
            link.set_config(name, before)


@pytest.mark.parametrize("name, value, outside", SETTINGS, ids=[s[0] for s in SETTINGS])
def test_a_setting_out_of_range_is_refused_and_nothing_changes(gate, name, value, outside):
    with gate.link() as link:
        before = link.get_config(name)
        reply = link.request(p.CMD_SET_CONFIG, *before.keys(), outside)
        assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_RANGE)
        assert reply.configs() == {}
        assert link.get_config(name) == before


def test_a_refusal_through_the_host_tool_has_the_reason_and_the_refused_exit_code(gate):
    with gate.link() as link:
        with pytest.raises(FevergateError) as info:
            link.set_config("fever_threshold_cc", 9999)
    assert info.value.exit_code == EXIT_REFUSED
    assert "range" in str(info.value)


# -- PIN --

PIN_COMMANDS = [
    (p.CMD_SET_CONFIG, 1, 3800),
    (p.CMD_TIME_SYNC, 0, UNIX_S),
    (p.CMD_CALIBRATE, 0, 3700),
    (p.CMD_PUMP_PRIME, 0, 1),
    (p.CMD_BUZZER_TEST, 0, 0),
    (p.CMD_RESET_COUNTERS, 0, 0),
    (p.CMD_SET_EMISSIVITY, 0, 62258),
    (p.CMD_SET_FILTER, 0, 0x0700),
]


def test_every_pin_command_with_a_wrong_pin_is_refused_counted_and_changes_nothing(gate):
    with gate.link() as link:
        bad_pins = link.get_config(p.KEY_BAD_PINS)[p.KEY_BAD_PINS]
        settings = link.get_config()
        people_in = link.status().of_type("status")[0].fields["people_in"]
    eeprom = list(gate.sensor.eeprom)
    pump, buzzer = len(gate.world.pump.log), len(gate.world.buzzer.log)
    for command, key, value in PIN_COMMANDS:
        with gate.link(pin=WRONG) as wrong:
            reply = wrong.request(command, key, value)
        assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_BAD_PIN), command
        with gate.link() as right:  # a right PIN ends the run of wrong ones (no lock)
            right.time_sync(UNIX_S)
    gate.wait_virtual(1500)
    with gate.link() as link:
        assert link.get_config(p.KEY_BAD_PINS)[p.KEY_BAD_PINS] == bad_pins + len(PIN_COMMANDS)
        assert link.get_config() | {p.KEY_BAD_PINS: bad_pins} == settings
        assert link.status().of_type("status")[0].fields["people_in"] == people_in
    assert gate.sensor.eeprom == eeprom
    assert (len(gate.world.pump.log), len(gate.world.buzzer.log)) == (pump, buzzer)


# -- time sync --


def test_time_sync_is_answered_with_a_time_record_of_the_laptops_clock(gate):
    with gate.link() as link:
        reply = link.time_sync(UNIX_S)
    assert [r.fields["unix_s"] for r in reply.of_type("time")] == [UNIX_S]


# -- calibration --


def test_fevergate_calibrate_sets_the_offset_from_the_reference_and_status_shows_it(gate):
    with gate.link() as link:
        link.time_sync(UNIX_S)
    gate.sensor.set_target(gate.now_ms, 36.50)  # the blackbody as the sensor sees it
    out, err = io.StringIO(), io.StringIO()
    try:
        argv = ["calibrate", gate.pty.path, "--reference", "37.0", "--pin", str(PIN)]
        code = cli.main(argv, cli.State(out, err))
    finally:
        gate.sensor.set_target(gate.now_ms, None)
    assert code == 0, err.getvalue()
    assert "calibration_reference_cc = 3700  (37.00 C)" in out.getvalue()
    with gate.link(pin=None) as link:
        shown = link.status().configs()
    assert abs(shown[p.KEY_CAL_OFFSET] - 50) <= 25  # the DCI part's noise is 0.10 C rms
    assert shown[p.KEY_CAL_REFERENCE] == 3700
    assert shown[p.KEY_CAL_DAY] == UNIX_S // 86400


def test_calibration_with_unstable_readings_is_refused_and_keeps_the_offset(gate):
    with gate.link() as link:
        before = link.get_config(p.KEY_CAL_OFFSET)
        gate.sensor.set_target(gate.now_ms, 36.50)
        gate.sensor.noise_c = 1.0  # a reference that moves, or a sensor that is not settled
        try:
            reply = link.request(p.CMD_CALIBRATE, 0, 3700, timeout=30.0, until_final=True)
        finally:
            gate.sensor.noise_c = 0.10
            gate.sensor.set_target(gate.now_ms, None)
        assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_UNSTABLE)
        assert link.get_config(p.KEY_CAL_OFFSET) == before


def test_fevergate_calibrate_refused_as_unstable_says_the_spread_and_what_the_sensor_read(gate):
    with gate.link() as link:
        band_cc = link.get_config("stable_band_cc")[5]
    gate.sensor.set_target(gate.now_ms, 36.50)
    gate.sensor.noise_c = 1.0
    try:
        code, _, err = fevergate("calibrate", gate.pty.path, "--reference", "37.0", "--pin", PIN)
    finally:
        gate.sensor.noise_c = 0.10
        gate.sensor.set_target(gate.now_ms, None)
    assert code == EXIT_REFUSED
    said = re.fullmatch(
        r"fevergate calibrate: calibration refused: readings spread (\d+\.\d\d) °C "
        r"\(allowed (\d+\.\d\d) °C\), sensor read (\d+\.\d\d) °C: hold the reference "
        r"still in front of the sensor and retry\n",
        err,
    )
    assert said, err
    spread_c, allowed_c, read_c = (float(said[i]) for i in (1, 2, 3))
    assert allowed_c == band_cc / 100 and spread_c > allowed_c
    assert abs(read_c - 36.50) < 1.0  # the median of readings around the blackbody's 36.50


def test_fevergate_calibrate_far_from_the_reference_says_what_the_sensor_read(gate):
    code, _, err = fevergate("calibrate", gate.pty.path, "--reference", "37.0", "--pin", PIN)
    assert code == EXIT_REFUSED
    said = re.fullmatch(
        r"fevergate calibrate: calibration refused: the sensor read (\d+\.\d\d) °C, more "
        r"than 5\.00 °C away from the reference 37\.00 °C \(is the reference in front of the "
        r"sensor, and at that temperature\?\)\n",
        err,
    )
    assert said, err
    assert float(said[1]) < 32.0  # nothing in front of it: the room behind


def test_calibration_against_an_implausible_reference_is_refused(gate):
    with gate.link() as link:
        reply = link.request(p.CMD_CALIBRATE, 0, 2000)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_RANGE)


# -- pump prime --


def test_pump_prime_runs_the_pump_for_the_seconds_asked(gate):
    pump_rested(gate)
    log = gate.world.pump.log
    since = len(log)
    with gate.link() as link:
        assert link.pump_prime(2).ok
    gate.wait_until(lambda: len(log) >= since + 2)
    (on, _), (off, level) = log[since : since + 2]
    assert level == 0
    assert 2000 <= off - on <= 2000 + 20  # ends within two 10 ms ticks


def test_pump_prime_while_priming_is_refused_as_busy(gate):
    pump_rested(gate)
    log = gate.world.pump.log
    since = len(log)
    with gate.link() as link:
        link.pump_prime(1)
        reply = link.request(p.CMD_PUMP_PRIME, 0, 1)
    gate.wait_until(lambda: len(log) >= since + 2)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_BUSY)
    assert len(switches_on(log, since)) == 1


def test_pump_prime_during_the_rest_after_a_run_is_refused_as_resting(gate):
    pump_rested(gate)
    log = gate.world.pump.log
    since = len(log)
    with gate.link() as link:
        link.pump_prime(1)
        gate.wait_until(lambda: len(log) >= since + 2)
        reply = link.request(p.CMD_PUMP_PRIME, 0, 1)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_RESTING)


def test_pump_prime_beyond_the_maximum_run_is_refused(gate):
    since = len(gate.world.pump.log)
    with gate.link() as link:
        limit_s = link.get_config("pump_max_run_ms")[13] // 1000
        reply = link.request(p.CMD_PUMP_PRIME, 0, limit_s + 1)
    gate.wait_virtual(500)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_RANGE)
    assert len(gate.world.pump.log) == since


# -- buzzer test --


def test_buzzer_test_plays_every_pattern_on_the_buzzer(gate):
    log = gate.world.buzzer.log
    since = len(log)
    with gate.link() as link:
        assert link.buzzer_test().ok
    gate.wait_virtual(9000)
    # chirp 1, remeasure 2, fault 1, fever 3 per round for ceil(3000 / 1100) = 3 rounds
    assert len(switches_on(log, since)) == 1 + 2 + 1 + 9
    assert log[-1][1] == 0


def test_buzzer_test_while_one_plays_is_refused_as_busy(gate):
    with gate.link() as link:
        link.buzzer_test()
        reply = link.request(p.CMD_BUZZER_TEST)
    gate.wait_virtual(9000)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_BUSY)


# -- counters --


def test_reset_counters_zeroes_the_counters_the_status_record_shows(gate):
    with gate.link() as link:
        assert link.status().of_type("status")[0].fields["people_in"] == len(WALKERS)
        reset = link.reset_counters().of_type("status")[0].fields
        later = link.status().of_type("status")[0].fields
    for fields in (reset, later):
        counters = ("people_in", "people_out", "fevers", "remeasures", "sensor_errors")
        assert [fields[name] for name in counters] == [0, 0, 0, 0, 0]


# -- the sensor's EEPROM: emissivity and filter --


def test_emissivity_is_written_to_the_sensor_with_its_companion_cell_rescaled(gate):
    eeprom = gate.sensor.eeprom
    product = eeprom[EMISSIVITY] * eeprom[COMPANION]
    with gate.link() as link:
        try:
            echo = link.set_emissivity(62258).configs()
            assert echo == {p.KEY_EMISSIVITY: 62258}
            assert eeprom[EMISSIVITY] == 62258
            assert abs(eeprom[EMISSIVITY] * eeprom[COMPANION] - product) < 0.005 * product
            assert link.get_config(p.KEY_EMISSIVITY) == {p.KEY_EMISSIVITY: 62258}
        finally:
            link.set_emissivity(0xFFFF)
    assert eeprom[EMISSIVITY] == 0xFFFF  # unerased, 62258 -> 0xFFFF would store 62258


def test_emissivity_already_there_is_not_written_again(gate):
    writes = gate.sensor.writes
    with gate.link() as link:
        assert link.set_emissivity(gate.sensor.eeprom[EMISSIVITY]).ok
    assert gate.sensor.writes == writes


def test_emissivity_out_of_range_is_refused_and_the_eeprom_is_untouched(gate):
    eeprom = list(gate.sensor.eeprom)
    with gate.link() as link:
        reply = link.request(p.CMD_SET_EMISSIVITY, 0, 100)
    assert refusal(reply) == (p.REPLY_REFUSED, p.REASON_RANGE)
    assert gate.sensor.eeprom == eeprom


def test_the_filter_bits_are_read_from_the_sensor_config_register(gate):
    with gate.link(pin=None) as link:
        bits = link.get_config(p.KEY_SENSOR_FILTER)[p.KEY_SENSOR_FILTER]
    assert bits == gate.sensor.config & p.FILTER_MASK == 0x0706  # DCI: IIR 0.67, FIR 1024


def test_a_filter_change_is_written_to_the_sensor_and_the_model_settles_by_it(gate):
    factory = gate.sensor.config
    with gate.link() as link:
        try:
            echo = link.set_filter(0x0700).configs()  # IIR 0.5, FIR 1024
            assert echo == {p.KEY_SENSOR_FILTER: 0x0700}
            assert gate.sensor.config == factory & ~p.FILTER_MASK | 0x0700
            assert gate.sensor.settle_ms() == 939
        finally:
            link.set_filter(factory & p.FILTER_MASK)
    assert gate.sensor.config == factory  # unerased, 0x9FB0 -> 0x9FB6 would store 0x9FB0


def test_calibration_reads_once_per_settle_time_of_the_new_filter(gate):
    factory = gate.sensor.config
    with gate.link() as link:
        link.set_filter(0x0700)  # 939 ms: 2000 // 939 + 1 = 3 readings (DCI's 657 ms: 4)
        gate.sensor.set_target(gate.now_ms, 36.50)
        try:
            reads = gate.sensor.object_reads  # Ta reads (every 10 s) are not the calibration's
            link.calibrate(3700)
            assert gate.sensor.object_reads - reads == 3
        finally:
            gate.sensor.set_target(gate.now_ms, None)
            link.set_filter(factory & p.FILTER_MASK)


def test_a_filter_outside_iir_and_fir_128_to_1024_is_refused_and_untouched(gate):
    eeprom = list(gate.sensor.eeprom)
    with gate.link() as link:
        for bits in (0x0304, 0x0708, 0x8706):
            assert refusal(link.request(p.CMD_SET_FILTER, 0, bits)) == (
                p.REPLY_REFUSED,
                p.REASON_RANGE,
            )
    assert gate.sensor.eeprom == eeprom


# -- the wrong-PIN lockout, as a technician meets it --


def test_the_wrong_pin_lockout_says_how_long_is_left_and_means_it(gate):
    path = gate.pty.path
    assert fevergate("time-sync", path, "--pin", PIN)[0] == 0  # no wrong PIN in a row before
    for _ in range(4):
        code, _, err = fevergate("time-sync", path, "--pin", WRONG)
        assert code == EXIT_REFUSED and "refused: wrong PIN (counted" in err
    code, _, err = fevergate("time-sync", path, "--pin", WRONG)
    assert code == EXIT_REFUSED
    assert err == (
        "fevergate time-sync: setting the clock refused: wrong PIN, the 5th in a row: PIN "
        "commands are locked: try again in 1 min\n"
    )
    code, _, err = fevergate("time-sync", path, "--pin", PIN)  # the right PIN, too soon
    assert code == EXIT_REFUSED
    said = re.fullmatch(
        r"fevergate time-sync: setting the clock refused: locked after 5 wrong PINs in a row: "
        r"try again in (1 min|\d+ s)\n",  # rounded up: "1 min" until 59 s are left
        err,
    )
    assert said, err
    left_s = 60 if said[1] == "1 min" else int(said[1][:-2])
    assert 1 <= left_s <= 60
    gate.wait_virtual(left_s * 1000 + 100)  # as long as it said, on the gate's clock
    code, _, err = fevergate("time-sync", path, "--pin", PIN)
    assert code == 0, err


# -- persistence across a reboot (two more boots on one flash image) --

NEW_PIN = 24680


@pytest.fixture(scope="module")
def rebooted(tmp_path_factory):
    """A gate whose settings, PIN and calibration were changed, then booted again."""
    flash = str(tmp_path_factory.mktemp("reboot"))
    first = LiveGate(flash)
    try:
        with first.link() as link:
            link.time_sync(UNIX_S)
            link.set_config("hysteresis_cc", 35)
            first.sensor.set_target(first.now_ms, 36.50)
            link.calibrate(3700)
            link.set_config("pin", NEW_PIN)
    finally:
        first.stop()
    second = LiveGate(flash, sensor=first.sensor)
    try:
        yield second
    finally:
        second.stop()


def test_a_setting_survives_a_reboot(rebooted):
    with rebooted.link(pin=None) as link:
        assert link.get_config("hysteresis_cc")[2] == 35


def test_the_pin_survives_a_reboot(rebooted):
    with rebooted.link(pin=PIN) as old:
        assert refusal(old.request(p.CMD_TIME_SYNC, 0, UNIX_S)) == (
            p.REPLY_REFUSED,
            p.REASON_BAD_PIN,
        )
    with rebooted.link(pin=NEW_PIN) as new:
        assert new.time_sync(UNIX_S).ok


def test_the_calibration_in_force_is_recorded_right_after_the_boot_record(rebooted):
    events = StreamDecoder().feed(bytes(rebooted.world.uart.wire))
    first = [e.record for e in events if e.status is Status.OK][:4]
    assert first[0].type == "boot"
    assert [(r.type, r.fields["key"]) for r in first[1:]] == [
        ("config", p.KEY_CAL_OFFSET),
        ("config", p.KEY_CAL_REFERENCE),
        ("config", p.KEY_CAL_DAY),
    ]


def test_the_calibration_survives_a_reboot_and_status_shows_it(rebooted):
    with rebooted.link(pin=None) as link:
        shown = link.status().configs()
    assert shown[p.KEY_CAL_REFERENCE] == 3700
    assert shown[p.KEY_CAL_DAY] == UNIX_S // 86400
    assert abs(shown[p.KEY_CAL_OFFSET] - 50) <= 25


# -- a clean stop before unplugging (issue 12, defect 15) --


def boot_records(live):
    events = StreamDecoder().feed(bytes(live.world.uart.wire))
    return [e.record for e in events if e.status is Status.OK and e.record.type == "boot"]


def test_service_stop_makes_the_next_boot_a_plain_power_on(tmp_path, monkeypatch):
    from host_tools import service

    flash = str(tmp_path)
    first = LiveGate(flash)
    lines = []
    try:
        monkeypatch.setattr(service, "connect", lambda port, pin: first.link(pin=pin))
        do, build = service.COMMANDS["service"]
        state = type("State", (), {"print": staticmethod(lines.append)})()
        do(state, build().parse_args([first.pty.path, "stop", "--pin", str(PIN)]))
    finally:
        first.stop()
    assert lines == ["gate stopped cleanly: everything is on flash; unplug it now"]
    second = LiveGate(flash, sensor=first.sensor)
    try:
        second.wait_virtual(500)
        boots = boot_records(second)
    finally:
        second.stop()
    assert [b.fields["reset_cause"] for b in boots] == [p.RESET_POWER_ON]


def test_a_gate_stopped_without_service_stop_boots_as_a_power_cut(tmp_path):
    flash = str(tmp_path)
    first = LiveGate(flash)
    first.wait_virtual(500)
    first.stop()  # the plug pulled
    second = LiveGate(flash, sensor=first.sensor)
    try:
        second.wait_virtual(500)
        boots = boot_records(second)
    finally:
        second.stop()
    assert [b.fields["reset_cause"] for b in boots] == [p.RESET_POWER_CUT]
