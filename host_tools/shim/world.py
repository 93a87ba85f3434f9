"""The simulated gate's world: the parts, the MLX90614 model and the scenario's timeline.

`World` turns a Scenario and a FaultPlan into one sorted timeline of events (beam levels with
bounces, the sensor's target, ambient drift, tank level, bus lock-ups) and applies them as
virtual time advances, each at its own instant: an edge fires the pin IRQ with the clock set to
the edge's millisecond. Every random stream is its own random.Random derived from the seed, so a
seed gives the same world whatever the runtime.
"""

import random

from host_tools.shim.clock import VirtualClock
from host_tools.shim.faults import FaultPlan
from host_tools.shim.parts import SimI2C, SimOutput, SimPin, SimUART

MLX_ADDRESS = 0x5A
BEAM_BLOCKED = 0
BEAM_CLEAR = 1
TANK_OK = 1
TANK_EMPTY = 0

# timeline event kinds; the first three are pin levels (the MicroPython bridge ships them)
BEAM_A = 0
BEAM_B = 1
TANK = 2
TARGET = 3
AMBIENT = 4
BUS_STUCK = 5
PIN_KINDS = (BEAM_A, BEAM_B, TANK)
_AMBIENT_STEP_MS = 60_000


class SimulationOver(BaseException):
    """Raised from the board's sleep when virtual time reaches the end (not an Exception, so
    the firmware's error handling cannot swallow it; its `finally` blocks still run)."""


def part_rng(seed, part):
    return random.Random(f"fevergate/{seed}/{part}")


def make_sensor(seed, ambient_c, part="BAA"):
    from host_tools.shim.mlx90614_model import MLX90614Model

    return MLX90614Model(seed=seed, part=part, address=MLX_ADDRESS, ambient_c=ambient_c)


