"""Who walks through the gate and when: people with ground truth, and the sensor's view.

A person's torso (0.28 m deep) breaks the first beam when they arrive, the second beam 1.0 m
further on; at about 1.4 m/s (0.9 .. 1.8 m/s) one beam is blocked about 0.2 s and the channel
takes about 0.9 s. Arrivals are Poisson at `rate` people per minute (or scripted); people keep
a body's length apart, never overtake, sometimes walk close together, rarely two abreast (one
shadow on the beams), and a few walk out (B -> A) once the channel is clear. Body temperature is
normal 36.6 +- 0.3 C, with a few percent fevers of 37.6 .. 39.5 C (the truth of a fever is the
core temperature against the gate's threshold, not this drawing branch). The sensor sees the
forehead of the most recent person inside the channel (from their first beam break until they
clear the second beam) and the background otherwise (the air at ambient, or a sunlit floor warmer
than a forehead: `background_c`). Ambient drifts slowly.

The forehead follows a heat-balance model, core = skin + k (skin - ambient) + c, as arterial and
forehead thermometers use (k about 0.09 .. 0.13): each person has their own k (0.11 +- 0.01,
kept within 0.09 .. 0.13) and their own constant c, drawn as their skin offset at the reference
ambient of 22 C (0.5 +- 0.2 C). Solved for the skin at the person's ambient `a`:

    skin = core - skin_offset - k / (1 + k) x (22 - a)

so a forehead reads about 1.4 C lower at 8 C than at 22 C, and about 1.1 C higher at 33 C.

Hard cases (`poisson` arguments): fast walkers (`speed_mps` a range, e.g. 2.0 .. 3.0 m/s), a
queue (a high `rate`), entrances of several ambients one after the other (`ambients`: the run is
split into equal segments, with a walker-free pause at each change), a warm background. Every
person carries the `condition` label of the segment they walked in.
"""

import math
import random
from dataclasses import dataclass

BEAM_GAP_M = 1.0
REF_AMBIENT_C = 22.0  # the ambient at which a person's skin offset is drawn (and calibrated)
K_MEAN, K_SD, K_MIN, K_MAX = 0.11, 0.01, 0.09, 0.13
# entrance ambients (C): normal, a cold entrance, a hot one
AMBIENT_RANGES = {"normal": (20.0, 25.0), "cold": (5.0, 12.0), "hot": (30.0, 36.0)}
SEGMENT_PAUSE_MS = 20_000  # nobody walks for this long after the ambient changes
TORSO_M = 0.28
SPACING_M = 0.35  # the least room people keep in front of them in a queue
IN = 1
OUT = -1


@dataclass
class Person:
    """Ground truth for one walker; times are simulated ms from the start."""

    id: int
    arrival_ms: int  # the torso's front reaches the first beam (A walking in, B walking out)
    speed_mps: float
    direction: int  # IN (A -> B) or OUT (B -> A)
    body_c: float
    skin_offset_c: float
    fever: bool
    abreast: bool = False  # beside the previous person: the beams see one shadow
    k: float = K_MEAN  # heat-balance coefficient: core = skin + k (skin - ambient) + c
    ambient_c: float = REF_AMBIENT_C  # the entrance's air when they walk through
    condition: str = "normal"  # the scenario condition they walked in (cold, hot, ...)

    def _ms(self, metres):
        return self.arrival_ms + int(round(metres / self.speed_mps * 1000))

    @property
    def first_clear_ms(self):
        return self._ms(TORSO_M)

    @property
    def second_block_ms(self):
        return self._ms(BEAM_GAP_M)

    @property
    def exit_ms(self):
        """The second beam clears: the person has left the channel."""
        return self._ms(BEAM_GAP_M + TORSO_M)

    @property
    def core_c(self):
        return self.body_c

    @property
    def forehead_c(self):
        """The skin the sensor sees: the heat-balance model at the person's ambient."""
        shift = self.k / (1.0 + self.k) * (REF_AMBIENT_C - self.ambient_c)
        return self.body_c - self.skin_offset_c - shift

    def blocked(self):
        """[(beam, start_ms, end_ms)] with beam 'A' or 'B'."""
        first, second = ("A", "B") if self.direction == IN else ("B", "A")
        return [
            (first, self.arrival_ms, self.first_clear_ms),
            (second, self.second_block_ms, self.exit_ms),
        ]


