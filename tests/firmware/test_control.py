"""Control with a real BeamCounter on fake pins: records, counters, pump, buzzer, faults, heap."""

import micropython

import protocol
from beam import EV_ENTER, EV_PASS, BeamCounter
from buzzer import CHIRP, FEVER, NONE, REMEASURE
from config import Config
from control import Control
from fake_writer import FakeWriter
from fakes_pins import BLOCKED, CLEAR, IRQ_BOTH, FakeClock, FakePin

TICK = 10
WRAP = 1 << 30
SETTLE = 100


class Rig:
    """A gate without I/O: clock, pins, BeamCounter, Control and a fake writer, one step a tick.
    `skin` is what the sensor reads (None: the read fails). step() allocates nothing."""

    def __init__(self, start=0, two_beams=True, settle_ms=SETTLE, **settings):
        config = Config()
        for name in settings:
            config.set(name, settings[name])
        self.config = config
        self.clock = FakeClock(start)
        self.a = FakePin()
        self.b = FakePin() if two_beams else None
        self.beam = BeamCounter(
            self.a,
            self.b,
            BLOCKED,
            IRQ_BOTH,
            self.clock.ticks_ms,
            config.debounce_ms,
            config.beam_stuck_ms,
            config.vacate_ms,
        )
        self.writer = FakeWriter()
        self.control = Control(config, self.writer, settle_ms)
        self.tank_ok = True
        self.skin = 3620
        self.passes = 0

    def step(self):
        now = self.clock.advance(TICK)
        beam = self.beam
        control = self.control
        ev = beam.poll(now)
        if ev == EV_PASS:
            self.passes += 1
        control.tick(now, ev, beam.occupied, beam.direction, self.tank_ok)
        if control.want_sample:
            if self.skin is None:
                control.sample_failed(now, protocol.FAULT_SENSOR_NACK)
            else:
                control.sample(now, self.skin)

    def run(self, ms):
        for _ in range(ms // TICK):
            self.step()

    def block(self, pin, ms):
        pin.drive(BLOCKED)
        self.run(ms)
        pin.drive(CLEAR)

    def walk(self, first, second, beam_ms=200, between_ms=400):
        self.block(first, beam_ms)
        self.run(between_ms)
        self.block(second, beam_ms)
        self.run(40)  # the far beam's debounce

    def walk_in(self, **kwargs):
        self.walk(self.a, self.b, **kwargs)


def test_normal_walker_gives_one_passage_record_with_body_temperature():
    rig = Rig(skin_offset_cc=50)
    rig.walk_in()
    assert rig.writer.passages == 1
    assert rig.writer.passage_at(0) == (protocol.VERDICT_NORMAL, protocol.DIR_IN, 3670, 80)
    assert rig.control.people_in == 1 and rig.control.people_out == 0


def test_normal_walker_gets_a_chirp():
    rig = Rig()
    rig.walk_in()
    assert rig.control.beeper.pattern == CHIRP
    assert rig.control.buzzer == 1


def test_fever_walker_raises_an_alarm_and_a_fever_passage():
    rig = Rig(skin_offset_cc=50)
    rig.skin = 3800
    rig.walk_in()
    assert rig.writer.alarms == 1
    assert rig.writer.alarm_at(0) == (protocol.ALARM_FEVER, 3850)
    assert rig.writer.passage_at(0)[0] == protocol.VERDICT_FEVER
    assert rig.control.fevers == 1 and rig.control.remeasures == 0


def test_fever_walker_sounds_the_fever_alarm():
    rig = Rig()
    rig.skin = 3800
    rig.walk_in()
    assert rig.control.beeper.pattern == FEVER


def test_normal_walker_raises_no_alarm():
    rig = Rig()
    rig.walk_in()
    assert rig.writer.alarms == 0 and rig.control.fevers == 0


def test_walker_too_fast_for_the_sensor_is_asked_to_remeasure():
    rig = Rig(settle_ms=650)
    rig.walk_in(beam_ms=100, between_ms=100)
    assert rig.writer.passage_at(0)[0] == protocol.VERDICT_REMEASURE_FAST
    assert rig.control.remeasures == 1
    assert rig.control.beeper.pattern == REMEASURE


def test_failing_sensor_gives_remeasure_sensor_and_counts_errors():
    rig = Rig()
    rig.skin = None
    rig.walk_in()
    assert rig.writer.passage_at(0)[0] == protocol.VERDICT_REMEASURE_SENSOR
    assert rig.control.sensor_errors >= 2
    assert rig.control.remeasures == 1


def test_no_reading_is_wanted_while_nobody_is_inside():
    rig = Rig()
    wanted = 0
    for _ in range(100):
        rig.step()
        wanted += rig.control.want_sample
    assert wanted == 0


def test_walker_out_is_counted_out_with_its_direction():
    rig = Rig()
    rig.walk(rig.b, rig.a)
    assert rig.writer.passage_at(0)[1] == protocol.DIR_OUT
    assert (rig.control.people_in, rig.control.people_out) == (0, 1)


def test_two_people_close_together_get_their_own_verdicts_in_order():
    rig = Rig()
    rig.skin = 3620
    rig.block(rig.a, 200)  # first person enters at 0
    rig.run(100)
    rig.skin = 3800
    rig.block(rig.a, 200)  # second person at 300: the first is decided on what it had
    rig.run(300)
    rig.block(rig.b, 200)
    rig.run(100)
    rig.block(rig.b, 200)
    rig.run(40)
    assert rig.writer.passages == 2
    assert rig.writer.verdicts() == [protocol.VERDICT_NORMAL, protocol.VERDICT_FEVER]
    assert rig.control.people_in == 2 and rig.control.fevers == 1


def test_every_passage_gives_exactly_one_passage_record():
    rig = Rig()
    for _ in range(5):
        rig.walk_in()
        rig.run(300)
    assert rig.passes == 5
    assert rig.writer.passages == 5


def test_one_beam_board_records_passages_with_unknown_direction():
    rig = Rig(two_beams=False, settle_ms=50)
    rig.block(rig.a, 400)
    rig.run(40)
    assert rig.writer.passages == 1
    verdict, direction, temp_cc, transit_cs = rig.writer.passage_at(0)
    assert direction == protocol.DIR_UNKNOWN and verdict == protocol.VERDICT_NORMAL
    assert rig.control.people_in == 1


def test_passage_without_an_entry_is_recorded_as_no_reading():
    writer = FakeWriter()
    control = Control(Config(), writer, SETTLE)
    control.tick(1000, EV_PASS, False, protocol.DIR_IN, True)
    assert writer.passages == 1
    assert writer.passage_at(0) == (protocol.VERDICT_NO_READING, protocol.DIR_IN, 0, 0)


def test_next_entry_decides_the_person_being_measured():
    writer = FakeWriter()
    control = Control(Config(), writer, SETTLE)
    control.tick(0, EV_ENTER, True, protocol.DIR_UNKNOWN, True)
    control.tick(100, 0, True, protocol.DIR_UNKNOWN, True)
    assert control.want_sample
    control.sample(100, 3900)
    control.tick(200, 0, True, protocol.DIR_UNKNOWN, True)
    control.sample(200, 3900)
    assert writer.alarms == 0
    control.tick(250, EV_ENTER, True, protocol.DIR_UNKNOWN, True)
    assert writer.alarms == 1 and control.fevers == 1
    assert writer.passages == 0


def test_a_sample_taken_after_the_far_beam_cleared_is_not_part_of_the_verdict():
    writer = FakeWriter()
    control = Control(Config(), writer, SETTLE)
    control.tick(0, EV_ENTER, True, protocol.DIR_UNKNOWN, True)
    for now in (100, 200, 300):
        control.tick(now, 0, True, protocol.DIR_UNKNOWN, True)
        control.sample(now, 3650)
    control.tick(400, 0, True, protocol.DIR_UNKNOWN, True)
    control.sample(400, 2200)  # the background: the walker cleared the far beam at 390
    control.tick(420, EV_PASS, False, protocol.DIR_IN, True, 390)
    verdict, direction, temp_cc, transit_cs = writer.passage_at(0)
    assert verdict == protocol.VERDICT_NORMAL
    assert temp_cc == 3650 + Config().skin_offset_cc


def test_stuck_beam_raises_a_fault_record_and_stops_the_pump():
    rig = Rig(beam_stuck_ms=1000)
    rig.a.drive(BLOCKED)
    rig.run(500)
    assert rig.control.pump == 1
    rig.run(600)
    assert rig.writer.faults_list() == [(protocol.FAULT_BEAM_STUCK, 1, 1)]
    assert rig.control.faulted
    assert rig.control.pump == 0
    assert rig.writer.passages == 0


def test_stuck_beam_clearing_clears_the_fault_record():
    rig = Rig(beam_stuck_ms=1000)
    rig.a.drive(BLOCKED)
    rig.run(1100)
    rig.a.drive(CLEAR)
    rig.run(100)
    assert rig.writer.faults_list()[-1] == (protocol.FAULT_BEAM_STUCK, 0, 0)
    assert not rig.control.faulted
    assert rig.writer.passages == 0


def test_empty_tank_raises_a_fault_record_and_stops_the_pump_until_refilled():
    rig = Rig()
    rig.a.drive(BLOCKED)
    rig.run(100)
    assert rig.control.pump == 1
    rig.tank_ok = False
    rig.run(10)
    assert rig.control.pump == 0 and rig.control.faulted
    assert rig.writer.faults_list() == [(protocol.FAULT_TANK_EMPTY, 1, 0)]
    rig.tank_ok = True
    rig.run(10)
    assert rig.control.pump == 1 and not rig.control.faulted
    assert rig.writer.faults_list()[-1] == (protocol.FAULT_TANK_EMPTY, 0, 0)


def test_pump_max_run_is_a_fault_record_raised_then_cleared_after_the_rest():
    rig = Rig(pump_max_run_ms=2000, pump_min_rest_ms=1000, beam_stuck_ms=600000)
    rig.a.drive(BLOCKED)
    rig.run(2100)
    assert rig.control.pump == 0
    assert rig.writer.faults_list() == [(protocol.FAULT_PUMP_MAX_RUN, 1, 2)]
    rig.run(1000)
    assert rig.control.pump == 1
    assert rig.writer.faults_list()[-1] == (protocol.FAULT_PUMP_MAX_RUN, 0, 2)


def test_sensor_failures_alone_do_not_stop_the_pump():
    rig = Rig()
    rig.skin = None
    rig.a.drive(BLOCKED)
    rig.run(500)
    assert rig.control.sensor_errors > 0
    assert not rig.control.faulted
    assert rig.control.pump == 1


def test_outputs_are_off_before_the_first_tick():
    control = Control(Config(), FakeWriter(), SETTLE)
    assert control.pump == 0 and control.buzzer == 0
    assert not control.want_sample


def test_pump_keeps_misting_for_the_hold_time_after_the_walker():
    rig = Rig(pump_hold_ms=2000)
    rig.walk_in()
    assert rig.control.pump == 1
    rig.run(2000)
    assert rig.control.pump == 0


def test_buzzer_falls_silent_after_the_chirp():
    rig = Rig()
    rig.walk_in()
    rig.run(200)
    assert rig.control.buzzer == 0 and rig.control.beeper.pattern == NONE


def test_walkers_are_counted_across_the_ticks_wrap():
    rig = Rig(start=WRAP - 500)
    rig.walk_in()
    assert rig.clock.now < WRAP - 500
    assert rig.writer.passage_at(0) == (protocol.VERDICT_NORMAL, protocol.DIR_IN, 3670, 80)


def test_ten_thousand_ticks_with_passages_allocate_nothing():
    rig = Rig()
    rig.walk_in()  # warm-up
    rig.run(3000)
    before = rig.writer.passages
    lock = getattr(micropython, "heap_lock", None)
    unlock = getattr(micropython, "heap_unlock", None)
    if lock is not None:
        lock()
    try:
        for i in range(10_000):
            phase = i % 200
            if phase == 0:
                rig.skin = 3600 + (i // 200) % 3 * 100  # normal, normal, fever
                rig.a.drive(BLOCKED)
            elif phase == 20:
                rig.a.drive(CLEAR)
            elif phase == 60:
                rig.b.drive(BLOCKED)
            elif phase == 80:
                rig.b.drive(CLEAR)
            elif phase == 120:
                rig.tank_ok = (i // 200) % 5 != 4
            rig.step()
    finally:
        if unlock is not None:
            unlock()
    assert rig.writer.passages - before == 50
    assert rig.control.fevers > 0
    assert rig.control.people_in == 51


def test_slow_walker_transit_saturates_at_the_record_limit():
    rig = Rig()
    rig.walk_in(between_ms=3000)
    assert rig.writer.passage_at(0)[3] == protocol.TRANSIT_MAX_CS


def test_hot_object_temperature_saturates_at_the_record_limit():
    rig = Rig(stable_band_cc=300)
    rig.skin = 38000  # the MLX90614 reads objects up to 382 C
    rig.walk_in()
    assert rig.writer.passage_at(0)[2] == 32767
    assert rig.writer.alarm_at(0)[1] == 32767
