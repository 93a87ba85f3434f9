"""End to end: the real firmware on the simulated gate, in both runtimes, against ground truth.

A simulated hour with separated walkers (CPython runtime, fast) and a shorter run on the
MicroPython unix port: every walker counted once, in the right direction, and every fever that
the sensor can see above the threshold plus a 0.3 C margin alarmed. Same seed, same bytes.
"""

import functools

from host_tools import screening
from host_tools.shim.board import SimBoard
from host_tools.shim.clock import TICKS_PERIOD
from host_tools.shim.faults import parse_faults
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, OUT, Scenario
from host_tools.simulate import decode, summarize
from host_tools.wire import protocol

THRESHOLD_C = 37.30  # firmware/config.py fever_threshold_cc default
MARGIN_C = 0.30


def simulate(scenario, runtime="cpython", seed=1, faults="", **kwargs):
    result = run_simulation(
        scenario, runtime=runtime, seed=seed, faults=parse_faults(faults), **kwargs
    )
    records = [e.record for e in decode(result.uart_bytes) if e.status.name == "OK"]
    return result, records


def passages(records):
    return [r for r in records if r.type == "passage"]


def seen_body_c(person):
    """What the firmware can know: the forehead read as configured by default (skin offset,
    ambient correction; host_tools/screening.py's instrument truth)."""
    return screening.instrument_body_c(person, screening.effective_settings())


def passage_of(person, records, window_ms=3000):
    """The passage record written when `person` left the channel (None if there is none)."""
    want = protocol.DIR_IN if person.direction == IN else protocol.DIR_OUT
    for r in passages(records):
        if r.fields["direction"] == want and 0 <= r.t_cs * 10 - person.exit_ms <= window_ms:
            return r
    return None


def check_every_walker_counted_once_in_their_direction(scenario, records):
    assert len(passages(records)) == len(scenario.people)
    for person in scenario.people:
        assert passage_of(person, records) is not None, person


def check_every_clear_fever_alarmed_and_no_clear_normal(scenario, records):
    for person in scenario.people_in():
        verdict = passage_of(person, records).fields["verdict"]
        if seen_body_c(person) >= THRESHOLD_C + MARGIN_C:
            assert verdict == protocol.VERDICT_FEVER, person
        elif seen_body_c(person) < THRESHOLD_C - MARGIN_C:
            assert verdict != protocol.VERDICT_FEVER, person


def separated_walkers(minutes, seed):
    return Scenario.poisson(seed, minutes, rate=6, min_gap_s=2.0, fever_fraction=0.1)


@functools.lru_cache(maxsize=1)
def hour_of_separated_walkers():
    scenario = separated_walkers(60, seed=11)
    result, records = simulate(scenario, seed=11)
    return scenario, result, records


def test_a_simulated_hour_counts_every_walker_once_in_their_direction():
    scenario, result, records = hour_of_separated_walkers()
    assert len(scenario.people) > 250
    assert any(p.direction == OUT for p in scenario.people)
    check_every_walker_counted_once_in_their_direction(scenario, records)
    assert result.gate.control.people_in == len(scenario.people_in())


def test_a_simulated_hour_alarms_every_fever_above_threshold_plus_margin():
    scenario, _, records = hour_of_separated_walkers()
    assert sum(1 for p in scenario.people_in() if seen_body_c(p) >= 37.6) > 10
    check_every_clear_fever_alarmed_and_no_clear_normal(scenario, records)


@functools.lru_cache(maxsize=1)
def micropython_run():
    scenario = separated_walkers(8, seed=12)
    _, records = simulate(scenario, runtime="micropython", seed=12)
    return scenario, records


def test_the_firmware_on_micropython_counts_every_walker_once_in_their_direction():
    scenario, records = micropython_run()
    assert len(scenario.people) > 30
    check_every_walker_counted_once_in_their_direction(scenario, records)


def test_the_firmware_on_micropython_alarms_every_fever_above_threshold_plus_margin():
    scenario, records = micropython_run()
    assert scenario.fevers()
    check_every_clear_fever_alarmed_and_no_clear_normal(scenario, records)