class World:
    def __init__(self, scenario, faults=None, seed=0, start_ticks=0, sensor=None):
        self.scenario = scenario
        self.faults = faults if faults is not None else FaultPlan()
        self.seed = seed
        self.clock = VirtualClock(start_ticks)
        self.end_ms = scenario.duration_ms
        ambient = scenario.ambient_at(0)
        self.sensor = sensor if sensor is not None else make_sensor(seed, ambient)
        if getattr(scenario, "background_c", None) is not None:
            self.sensor.background_c = scenario.background_c
        self._configure_sensor()
        self.i2c = SimI2C(self.clock, {MLX_ADDRESS: self.sensor})
        self.beam_a = SimPin("beam_a", BEAM_CLEAR)
        self.beam_b = SimPin("beam_b", BEAM_CLEAR)
        self.tank = SimPin("tank", TANK_OK)
        self.pump = SimOutput(self.clock, "pump")
        self.buzzer = SimOutput(self.clock, "buzzer")
        self.uart = SimUART(
            self.clock,
            part_rng(seed, "uart"),
            drop_rate=self.faults.rate("uart-drop"),
            corrupt_rate=self.faults.rate("uart-corrupt"),
        )
        self.bus_hang = None  # (start, end) virtual ms of an I2C hang (fault bus-hang)
        self.timeline = self._build_timeline()
        self._next = 0
        self._next_pin = 0
        self.hooks = []  # callables(world), run after every advance

    def _configure_sensor(self):
        knobs = (("nack", "nack_rate"), ("pec", "pec_corrupt_rate"), ("flag", "error_flag_rate"))
        for fault, knob in knobs:
            if fault in self.faults:
                setattr(self.sensor, knob, self.faults.rate(fault))

    # timeline ---------------------------------------------------------------------------
    def _build_timeline(self):
        events = []
        faults = self.faults
        end = self.end_ms
        a_blocked = self.scenario.beam_intervals("A")
        if "blocked-beam" in faults:
            start = int(end * 0.3)
            a_blocked.append((start, start + int(faults.rate("blocked-beam") * 1000)))
        bounce = faults.rate("bounce")
        bounce_rng = part_rng(self.seed, "bounce")
        for kind, intervals in ((BEAM_A, a_blocked), (BEAM_B, self.scenario.beam_intervals("B"))):
            for t, level in _edges(intervals):
                events.append((t, kind, level))
                if bounce and bounce_rng.random() < bounce:
                    # contact bounce: the level flips back and forth, one edge a millisecond
                    for k in range(1, 1 + bounce_rng.choice((2, 4))):
                        events.append((t + k, kind, level if k % 2 == 0 else 1 - level))
        for t, forehead in self.scenario.target_changes():
            events.append((t, TARGET, forehead))
        steps = set(range(0, end + 1, _AMBIENT_STEP_MS))
        steps.update(start for start, _, _ in getattr(self.scenario, "segments", ()))
        for t in sorted(steps):
            events.append((t, AMBIENT, round(self.scenario.ambient_at(t), 3)))
        if "tank-empty" in faults:
            start = int(end * 0.5)
            events.append((start, TANK, TANK_EMPTY))
            events.append((start + int(faults.rate("tank-empty") * 1000), TANK, TANK_OK))
        if "stuck-bus" in faults and faults.rate("stuck-bus") > 0:
            t = int(end * 0.2)
            while t < end:
                events.append((t, BUS_STUCK, 1))
                t += int(faults.rate("stuck-bus") * 1000)
        if "bus-hang" in faults:
            start = int(end * 0.4)
            self.bus_hang = (start, start + int(faults.rate("bus-hang") * 1000))
        order = {BEAM_A: 1, BEAM_B: 1, TANK: 1, TARGET: 0, AMBIENT: 0, BUS_STUCK: 0}
        indexed = [(t, order[k], i, k, v) for i, (t, k, v) in enumerate(events)]
        indexed.sort()
        return [(t, k, v) for t, _, _, k, v in indexed]

    # running ----------------------------------------------------------------------------
    def _apply(self, kind, value, t):
        if kind == BEAM_A:
            self.beam_a.drive(value)
        elif kind == BEAM_B:
            self.beam_b.drive(value)
        elif kind == TANK:
            self.tank.drive(value)
        elif kind == TARGET:
            self.sensor.set_target(t, value)
        elif kind == AMBIENT:
            self.sensor.ambient_c = value
        elif kind == BUS_STUCK:
            self.i2c.lock_up()

    def advance_to(self, t_ms):
        """Apply every event up to and including t_ms, each with the clock at its instant."""
        timeline = self.timeline
        clock = self.clock
        while self._next < len(timeline) and timeline[self._next][0] <= t_ms:
            t, kind, value = timeline[self._next]
            self._next += 1
            if t > clock.elapsed:
                clock.advance_to(t)
            self._apply(kind, value, clock.elapsed)
        if t_ms > clock.elapsed:
            clock.advance_to(t_ms)
        for hook in self.hooks:
            hook(self)

    def bus_hangs_at(self, t_ms):
        """True if an I2C transfer started at `t_ms` never returns (fault bus-hang)."""
        return self.bus_hang is not None and self.bus_hang[0] <= t_ms < self.bus_hang[1]

    def take_pin_events(self, t_end, limit=None):
        """Pin events before t_end not yet taken, for the bridge: ([(t_ms, kind, level)], end).

        With `limit`, fewer events are taken and `end` moves back to the first one left, so a
        slice never splits the events of one millisecond."""
        out = []
        timeline = self.timeline
        i = self._next_pin
        while i < len(timeline) and timeline[i][0] < t_end:
            if timeline[i][1] in PIN_KINDS:
                if limit is not None and len(out) == limit:
                    t_end = timeline[i][0]
                    while out and out[-1][0] == t_end:
                        out.pop()
                    i = next(k for k in range(self._next_pin, i + 1) if timeline[k][0] >= t_end)
                    break
                out.append(timeline[i])
            i += 1
        self._next_pin = i
        return out, t_end

    def next_pin_event_ms(self):
        i = self._next_pin
        while i < len(self.timeline):
            if self.timeline[i][1] in PIN_KINDS:
                return self.timeline[i][0]
            i += 1
        return None


def _edges(intervals):
    """Blocked intervals (possibly overlapping) -> [(t_ms, level)] transitions of the beam."""
    merged = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    edges = []
    for start, end in merged:
        edges.append((start, BEAM_BLOCKED))
        edges.append((end, BEAM_CLEAR))
    return edges
