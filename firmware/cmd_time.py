"""TIME_SYNC (PIN) and the wall clock it sets: what day it is at the site.

The gate has no clock of its own: the host sends the wall time and the gate keeps it against
its uptime in seconds. All kept values are within +-2**30 (days, seconds of day, uptime
seconds), so `today()` builds no big int on a 32-bit board.
"""

from micropython import const

import protocol
from cmdreply import OK, refused

DAY_S = const(86400)


class WallClock:
    def __init__(self):
        self.synced = False
        self._day = 0
        self._sod = 0
        self._uptime_s = 0

    def sync(self, unix_s, uptime_s):
        """The wall time `unix_s` is now, at `uptime_s` (a big int above 2**30: here only)."""
        self._day = unix_s // DAY_S
        self._sod = unix_s - self._day * DAY_S
        self._uptime_s = uptime_s
        self.synced = True

    def today(self, uptime_s):
        """Days since 1970-01-01 at `uptime_s`, from the last sync; 0 when never synced."""
        if not self.synced:
            return 0
        return self._day + (self._sod + uptime_s - self._uptime_s) // DAY_S


def do_time_sync(svc, now, key, unix_s):
    if unix_s <= 0:
        return refused(protocol.REASON_RANGE)
    svc.clock.sync(unix_s, svc.uptime_s)
    svc.writer.time_sync(unix_s)
    return OK
