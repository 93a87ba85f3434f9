"""The simulated board's flash, power cuts and watchdog resets, with the real firmware.

The MicroPython runtime's flash is a littlefs image file that outlives the process; a power
cut kills the process at a virtual instant and boots it again on the same flash; a bus that
hangs ends in a watchdog reset. What the gate says about it is checked in its records.
"""

import functools

from host_tools.shim.faults import parse_faults
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.simulate import decode
from host_tools.wire import protocol


def ok_records(result):
    return [e.record for e in decode(result.uart_bytes) if e.status.name == "OK"]


def boots(records):
    return [r.fields for r in records if r.type == "boot"]


@functools.lru_cache(maxsize=1)
def cut_twice(flash):
    scenario = Scenario.poisson(3, 3, rate=10)
    result = run_simulation(
        scenario, runtime="micropython", seed=3, flash=flash, power_cuts=(40_000, 100_000)
    )
    return scenario, result, ok_records(result)


def test_each_power_cut_is_followed_by_a_boot_that_says_power_cut(tmp_path_factory):
    _, result, records = cut_twice(str(tmp_path_factory.getbasetemp() / "cut"))
    assert result.bridge.power_cuts == [40_000, 100_000]
    assert [b["reset_cause"] for b in boots(records)] == [
        protocol.RESET_POWER_ON,
        protocol.RESET_POWER_CUT,
        protocol.RESET_POWER_CUT,
    ]


def test_the_boot_count_kept_on_flash_goes_up_at_every_boot(tmp_path_factory):
    _, _, records = cut_twice(str(tmp_path_factory.getbasetemp() / "cut"))
    assert [b["boot_count"] for b in boots(records)] == [1, 2, 3]


def test_the_pump_is_off_from_each_power_cut(tmp_path_factory):
    _, result, _ = cut_twice(str(tmp_path_factory.getbasetemp() / "cut"))
    for t in result.bridge.power_cuts:
        assert not result.world.pump.is_on_at(t)


def test_the_gate_counts_again_after_a_power_cut(tmp_path_factory):
    scenario, result, records = cut_twice(str(tmp_path_factory.getbasetemp() / "cut"))
    last_boot = max(i for i, r in enumerate(records) if r.type == "boot")
    after = [r for r in records[last_boot:] if r.type == "passage"]
    assert len(after) >= sum(1 for p in scenario.people if p.exit_ms > 102_000) - 1 > 0


def test_a_second_run_on_the_same_flash_goes_on_counting_boots(tmp_path):
    scenario = Scenario.scripted([], 3000)
    for expected in (1, 2):
        result = run_simulation(scenario, runtime="micropython", flash=str(tmp_path))
        assert boots(ok_records(result))[0]["boot_count"] == expected


def test_the_cpython_runtime_keeps_its_state_in_a_directory(tmp_path):
    scenario = Scenario.scripted([], 3000)
    for expected in (1, 2):
        result = run_simulation(scenario, runtime="cpython", flash=str(tmp_path))
        assert boots(ok_records(result))[0]["boot_count"] == expected
    assert sorted(p.name for p in tmp_path.iterdir()) == ["journal", "state"]


@functools.lru_cache(maxsize=1)
def hung_bus():
    scenario = Scenario.scripted([(32_000, 36.6), (70_000, 36.8)], 80_000)  # hang: 32..37 s
    faults = parse_faults("bus-hang=5")
    result = run_simulation(scenario, runtime="micropython", seed=4, faults=faults)
    return result, ok_records(result)


def test_a_transfer_on_a_hung_bus_ends_in_a_watchdog_reset():
    result, records = hung_bus()
    assert len(result.bridge.watchdog_resets) == 1
    assert boots(records)[-1]["reset_cause"] == protocol.RESET_WATCHDOG


def test_the_boot_after_a_watchdog_reset_reports_it_as_a_fault():
    _, records = hung_bus()
    last_boot = max(i for i, r in enumerate(records) if r.type == "boot")
    faults = [r.fields for r in records[last_boot:] if r.type == "fault"]
    assert {"code": protocol.FAULT_WATCHDOG, "active": 1, "detail": 0} in faults


def test_the_gate_measures_again_after_the_watchdog_reset():
    _, records = hung_bus()
    assert [r.fields["direction"] for r in records if r.type == "passage"][-1:] == [
        protocol.DIR_IN
    ]
