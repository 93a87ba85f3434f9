"""PumpGuard: when the mist pump may run, and the pump's own protections.

The pump mists while the channel is occupied and for pump_hold_ms after the last person left.
It never runs longer than pump_max_run_ms without a break: then it stays off for at least
pump_min_rest_ms (`resting`, reported as FAULT_PUMP_MAX_RUN active, then cleared). An empty
tank (tank_ok False) forces it off (`tank_empty`, FAULT_TANK_EMPTY until refilled: a dry pump
burns out), and so does any fault the caller says is unhandled. It is off before the first
update. Timers are wrap-safe: each is guarded by a flag, so a timestamp is never compared once
it is stale. `update` allocates nothing.
"""

from ticks import ticks_diff


class PumpGuard:
    def __init__(self, config):
        self._config = config
        self.on = 0
        self.resting = False
        self.tank_empty = False
        self._on_since = 0
        self._holding = False
        self._last_occupied = 0
        self._rest_since = 0

    def update(self, now, occupied, tank_ok, faulted):
        """Decide the pump output at `now`; returns it (0/1), also in `.on`."""
        cfg = self._config
        self.tank_empty = not tank_ok
        if occupied:
            self._holding = True
            self._last_occupied = now
        elif self._holding and ticks_diff(now, self._last_occupied) >= cfg.pump_hold_ms:
            self._holding = False
        if self.resting and ticks_diff(now, self._rest_since) >= cfg.pump_min_rest_ms:
            self.resting = False
        want = self._holding and tank_ok and not faulted and not self.resting
        if want and self.on and ticks_diff(now, self._on_since) >= cfg.pump_max_run_ms:
            self.resting = True
            self._rest_since = now
            want = False
        if want and not self.on:
            self._on_since = now
        self.on = 1 if want else 0
        return self.on
