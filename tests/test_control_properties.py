"""Properties of Control + BeamCounter + Commands over random beam, tank, sensor and service
sequences (CPython).

Whatever the beams, tank, sensor and the technician's pump primes do: the pump never runs
longer than pump_max_run_ms in one go, never runs while Control is faulted or the tank is
empty, every passage the beams report gives exactly one passage record, fevers and alarms
agree, and no counter goes negative. The pump obeys one guard, whoever asks for it.
"""

from hypothesis import given, settings
from hypothesis import strategies as st

import protocol
from beam import EV_PASS, BeamCounter
from commands import Commands
from config import Config
from control import Control
from fake_writer import FakeWriter
from fakes_pins import BLOCKED, CLEAR, IRQ_BOTH, FakeClock, FakePin
from fakes_service import FakeSensor, RecordingWriter, RxUART, command_frame

TICK = 10
WRAP = 1 << 30
MAX_RUN_MS = 2000

segment = st.tuples(
    st.booleans(),  # beam A blocked
    st.booleans(),  # beam B blocked
    st.integers(0, 9),  # tank: empty when 0
    st.one_of(st.none(), st.integers(2500, 4200)),  # skin reading, None: the read fails
    st.integers(1, 40),  # ticks this lasts
    st.integers(0, 3),  # a PUMP_PRIME of this many seconds at the start (0: none)
)


def build(start, two_beams):
    config = Config()
    config.set("pump_max_run_ms", MAX_RUN_MS)
    config.set("pump_min_rest_ms", 500)
    config.set("pump_hold_ms", 300)
    config.set("beam_stuck_ms", 1500)
    config.set("vacate_ms", 1000)
    clock = FakeClock(start)
    a = FakePin(CLEAR)
    b = FakePin(CLEAR) if two_beams else None
    beam = BeamCounter(
        a,
        b,
        BLOCKED,
        IRQ_BOTH,
        clock.ticks_ms,
        config.debounce_ms,
        config.beam_stuck_ms,
        config.vacate_ms,
    )
    writer = FakeWriter()
    control = Control(config, writer, 150)
    uart = RxUART()
    commands = Commands(uart, RecordingWriter(), config)
    commands.attach(FakeSensor(), control, beam)
    return config, clock, a, b, beam, writer, control, uart, commands


def counters(control):
    return (
        control.people_in,
        control.people_out,
        control.fevers,
        control.remeasures,
        control.sensor_errors,
        control.inside,
        control.stuck_beams,
        control.lost,
    )


@settings(max_examples=150, deadline=None)
@given(
    segments=st.lists(segment, min_size=1, max_size=30),
    start=st.one_of(st.just(WRAP - 500), st.integers(0, WRAP - 1)),
    two_beams=st.booleans(),
)
def test_control_invariants_hold_for_any_beam_tank_and_sensor_sequence(segments, start, two_beams):
    config, clock, a, b, beam, writer, control, uart, commands = build(start, two_beams)
    passes = 0
    run_ms = 0
    for a_blocked, b_blocked, tank, skin, ticks, prime_s in segments:
        a.drive(BLOCKED if a_blocked else CLEAR)
        if b is not None:
            b.drive(BLOCKED if b_blocked else CLEAR)
        tank_ok = tank != 0
        if prime_s:
            uart.feed(command_frame(protocol.CMD_PUMP_PRIME, protocol.PIN_DEFAULT, 0, prime_s))
        for _ in range(ticks):
            now = clock.advance(TICK)
            ev = beam.poll(now)
            passes += ev == EV_PASS
            control.tick(now, ev, beam.occupied, beam.direction, tank_ok)
            if control.want_sample:
                if skin is None:
                    control.sample_failed(now, protocol.FAULT_SENSOR_NACK)
                else:
                    control.sample(now, skin)
            commands.tick(now)  # as Gate.step: the outputs are applied after the commands
            if control.pump:
                assert not control.faulted
                assert tank_ok
                run_ms += TICK
                assert run_ms <= MAX_RUN_MS
            else:
                run_ms = 0
            assert control.buzzer in (0, 1) and control.pump in (0, 1)
            assert min(counters(control)) >= 0
            assert writer.passages == passes
    for _ in range(10):  # events still queued in the BeamCounter come out one a poll
        now = clock.advance(TICK)
        ev = beam.poll(now)
        passes += ev == EV_PASS
        control.tick(now, ev, beam.occupied, beam.direction, tank_ok)
    assert writer.passages == passes
    assert control.people_in + control.people_out == passes
    assert (control.people_in, control.people_out) == (beam.people_in, beam.people_out)
    assert writer.alarms == control.fevers


@settings(max_examples=100, deadline=None)
@given(skins=st.lists(st.integers(-4000, 40000), min_size=1, max_size=16))
def test_any_readings_give_a_verdict_and_values_that_fit_the_passage_record(skins):
    writer = FakeWriter()
    control = Control(Config(), writer, 0)
    control.tick(0, 1, True, protocol.DIR_UNKNOWN, True)
    now = 0
    for skin in skins:
        now += 100
        control.tick(now, 0, True, protocol.DIR_UNKNOWN, True)
        if control.want_sample:
            control.sample(now, skin)
    control.tick(now + 10, EV_PASS, False, protocol.DIR_IN, True)
    verdict, direction, temp_cc, transit_cs = writer.passage_at(0)
    assert writer.passages == 1
    assert verdict != protocol.VERDICT_NO_READING
    assert -32768 <= temp_cc <= 32767  # the int16 of a PASSAGE record
    assert 0 <= transit_cs <= protocol.TRANSIT_MAX_CS
