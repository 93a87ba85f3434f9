"""Control: the pure control tick tying beam events, the measurement, pump and buzzer together.

No I/O and no clock of its own: the Gate calls `tick(now, beam_event, occupied, direction,
tank_ok, event_ms)` once per tick with the BeamCounter's event, state and event instant, reads
`want_sample` and then calls `sample(now, temp_cc)` or `sample_failed(now, code)`, and applies
`pump` and `buzzer` (0/1) to the board. Records go out through the writer: exactly one
`passage` per EV_PASS, an `alarm(ALARM_FEVER, body_cc)` per fever verdict (when it is decided),
and `fault(code, active, detail)` when a fault is raised or cleared: FAULT_BEAM_STUCK (detail:
beams stuck), FAULT_TANK_EMPTY, FAULT_PUMP_MAX_RUN (detail: the limit in seconds). Sensor fault
records are the Gate's (it sees the SensorError); here sensor failures are only counted
(`sensor_errors`: reads tried that failed; `sample_skipped` for a read the Gate did not try
while backing off is not one) and turned into a VERDICT_REMEASURE_SENSOR when a person got no
good reading.

Temperatures in records saturate at the int16 limits, transit_cs at protocol.TRANSIT_MAX_CS.
People inside are kept in a FIFO mirroring the BeamCounter's (entry time, verdict, body
temperature). The newest person is the one measured; when another person enters, the previous
one is decided on the samples so far. A passage takes the oldest person; one with no entry
(lost to a fault or the FIFO being full) is recorded as VERDICT_NO_READING. EV_STUCK and
EV_VACATED release everybody inside without a passage, as the BeamCounter does.

`faulted` is True while a beam is stuck or the tank is empty: these stop the pump. Sensor
faults alone do not (misting does not need the thermometer); `resting` after the maximum run
is the pump's own protection. All integer arithmetic, wrap-safe ticks, no allocation per tick.
"""

from array import array

from micropython import const

import protocol
from beam import EV_ENTER, EV_PASS, EV_STUCK, EV_UNSTUCK, EV_VACATED, INSIDE_MAX
from buzzer import CHIRP, FAULT, FEVER, REMEASURE, Buzzer
from measure import ST_IDLE as _ST_IDLE
from measure import Measurement
from pump import PumpGuard
from ticks import ticks_diff

_PENDING = const(255)  # verdict not decided yet
_TEMP_MIN_CC = const(-32768)  # the records carry temp_cc as int16
_TEMP_MAX_CC = const(32767)

_NORMAL = protocol.VERDICT_NORMAL
_FEVER = protocol.VERDICT_FEVER
_NO_READING = protocol.VERDICT_NO_READING
_DIR_OUT = protocol.DIR_OUT
_ALARM_FEVER = protocol.ALARM_FEVER
_FAULT_BEAM_STUCK = protocol.FAULT_BEAM_STUCK
_FAULT_TANK_EMPTY = protocol.FAULT_TANK_EMPTY
_FAULT_PUMP_MAX_RUN = protocol.FAULT_PUMP_MAX_RUN
_TRANSIT_MAX_CS = protocol.TRANSIT_MAX_CS


def _int16_cc(temp_cc):
    """Saturate a temperature to the int16 a record carries (the MLX90614 reads to 382 C)."""
    if temp_cc < _TEMP_MIN_CC:
        return _TEMP_MIN_CC
    if temp_cc > _TEMP_MAX_CC:
        return _TEMP_MAX_CC
    return temp_cc


