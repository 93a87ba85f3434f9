"""Counters: the people a gate counted over its life and today, kept across reboots.

The Control counts what happened since this boot (`people_in`, `people_out`, `fevers`,
`remeasures`); this module adds them to what the persisted counters (persist.COUNTERS, on
flash) held at boot, keeps today's count of people in, and commits the sums when they change
(`commit()`, called by the Gate every COMMIT_MS and at a clean shutdown). STATUS reports the
sums: `people_in()` (in total), `people_in_today()`, `people_out()`, `fevers()`,
`remeasures()`.

Today is the day `today()` of the gate's clock says (commands.Commands.today: 0 while the gate
never had its time set, and then today's count simply goes on). People are booked into today
when the Gate notices them (`notice(day)`, an integer compare per tick); a new day starts
today's count again from 0 and the total goes on.

A counter reset (the RESET_COUNTERS service command) is an explicit event: `reset()` zeroes
the Control's counts and the persisted ones, writes a CONFIG record KEY_COUNTERS_RESET
carrying the total of people in it cleared, and sets `urgent` so that the Gate's very next
flash work (right after the tick; no flash I/O in the tick) commits it. Nothing is ever
inferred from a count being smaller than before.

Without persisted state (`state` None: no filesystem) the counts start from 0 at every boot.
Values stay within +-2**30 (5,000 people a day for 500 years). Nothing here allocates except
a commit (persist.Store.commit: file I/O, a few times a minute at most).
"""

from micropython import const

import protocol

# persist.COUNTERS indices
_IN_TODAY = const(2)
_IN_TOTAL = const(3)
_OUT = const(4)
_FEVERS = const(5)
_REMEASURES = const(6)
_DAY = const(7)


class Counters:
    def __init__(self, control, writer, state=None):
        self._control = control
        self._writer = writer
        self._state = state  # a persist.Persist, loaded (Persist.boot) before this is built
        v = state.values if state is not None else None
        # what the counters held at boot (or at the last reset)
        self._in_base = v[_IN_TOTAL] if v else 0
        self._out_base = v[_OUT] if v else 0
        self._fevers_base = v[_FEVERS] if v else 0
        self._remeasures_base = v[_REMEASURES] if v else 0
        self.in_today = v[_IN_TODAY] if v else 0
        self.day = v[_DAY] if v else 0
        self._seen_in = 0  # control.people_in already booked into in_today
        self._unsaved = False  # values changed that a failed commit did not write
        self.resets = 0
        self.urgent = False  # a reset waits to be committed by the next flash work
        self.commit_errors = 0

    # -- the sums STATUS reports --

    def people_in(self):
        return self._in_base + self._control.people_in

    def people_in_today(self):
        return self.in_today

    def people_out(self):
        return self._out_base + self._control.people_out

    def fevers(self):
        return self._fevers_base + self._control.fevers

    def remeasures(self):
        return self._remeasures_base + self._control.remeasures

    # -- bookkeeping --

    def notice(self, day):
        """Books the people counted since the last call into today (`day`: days since 1970,
        0 when unknown); a new day restarts today's count. Cheap when nothing changed."""
        if day and day != self.day:
            if self.day:
                self.in_today = 0
            self.day = day
        new = self._control.people_in - self._seen_in
        if new:
            self.in_today += new
            self._seen_in += new

    def reset(self):
        """Every count to 0 (on flash at the next flash work), and a record saying so
        (KEY_COUNTERS_RESET with the total of people in that was cleared)."""
        cleared = self.people_in()
        c = self._control
        c.people_in = c.people_out = c.fevers = c.remeasures = 0
        c.sensor_errors = 0
        self._in_base = self._out_base = self._fevers_base = self._remeasures_base = 0
        self.in_today = 0
        self._seen_in = 0
        self.resets += 1
        self._writer.config(protocol.KEY_COUNTERS_RESET, cleared)
        self.urgent = True  # no flash I/O in the tick: the Gate's next flash work commits it

    def commit(self):
        """Writes the sums to flash if they differ from what is there; True if a commit was
        made. OSError from the filesystem is counted and raised (the next commit retries)."""
        state = self._state
        if state is None:
            return False
        v = state.values
        sums = (
            self.in_today,
            self.people_in(),
            self.people_out(),
            self.fevers(),
            self.remeasures(),
            self.day,
        )
        changed = self._unsaved
        for i in range(6):
            if v[_IN_TODAY + i] != sums[i]:
                v[_IN_TODAY + i] = sums[i]
                changed = True
        self.urgent = False
        if not changed:
            return False
        self._unsaved = True
        try:
            state.commit()
        except OSError:
            self.commit_errors += 1
            raise
        self._unsaved = False
        return True
