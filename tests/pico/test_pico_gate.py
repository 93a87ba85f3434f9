"""The gate deployed with `make deploy` onto an emulated Pico, run from main.py at power-on:
walkers from the shim's Scenario (the ground truth of `fevergate simulate`) on its beam pins
and its MLX90614 target, UART0 decoded with the project's decoder."""

import pico_rig

from host_tools.decoder import StreamDecoder
from host_tools.shim.scenario import IN, OUT, Scenario
from host_tools.wire import protocol


def records(data):
    return [e.record for e in StreamDecoder().feed(data) if e.status.name == "OK"]


def test_walkers_are_counted_and_the_fever_alarmed_on_the_pico(pico, deployed_flash):
    emu = pico(flash=deployed_flash)
    emu.wait_ms(1500)  # power on: main.py opens storage and starts the gate
    scenario = Scenario.scripted(
        [(500, 36.6), (3000, 38.6), (5500, 36.9, OUT), (8000, 36.4)], 11000, ambient_c=22.0
    )
    emu.timeline(pico_rig.scenario_timeline(scenario))
    emu.wait_ms(scenario.duration_ms)
    got = records(emu.uart_bytes())
    passages = [r for r in got if r.type == "passage"]
    assert got[0].type == "boot"
    assert got[0].fields["reset_cause"] == protocol.RESET_POWER_ON
    assert [p.fields["direction"] for p in passages] == [
        protocol.DIR_IN if p.direction == IN else protocol.DIR_OUT for p in scenario.people
    ]
    alarms = [r for r in got if r.type == "alarm" and r.fields["kind"] == protocol.ALARM_FEVER]
    assert len(alarms) == len(scenario.fevers()) == 1
    assert [r.seq for r in got] == list(range(len(got)))  # no record lost
