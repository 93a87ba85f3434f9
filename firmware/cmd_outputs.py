"""PUMP_PRIME and BUZZER_TEST (PIN): the service's own use of the pump and the buzzer.

`ServiceOutputs.tick(now)` runs a prime and a buzzer test and leaves what they ask of the
outputs this tick in `pump` and `buzzer` (0/1); Commands ORs them into Control's outputs. The
buzzer test plays every pattern once with a silent gap between them.
"""

from micropython import const

import protocol
from buzzer import CHIRP, FAULT, FEVER, NONE, REMEASURE, Buzzer
from cmdreply import OK, refused
from ticks import ticks_add, ticks_diff

_TEST_GAP_MS = const(500)  # silence between the buzzer test's patterns
_BUZZER_TEST = (CHIRP, REMEASURE, FAULT, FEVER)


class ServiceOutputs:
    def __init__(self, config):
        self._config = config
        self.control = None
        self.priming = False
        self._prime_end = 0
        self._prime_rest_until = 0
        self._prime_resting = False
        self.buzzer_testing = False
        self._beeper = Buzzer(config)
        self._test_step = 0
        self._test_gap = False
        self._test_next = 0
        self.pump = 0
        self.buzzer = 0

    def tick(self, now):
        control = self.control
        self.pump = 0
        if self.priming:
            if ticks_diff(now, self._prime_end) >= 0 or (
                control is not None and (control.tank_empty or control.faulted)
            ):
                self.priming = False
                self._prime_resting = True
                self._prime_rest_until = ticks_add(now, self._config.pump_min_rest_ms)
            else:
                self.pump = 1
        elif self._prime_resting and ticks_diff(now, self._prime_rest_until) >= 0:
            self._prime_resting = False
        self.buzzer = 0
        if self.buzzer_testing:
            self._buzzer_step(now)

    def prime(self, now, seconds):
        cfg = self._config
        if seconds < 1 or seconds > cfg.pump_max_run_ms // 1000:
            return refused(protocol.REASON_RANGE)
        if self.priming:
            return refused(protocol.REASON_BUSY)
        control = self.control
        if control is not None and control.tank_empty:
            return refused(protocol.REASON_TANK_EMPTY)
        if self._prime_resting or (control is not None and control.resting):
            return refused(protocol.REASON_RESTING)
        self.priming = True
        self._prime_end = ticks_add(now, seconds * 1000)
        return OK

    def buzzer_test(self, now):
        if self.buzzer_testing:
            return refused(protocol.REASON_BUSY)
        self.buzzer_testing = True
        self._test_step = 0
        self._test_gap = False
        self._beeper.play(_BUZZER_TEST[0], now)
        return OK

    def _buzzer_step(self, now):
        beeper = self._beeper
        beeper.update(now)
        if beeper.pattern == NONE:
            if not self._test_gap:  # a silent gap, so that patterns are heard apart
                self._test_gap = True
                self._test_next = ticks_add(now, _TEST_GAP_MS)
            elif ticks_diff(now, self._test_next) >= 0:
                self._test_gap = False
                self._test_step += 1
                if self._test_step >= len(_BUZZER_TEST):
                    self.buzzer_testing = False
                    return
                beeper.play(_BUZZER_TEST[self._test_step], now)
        self.buzzer = beeper.value


def do_pump_prime(svc, now, key, seconds):
    return svc.outputs.prime(now, seconds)


def do_buzzer_test(svc, now, key, value):
    return svc.outputs.buzzer_test(now)