class Scenario:
    """People (ground truth) over `duration_ms`, plus the ambient temperature over time.

    `segments` [(start_ms, ambient_base_c, label)] change the base ambient from start_ms on
    (None: one segment at `ambient_c`); `background_c` is what the sensor sees with nobody in
    the channel (None: the air at ambient). Each person's `ambient_c` is set from their arrival.
    """

    def __init__(
        self,
        people,
        duration_ms,
        ambient_c=22.0,
        ambient_swing_c=0.8,
        seed=0,
        segments=None,
        background_c=None,
    ):
        self.people = sorted(people, key=lambda p: (p.arrival_ms, p.id))
        self.duration_ms = int(duration_ms)
        self.ambient_base_c = ambient_c
        self.ambient_swing_c = ambient_swing_c
        self.segments = segments or [(0, ambient_c, "normal")]
        self.background_c = background_c
        self._phase = random.Random(f"fevergate/{seed}/ambient").uniform(0, 2 * math.pi)
        for person in self.people:
            person.ambient_c = round(self.ambient_at(person.arrival_ms), 3)

    def base_at(self, t_ms):
        base = self.segments[0][1]
        for start, segment_base, _ in self.segments:
            if t_ms >= start:
                base = segment_base
        return base

    def ambient_at(self, t_ms):
        """Slow drift: a 2-hour swing of +-ambient_swing_c around the segment's base."""
        angle = self._phase + 2 * math.pi * t_ms / 7_200_000
        return self.base_at(t_ms) + self.ambient_swing_c * math.sin(angle)

    def conditions(self):
        """The condition labels of the people, in order of first appearance."""
        return list(dict.fromkeys(p.condition for p in self.people))

    def beam_intervals(self, beam):
        return sorted((s, e) for p in self.people for b, s, e in p.blocked() if b == beam)

    def target_changes(self):
        """[(t_ms, forehead_c or None)]: what the sensor sees, at every change."""
        inside = [(p.arrival_ms, p.exit_ms, p) for p in self.people]
        points = sorted({t for s, e, _ in inside for t in (s, e)})
        changes = []
        current = None
        active = []
        start = 0
        for t in points:
            while start < len(inside) and inside[start][0] <= t:
                active.append(inside[start])
                start += 1
            active = [item for item in active if item[1] > t]
            seen = max(active, key=lambda item: (item[0], item[2].id))[2] if active else None
            value = None if seen is None else round(seen.forehead_c, 3)
            if value != current or not changes:
                changes.append((t, value))
                current = value
        return changes

    # ground truth summaries
    def people_in(self):
        return [p for p in self.people if p.direction == IN]

    def fevers(self, threshold_c=37.30):
        """Inbound people whose core temperature is at or above the threshold in force."""
        return [p for p in self.people if p.direction == IN and p.core_c >= threshold_c - 1e-9]

    @classmethod
    def poisson(
        cls,
        seed,
        minutes,
        rate,
        out_fraction=0.08,
        abreast_fraction=0.02,
        fever_fraction=0.04,
        min_gap_s=0.0,
        tail_s=5.0,
        ambient_c=None,
        speed_mps=None,
        ambients=None,
        background_c=None,
        label="",
    ):
        """Poisson arrivals at `rate` people a minute for `minutes`, everyone out before the end.

        `min_gap_s` > 0 separates walkers: each arrives at least that long after the previous
        one left the channel (nobody abreast then). `speed_mps` (lo, hi) draws every walker's
        speed uniformly in that range instead of 1.4 +- 0.2 m/s. `ambients` (names of
        AMBIENT_RANGES) splits the run into that many equal segments, each with its own base
        ambient drawn in its range; `label` is added to each person's condition (e.g. "fast")."""
        rng = random.Random(f"fevergate/{seed}/people")
        body_rng = random.Random(f"fevergate/{seed}/physiology")
        duration_ms = int(minutes * 60_000)
        names = list(ambients) if ambients else [None]
        for name in names:
            if name is not None and name not in AMBIENT_RANGES:
                raise ValueError(f"unknown ambient {name!r}: one of {', '.join(AMBIENT_RANGES)}")
        people = []
        bounds = [duration_ms * i // len(names) for i in range(len(names) + 1)]
        for i, name in enumerate(names):
            condition = "+".join(x for x in (label, name or "normal") if x)
            start = bounds[i] + (SEGMENT_PAUSE_MS if i else 0)
            _arrivals(
                rng, body_rng, people, start, bounds[i + 1], rate, out_fraction,
                abreast_fraction, fever_fraction, min_gap_s, tail_s, speed_mps, condition,
            )  # fmt: skip
        base = ambient_c if ambient_c is not None else rng.uniform(20.0, 25.0)
        segments = None
        if ambients:
            ambient_rng = random.Random(f"fevergate/{seed}/ambients")
            segments = [
                (bounds[i], round(ambient_rng.uniform(*AMBIENT_RANGES[name]), 2), name)
                for i, name in enumerate(names)
            ]
        return cls(
            people,
            duration_ms,
            ambient_c=base,
            seed=seed,
            segments=segments,
            background_c=background_c,
        )

    @classmethod
    def scripted(cls, walkers, duration_ms, ambient_c=22.0, seed=0):
        """walkers: [(arrival_ms, body_c)] or [(arrival_ms, body_c, direction, speed_mps,
        skin_offset_c)]; `fever` (the drawing branch) means body_c >= 37.3."""
        people = []
        for i, w in enumerate(walkers):
            arrival, body = w[0], w[1]
            direction = w[2] if len(w) > 2 else IN
            speed = w[3] if len(w) > 3 else 1.4
            offset = w[4] if len(w) > 4 else 0.5
            people.append(Person(i, int(arrival), speed, direction, body, offset, body >= 37.3))
        return cls(people, duration_ms, ambient_c=ambient_c, ambient_swing_c=0.0, seed=seed)


def _arrivals(
    rng, body_rng, people, start_ms, end_ms, rate, out_fraction, abreast_fraction,
    fever_fraction, min_gap_s, tail_s, speed_mps, condition,
):  # fmt: skip
    """Appends to `people` the Poisson arrivals between start_ms and end_ms (all out by then)."""
    if rate <= 0:
        return
    t = float(start_ms)
    channel_clear = 0
    first = len(people)
    while True:
        t += rng.expovariate(rate / 60_000.0)
        person = _draw_person(rng, len(people), fever_fraction)
        person.k = round(min(K_MAX, max(K_MIN, body_rng.gauss(K_MEAN, K_SD))), 4)
        person.condition = condition
        if speed_mps is not None:
            person.speed_mps = round(body_rng.uniform(*speed_mps), 3)
        if rng.random() < out_fraction:
            person.direction = OUT
        last = people[-1] if len(people) > first else None
        arrival = int(t)
        if (
            last is not None
            and min_gap_s <= 0
            and person.direction == last.direction
            and not last.abreast
            and rng.random() < abreast_fraction
        ):
            person.abreast = True
            person.speed_mps = last.speed_mps
            arrival = last.arrival_ms + rng.randint(0, 40)
        elif last is not None:
            if min_gap_s > 0 or person.direction != last.direction:
                gap_ms = int(min_gap_s * 1000) if min_gap_s > 0 else 800
                arrival = max(arrival, channel_clear + gap_ms)
            else:
                arrival = max(arrival, _follow_ms(last, person))
        person.arrival_ms = arrival
        if person.exit_ms + tail_s * 1000 > end_ms:
            break
        people.append(person)
        channel_clear = max(channel_clear, person.exit_ms)
        t = max(t, float(arrival))


def _draw_person(rng, index, fever_fraction):
    fever = rng.random() < fever_fraction
    body = rng.uniform(37.6, 39.5) if fever else rng.gauss(36.6, 0.3)
    speed = min(1.8, max(0.9, rng.gauss(1.4, 0.2)))
    offset = min(1.1, max(0.0, rng.gauss(0.5, 0.2)))
    return Person(index, 0, round(speed, 3), IN, round(body, 2), round(offset, 2), fever)


def _follow_ms(last, person):
    """Earliest arrival for `person` behind `last` (same way): keep SPACING_M at both beams
    (a faster follower catches up inside the channel but still keeps their room when they
    reach the far beam), never overtake."""
    room_ms = int(SPACING_M / person.speed_mps * 1000)
    behind = last.first_clear_ms + room_ms
    gap_ms = int(round(BEAM_GAP_M / person.speed_mps * 1000))
    at_far_beam = last.exit_ms + room_ms - gap_ms
    return max(behind, at_far_beam)
