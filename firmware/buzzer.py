"""Buzzer: beep patterns played without blocking, one `update(now)` per tick.

A pattern is a table of (on_ms, off_ms) steps played `repeats` times. CHIRP: one short beep
(a normal passage). REMEASURE: a double beep (step back and pause). FAULT: one long beep.
FEVER: a distinct triple (short, short, long) repeated for about fever_alarm_ms. A pattern
only interrupts one of equal or lower priority: fever > fault > remeasure > chirp; a lower one
asked for while a higher one plays is dropped. With buzzer_enabled 0 the patterns run as usual
but the output stays 0. The output is driven by an active buzzer (on/off), so `value` is 0/1.
Timing is exact: each step starts where the previous one ended (ticks_add), not at the tick
that noticed it. Nothing here allocates.
"""

from micropython import const

from ticks import ticks_add, ticks_diff

NONE = const(0)
CHIRP = const(1)
REMEASURE = const(2)
FAULT = const(3)
FEVER = const(4)  # the pattern ids are also their priorities

_CHIRP_STEPS = ((60, 0),)
_REMEASURE_STEPS = ((80, 80), (80, 0))
_FAULT_STEPS = ((1000, 0),)
_FEVER_STEPS = ((120, 80), (120, 80), (400, 300))  # 1100 ms a round

PATTERNS = (None, _CHIRP_STEPS, _REMEASURE_STEPS, _FAULT_STEPS, _FEVER_STEPS)
FEVER_ROUND_MS = const(1100)


class Buzzer:
    def __init__(self, config):
        self._config = config
        self.pattern = NONE
        self.value = 0
        self._steps = None
        self._step = 0
        self._off = False  # in the off part of the step
        self._rounds = 0  # rounds still to play after this one
        self._t = 0  # start of the current part

    def play(self, pattern, now):
        """Start `pattern` at `now` unless one of higher priority is playing."""
        if pattern < self.pattern:
            return
        self.pattern = pattern
        self._steps = PATTERNS[pattern]
        self._step = 0
        self._off = False
        self._t = now
        if pattern == FEVER:
            rounds = (self._config.fever_alarm_ms + FEVER_ROUND_MS - 1) // FEVER_ROUND_MS
            self._rounds = rounds - 1 if rounds > 1 else 0
        else:
            self._rounds = 0
        self.update(now)

    def stop(self):
        self.pattern = NONE
        self._steps = None
        self.value = 0

    def update(self, now):
        """Advance the pattern to `now`; returns the output (0/1), also in `.value`."""
        steps = self._steps
        while steps is not None:
            part = steps[self._step][1 if self._off else 0]
            if ticks_diff(now, self._t) < part:
                break
            self._t = ticks_add(self._t, part)
            if not self._off:
                self._off = True
                continue
            self._off = False
            self._step += 1
            if self._step < len(steps):
                continue
            self._step = 0
            if self._rounds > 0:
                self._rounds -= 1
                continue
            self.pattern = NONE
            self._steps = steps = None
        self.value = (
            1 if steps is not None and not self._off and self._config.buzzer_enabled else 0
        )
        return self.value
