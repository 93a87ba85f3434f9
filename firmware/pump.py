"""PumpGuard: when the mist pump may run, and the pump's own protections, whoever asks for it.

Two things ask for the pump: the channel (it mists while occupied and for pump_hold_ms after
the last person left) and the technician's prime (`prime(now, run_ms)`, the PUMP_PRIME
command). Both go through the same guard: the pump never runs longer than pump_max_run_ms in
one go, whoever asked; then it stays off for at least pump_min_rest_ms (`resting`, reported as
FAULT_PUMP_MAX_RUN active, then cleared) and a prime running then is over. An empty tank
(tank_ok False) forces it off (`tank_empty`, FAULT_TANK_EMPTY until refilled: a dry pump burns
out), and so does any fault the caller says is unhandled; either also ends a prime. After a
prime a new one waits pump_min_rest_ms (`prime_resting`). The pump is off before the first
update. Timers are wrap-safe: each is guarded by a flag, so a timestamp is never compared once
it is stale. `update` allocates nothing.
"""

from ticks import ticks_add, ticks_diff


class PumpGuard:
    def __init__(self, config):
        self._config = config
        self.on = 0
        self.resting = False
        self.tank_empty = False
        self.priming = False
        self.prime_resting = False
        self._on_since = 0
        self._holding = False
        self._last_occupied = 0
        self._rest_since = 0
        self._prime_ms = 0
        self._prime_until = -1  # -1: the prime starts at the next update
        self._prime_rest_until = 0

    def prime(self, now, run_ms):
        """Ask for the pump for `run_ms` from the next update (the caller checked the tank and
        the rest)."""
        self.priming = True
        self._prime_ms = run_ms
        self._prime_until = -1

    def _end_prime(self, now):
        self.priming = False
        self.prime_resting = True
        self._prime_rest_until = ticks_add(now, self._config.pump_min_rest_ms)

    def update(self, now, occupied, tank_ok, faulted):
        """Decide the pump output at `now`; returns it (0/1), also in `.on`."""
        if not (
            occupied
            or self._holding
            or self.resting
            or self.on
            or self.priming
            or self.prime_resting
        ):
            self.tank_empty = not tank_ok  # idle: nothing to time, the pump stays off
            return 0
        cfg = self._config
        self.tank_empty = not tank_ok
        if occupied:
            self._holding = True
            self._last_occupied = now
        elif self._holding and ticks_diff(now, self._last_occupied) >= cfg.pump_hold_ms:
            self._holding = False
        if self.resting and ticks_diff(now, self._rest_since) >= cfg.pump_min_rest_ms:
            self.resting = False
        if self.prime_resting and ticks_diff(now, self._prime_rest_until) >= 0:
            self.prime_resting = False
        allowed = tank_ok and not faulted
        if self.priming and self._prime_until == -1:
            self._prime_until = ticks_add(now, self._prime_ms)
            self._prime_ms = 0
        if self.priming and (not allowed or ticks_diff(now, self._prime_until) >= 0):
            self._end_prime(now)
        want = (self._holding or self.priming) and allowed and not self.resting
        if want and self.on and ticks_diff(now, self._on_since) >= cfg.pump_max_run_ms:
            self.resting = True
            self._rest_since = now
            if self.priming:
                self._end_prime(now)
            want = False
        if want and not self.on:
            self._on_since = now
        self.on = 1 if want else 0
        return self.on
