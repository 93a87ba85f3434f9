"""PumpGuard: boot off, on while occupied, hold time, maximum run, minimum rest, tank, faults."""

from config import Config
from pump import PumpGuard
from ticks import ticks_add

TICK = 10
WRAP = 1 << 30


def new(start=0, **settings):
    config = Config()
    for name in settings:
        config.set(name, settings[name])
    return PumpGuard(config), start


def run(pump, now, ms, occupied=True, tank_ok=True, faulted=False):
    """Update every TICK for ms; return (now, ms the pump was on)."""
    on_ms = 0
    for _ in range(ms // TICK):
        now = ticks_add(now, TICK)
        on_ms += TICK * pump.update(now, occupied, tank_ok, faulted)
    return now, on_ms


def test_pump_is_off_before_the_first_update():
    pump, now = new()
    assert pump.on == 0


def test_pump_is_off_when_nobody_has_come():
    pump, now = new()
    now, on_ms = run(pump, now, 1000, occupied=False)
    assert on_ms == 0


def test_pump_runs_while_the_channel_is_occupied():
    pump, now = new()
    now, on_ms = run(pump, now, 1000)
    assert on_ms == 1000


def test_pump_keeps_misting_for_hold_ms_after_the_last_person_left():
    pump, now = new(pump_hold_ms=2000)
    now, _ = run(pump, now, 500)
    now, on_ms = run(pump, now, 3000, occupied=False)
    assert on_ms == 1990  # the last occupied tick started the hold
    assert pump.on == 0


def test_pump_stops_at_max_run_and_rests_min_rest_ms():
    pump, now = new(pump_max_run_ms=5000, pump_min_rest_ms=2000)
    now, on_ms = run(pump, now, 5000)
    assert on_ms == 5000 and pump.on == 1
    now, on_ms = run(pump, now, 10)
    assert on_ms == 0 and pump.resting
    now, on_ms = run(pump, now, 1990)
    assert on_ms == 0 and pump.resting
    now, on_ms = run(pump, now, 10)
    assert on_ms == 10 and not pump.resting


def test_pump_never_runs_longer_than_max_run_while_occupied_for_long():
    pump, now = new(pump_max_run_ms=3000, pump_min_rest_ms=1000)
    longest = run_ms = 0
    for _ in range(2000):
        now = ticks_add(now, TICK)
        run_ms = run_ms + TICK if pump.update(now, True, True, False) else 0
        longest = max(longest, run_ms)
    assert longest == 3000


def test_empty_tank_forces_the_pump_off_and_is_flagged_until_refilled():
    pump, now = new()
    now, _ = run(pump, now, 100)
    now, on_ms = run(pump, now, 1000, tank_ok=False)
    assert on_ms == 0 and pump.tank_empty
    now, on_ms = run(pump, now, 100, tank_ok=True)
    assert on_ms == 100 and not pump.tank_empty


def test_unhandled_fault_forces_the_pump_off():
    pump, now = new()
    now, on_ms = run(pump, now, 1000, faulted=True)
    assert on_ms == 0
    now, on_ms = run(pump, now, 100)
    assert on_ms == 100


def test_hold_time_works_across_the_ticks_wrap():
    pump, now = new(start=WRAP - 500, pump_hold_ms=2000)
    now, _ = run(pump, now, 100)
    now, on_ms = run(pump, now, 3000, occupied=False)
    assert now < WRAP - 500
    assert on_ms == 1990


def test_max_run_works_across_the_ticks_wrap():
    pump, now = new(start=WRAP - 500, pump_max_run_ms=1000, pump_min_rest_ms=1000)
    now, on_ms = run(pump, now, 1500)
    assert on_ms == 1000 and pump.resting