class Control:
    def __init__(self, config, writer, settle_ms):
        self.config = config
        self._writer = writer
        self.settle_ms = settle_ms
        self.measure = Measurement(config)
        self.guard = PumpGuard(config)
        self.beeper = Buzzer(config)
        self._entered = array("i", [0] * INSIDE_MAX)
        self._verdict = bytearray(INSIDE_MAX)
        self._temp = array("i", [0] * INSIDE_MAX)
        self.inside = 0
        self._measuring = False
        self.want_sample = False
        self.pump = 0
        self.buzzer = 0
        self.people_in = 0
        self.people_out = 0
        self.fevers = 0
        self.remeasures = 0
        self.sensor_errors = 0
        self.last_sensor_error = 0
        self.lost = 0  # people released without a passage record
        self.stuck_beams = 0
        self.tank_empty = False
        self.resting = False
        self.faulted = False

    def tick(self, now, beam_event, occupied, direction, tank_ok, event_ms=None):
        """One control step at `now` with the beam's event and state and the tank level.
        `event_ms` is when the event's beam edge happened (`now` if None): samples taken
        from then on belong to nobody being decided."""
        writer = self._writer
        if event_ms is None:
            event_ms = now
        if not beam_event:  # most ticks (EV_NONE): none of the comparisons below
            pass
        elif beam_event == EV_ENTER:
            self._enter(now, event_ms)
        elif beam_event == EV_PASS:
            self._pass(now, direction, event_ms)
        elif beam_event == EV_STUCK:
            self._release()
            self.stuck_beams += 1
            writer.fault(_FAULT_BEAM_STUCK, 1, self.stuck_beams)
            self.beeper.play(FAULT, now)
        elif beam_event == EV_UNSTUCK:
            if self.stuck_beams > 0:
                self.stuck_beams -= 1
                if self.stuck_beams == 0:
                    writer.fault(_FAULT_BEAM_STUCK, 0, 0)
        elif beam_event == EV_VACATED:
            self._release()
        empty = not tank_ok
        if empty != self.tank_empty:
            self.tank_empty = empty
            writer.fault(_FAULT_TANK_EMPTY, 1 if empty else 0, 0)
            if empty:
                self.beeper.play(FAULT, now)
        self.faulted = self.stuck_beams > 0 or empty
        self.pump = self.guard.update(now, occupied, tank_ok, self.faulted)
        if self.guard.resting != self.resting:
            self.resting = self.guard.resting
            writer.fault(
                _FAULT_PUMP_MAX_RUN, 1 if self.resting else 0, self.config.pump_max_run_ms // 1000
            )
        measure = self.measure
        self.want_sample = measure.state != _ST_IDLE and measure.want(now)
        beeper = self.beeper
        self.buzzer = beeper.update(now) if beeper.pattern else 0

    def sample(self, now, temp_cc):
        """The skin reading asked for by want_sample (hundredths of a degree C)."""
        self.want_sample = False
        self.measure.add(now, temp_cc)

    def sample_failed(self, now, code):
        """The reading asked for failed with a protocol.FAULT_SENSOR_* code."""
        self.want_sample = False
        self.sensor_errors += 1
        self.last_sensor_error = code
        self.measure.failed(now)

    def sample_skipped(self, now):
        """The reading asked for was not tried (the Gate backs off a failing sensor): the
        window loses the attempt, but no sensor error is counted (none happened)."""
        self.want_sample = False
        self.measure.failed(now)

    def _decide(self, now, until):
        """Decide the person being measured (the newest inside) on the samples before
        `until`."""
        m = self.measure
        verdict = m.decide(until)
        self._measuring = False
        i = self.inside - 1
        temp_cc = _int16_cc(m.body_cc)
        self._verdict[i] = verdict
        self._temp[i] = temp_cc
        if verdict == _FEVER:
            self.fevers += 1
            self._writer.alarm(_ALARM_FEVER, temp_cc)
            self.beeper.play(FEVER, now)
        elif verdict == _NORMAL:
            self.beeper.play(CHIRP, now)
        else:
            self.remeasures += 1
            self.beeper.play(REMEASURE, now)

    def _remove_oldest(self):
        n = self.inside - 1
        for i in range(n):
            self._entered[i] = self._entered[i + 1]
            self._verdict[i] = self._verdict[i + 1]
            self._temp[i] = self._temp[i + 1]
        self.inside = n

    def _release(self):
        self.lost += self.inside
        self.inside = 0
        self._measuring = False
        self.measure.abort()

    def _enter(self, now, event_ms):
        if self._measuring:
            self._decide(now, event_ms)
        if self.inside >= INSIDE_MAX:
            self._remove_oldest()
            self.lost += 1
        i = self.inside
        self._entered[i] = now
        self._verdict[i] = _PENDING
        self._temp[i] = 0
        self.inside = i + 1
        self.measure.start(now, self.settle_ms)
        self._measuring = True

    def _pass(self, now, direction, event_ms):
        if self.inside == 0:
            verdict = _NO_READING
            temp_cc = 0
            transit_cs = 0
        else:
            if self._verdict[0] == _PENDING:
                self._decide(now, event_ms)  # only when the oldest is the one measured
            verdict = self._verdict[0]
            temp_cc = self._temp[0]
            transit_cs = ticks_diff(now, self._entered[0]) // 10
            if transit_cs > _TRANSIT_MAX_CS:
                transit_cs = _TRANSIT_MAX_CS
            self._remove_oldest()
        if direction == _DIR_OUT:
            self.people_out += 1
        else:
            self.people_in += 1
        self._writer.passage(verdict, direction, temp_cc, transit_cs)
