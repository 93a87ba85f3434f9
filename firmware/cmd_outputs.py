"""PUMP_PRIME and BUZZER_TEST (PIN): the service's own use of the pump and the buzzer.

A prime is handed to Control's PumpGuard (pump.py), so the pump obeys one guard whoever asks
for it: the maximum run, the rest, the tank and the faults apply to a prime as to the channel.
`BuzzerTest.tick(now)` plays every pattern once with a silent gap between them and leaves what
it asks of the buzzer this tick in `buzzer` (0/1); Commands ORs it into Control's output.
"""

from micropython import const

import protocol
from buzzer import CHIRP, FAULT, FEVER, NONE, REMEASURE, Buzzer
from cmdreply import OK, refused
from ticks import ticks_add, ticks_diff

_TEST_GAP_MS = const(500)  # silence between the buzzer test's patterns
_BUZZER_TEST = (CHIRP, REMEASURE, FAULT, FEVER)


class BuzzerTest:
    """Plays every buzzer pattern once; `buzzer` is what it asks of the buzzer this tick."""

    def __init__(self, config):
        self.running = False
        self._beeper = Buzzer(config)
        self._step = 0
        self._gap = False
        self._next = 0
        self.buzzer = 0

    def start(self, now):
        if self.running:
            return refused(protocol.REASON_BUSY)
        self.running = True
        self._step = 0
        self._gap = False
        self._beeper.play(_BUZZER_TEST[0], now)
        return OK

    def tick(self, now):
        self.buzzer = 0
        if not self.running:
            return
        beeper = self._beeper
        beeper.update(now)
        if beeper.pattern == NONE:
            if not self._gap:  # a silent gap, so that patterns are heard apart
                self._gap = True
                self._next = ticks_add(now, _TEST_GAP_MS)
            elif ticks_diff(now, self._next) >= 0:
                self._gap = False
                self._step += 1
                if self._step >= len(_BUZZER_TEST):
                    self.running = False
                    return
                beeper.play(_BUZZER_TEST[self._step], now)
        self.buzzer = beeper.value


def do_pump_prime(svc, now, key, seconds):
    """The prime goes through Control's PumpGuard, the one guard the pump obeys."""
    if seconds < 1 or seconds > svc.config.pump_max_run_ms // 1000:
        return refused(protocol.REASON_RANGE)
    control = svc.control
    if control is None:
        return refused(protocol.REASON_BUSY)  # no pump attached
    guard = control.guard
    if guard.priming:
        return refused(protocol.REASON_BUSY)
    if control.tank_empty:
        return refused(protocol.REASON_TANK_EMPTY)
    if guard.resting or guard.prime_resting:
        return refused(protocol.REASON_RESTING)
    guard.prime(now, seconds * 1000)
    return OK


def do_buzzer_test(svc, now, key, value):
    return svc.buzzer_test.start(now)
