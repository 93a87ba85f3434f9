"""Every injected fault ends in the record and the behaviour promised: the firmware runs on
(no crash, no watchdog reset), the pump stays safe, and the decoder sees the fault record."""

import functools

from host_tools.shim.faults import parse_faults
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.simulate import decode
from host_tools.wire import protocol

MINUTES = 3
PUMP_MAX_RUN_MS = 300_000  # firmware/config.py pump_max_run_ms default
WATCHDOG_MS = 5000  # firmware/gate.py


def walkers():
    return Scenario.poisson(21, MINUTES, rate=8, min_gap_s=2.0, fever_fraction=0.2)


@functools.cache
def run(faults, runtime="cpython"):
    result = run_simulation(walkers(), runtime=runtime, seed=21, faults=parse_faults(faults))
    events = decode(result.uart_bytes)
    return result, events


def records(events):
    return [e.record for e in events if e.status.name == "OK"]


def fault_records(events, code):
    return [r.fields for r in records(events) if r.type == "fault" and r.fields["code"] == code]


def passages(events):
    return [r for r in records(events) if r.type == "passage"]


def check_ran_to_the_end_with_the_pump_safe(result):
    assert result.simulated_s == MINUTES * 60
    assert result.watchdog_longest_gap_ms < WATCHDOG_MS
    assert result.world.pump.state == 0
    assert result.world.pump.longest_on_ms() <= PUMP_MAX_RUN_MS


def pump_on_during(pump, start_ms, end_ms):
    on_at = [t for t, level in pump.log if level and start_ms <= t < end_ms]
    state_at_start = 0
    for t, level in pump.log:
        if t <= start_ms:
            state_at_start = level
    return bool(on_at) or state_at_start == 1


def test_no_faults_no_fault_records():
    result, events = run("")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert not [r for r in records(events) if r.type == "fault"]
    assert len(passages(events)) == len(result.scenario.people)


def test_sensor_nacks_give_a_sensor_nack_fault_record():
    result, events = run("nack=0.3")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert fault_records(events, protocol.FAULT_SENSOR_NACK)
    assert len(passages(events)) == len(result.scenario.people)


def test_corrupted_pec_gives_a_sensor_pec_fault_record():
    result, events = run("pec=0.3")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert fault_records(events, protocol.FAULT_SENSOR_PEC)
    assert len(passages(events)) == len(result.scenario.people)


def test_error_flag_readings_give_a_sensor_flag_fault_record():
    result, events = run("flag=0.3")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert fault_records(events, protocol.FAULT_SENSOR_FLAG)


def test_a_stuck_bus_is_recovered_and_reported():
    result, events = run("stuck-bus")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert result.world.i2c.lockups == 2  # at 20 % of the run and 120 s later
    assert result.world.i2c.recoveries >= 2
    assert fault_records(events, protocol.FAULT_BUS_STUCK)
    assert not result.world.i2c.stuck


def test_the_gate_measures_again_after_a_bus_recovery():
    result, events = run("stuck-bus")
    measured = (protocol.VERDICT_NORMAL, protocol.VERDICT_FEVER)
    late = [r for r in passages(events) if r.t_cs * 10 > 160_000 and r.fields["direction"] == 1]
    assert late and any(r.fields["verdict"] in measured for r in late)


def test_bouncing_beams_count_every_walker_once():
    result, events = run("bounce=1.0")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert result.world.beam_a.edges > 2 * len(result.scenario.people)
    assert len(passages(events)) == len(result.scenario.people)
    assert not fault_records(events, protocol.FAULT_BEAM_STUCK)


def test_a_blocked_beam_is_a_beam_stuck_fault_raised_then_cleared():
    result, events = run("blocked-beam=20")
    check_ran_to_the_end_with_the_pump_safe(result)
    stuck = fault_records(events, protocol.FAULT_BEAM_STUCK)
    assert [f["active"] for f in stuck] == [1, 0]


def test_the_pump_stays_off_while_a_beam_is_stuck():
    result, events = run("blocked-beam=20")
    start = int(MINUTES * 60_000 * 0.3)
    # stuck from start + beam_stuck_ms (10 s) until the beam clears at start + 20 s
    assert not pump_on_during(result.world.pump, start + 10_100, start + 20_000)


def test_an_empty_tank_is_a_tank_empty_fault_raised_then_cleared():
    result, events = run("tank-empty=30")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert [f["active"] for f in fault_records(events, protocol.FAULT_TANK_EMPTY)] == [1, 0]


def test_the_pump_never_runs_dry():
    result, _ = run("tank-empty=30")
    start = int(MINUTES * 60_000 * 0.5)
    assert not pump_on_during(result.world.pump, start + 20, start + 30_000)
    assert pump_on_during(result.world.pump, start + 30_000, MINUTES * 60_000)


def test_lost_uart_bytes_show_as_gaps_or_bad_frames_in_the_decoder():
    result, events = run("uart-drop=0.005")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert result.world.uart.bytes_dropped > 0
    damaged = [e for e in events if e.status.name not in ("OK", "NEW_BOOT")]
    assert damaged
    assert len(records(events)) < len(records(decode(bytes(result.world.uart.tx))))


def test_corrupted_uart_bytes_are_rejected_by_the_decoder_not_misread():
    result, events = run("uart-corrupt=0.005")
    check_ran_to_the_end_with_the_pump_safe(result)
    assert any(e.status.name in ("CRC_MISMATCH", "FRAMING_ERROR") for e in events)
    sent = {
        (r.seq, r.type, tuple(r.fields.items())) for r in records(decode(result.world.uart.tx))
    }
    got = {(r.seq, r.type, tuple(r.fields.items())) for r in records(events)}
    assert got <= sent


def test_every_fault_at_once_on_micropython_leaves_the_gate_running_and_safe():
    everything = "nack,pec,flag,stuck-bus,bounce,blocked-beam,uart-drop,uart-corrupt,tank-empty"
    result, events = run(everything, runtime="micropython")
    check_ran_to_the_end_with_the_pump_safe(result)
    codes = {r.fields["code"] for r in records(events) if r.type == "fault"}
    assert protocol.FAULT_TANK_EMPTY in codes and protocol.FAULT_BEAM_STUCK in codes
    assert codes & {protocol.FAULT_SENSOR_NACK, protocol.FAULT_SENSOR_PEC}