def test_the_micropython_runtime_is_the_unix_port_says_its_boot_record():
    result, records = simulate(Scenario.scripted([], 2000), runtime="micropython")
    boot = records[0]
    assert boot.type == "boot"
    name, version = result.interpreter.split()[:2]
    major, minor = (int(x) for x in version.split(".")[:2])
    assert name == "micropython"
    assert boot.fields["device_id"] == 0x4D500000 | major << 8 | minor  # "MP" + its version
    assert boot.fields["reset_cause"] == protocol.RESET_POWER_ON


def test_the_micropython_runtime_reads_the_shim_sensor_model():
    scenario = Scenario.scripted([(2000, 36.6), (8000, 38.6)], 14_000, ambient_c=22.0)
    result, records = simulate(scenario, runtime="micropython")
    normal, fever = passages(records)
    assert result.bridge.i2c_requests > 0
    assert result.world.i2c.transfers >= result.bridge.i2c_requests
    assert abs(normal.fields["temp_cc"] - 3660) <= 30
    assert abs(fever.fields["temp_cc"] - 3860) <= 30
    assert fever.fields["verdict"] == protocol.VERDICT_FEVER


def test_the_micropython_runtime_reports_its_real_free_memory():
    result, records = simulate(Scenario.scripted([], 61_000), runtime="micropython")
    status = [r for r in records if r.type == "status"]
    assert status
    assert 100_000 < status[0].fields["mem_free"] <= 2 * 1024 * 1024  # gc.mem_free(), 2 MB heap
    assert status[0].fields["mem_free"] != SimBoard.MEM_FREE


def test_ticks_wrapping_during_a_run_changes_nothing_the_gate_reports():
    scenario = Scenario.scripted([(9000, 36.6), (11_000, 38.6), (13_000, 36.9)], 20_000)
    _, plain = simulate(scenario)
    _, wrapped = simulate(scenario, start_ticks=TICKS_PERIOD - 10_000)
    assert [r.fields for r in passages(plain)] == [r.fields for r in passages(wrapped)]
    assert len(passages(plain)) == 3


def capture(runtime, seed):
    scenario = Scenario.poisson(seed, 2, rate=20)
    result, _ = simulate(scenario, runtime, seed=seed, faults="nack,pec,flag,bounce,uart-drop")
    return result.uart_bytes


def test_same_seed_gives_a_byte_identical_capture_on_cpython():
    assert capture("cpython", 5) == capture("cpython", 5)
    assert capture("cpython", 5) != capture("cpython", 6)


def test_same_seed_gives_a_byte_identical_capture_on_micropython():
    assert capture("micropython", 5) == capture("micropython", 5)
    assert capture("micropython", 5) != capture("micropython", 6)


def test_summary_tallies_against_ground_truth():
    # the gate's tallies (from what it sent) against the walkers the scenario made, counted
    # here from the scenario itself, not from the summary's own "true" figures
    scenario = separated_walkers(10, seed=13)
    result, records = simulate(scenario, seed=13)
    summary = summarize(result)
    walkers = len(scenario.people)
    walkers_in = sum(1 for p in scenario.people if p.direction == IN)
    assert walkers > 30 and 0 < walkers_in < walkers
    assert summary["people_true"] == walkers
    assert summary["people_counted"] == walkers
    assert summary["people_in_true"] == walkers_in
    assert summary["people_in_counted"] == walkers_in
    clear = [p for p in scenario.people_in() if seen_body_c(p) >= THRESHOLD_C + MARGIN_C]
    near = [p for p in scenario.people_in() if abs(seen_body_c(p) - THRESHOLD_C) < MARGIN_C]
    assert clear
    assert len(clear) <= summary["fevers_alarmed"] <= len(clear) + len(near)
    assert summary["fevers_alarmed"] == summary["fever_passages"]
    assert summary["fevers_true"] == sum(
        1 for p in scenario.people if p.direction == IN and p.core_c >= THRESHOLD_C
    )
    assert summary["records_sent"] == summary["records_received"] == len(records)
    assert summary["records_sent_by_seq"] == summary["records_sent"]
    assert summary["records_lost"] == 0
    assert summary["simulated_s"] == 600.0
