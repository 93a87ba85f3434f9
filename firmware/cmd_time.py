"""TIME_SYNC (PIN) and the wall clock it sets: what time and what day it is at the site.

The gate has no clock of its own: the host sends the wall time and the site's UTC offset, and
the gate keeps them against its uptime in seconds. TIME_SYNC's value is the unix time as a u32
(sent as its i32 bit pattern: good until 2106-02-07), its key the site's UTC offset in quarter
hours as an i8 (-48..+56: UTC-12:00 .. UTC+14:00; 0 for a host that does not say). The gate
answers with CONFIG KEY_UTC_OFFSET (minutes) and a TIME record (unix_s, UTC, at its t_cs).
GET_CONFIG KEY_CLOCK_DAY asks for the clock as the gate has it (`send_clock`): its offset once
set, the site's day (0: never set since boot) and the second of that day.

"Today" is the site's day: days since 1970-01-01 of the local time (UTC + offset), so a
Shanghai site's daily count restarts at local midnight, not at 08:00. All kept values are
within +-2**30 (local day, local second of the day, uptime seconds), so `today()` builds no
big int on a 32-bit board; only the sync itself does (the unix time is above 2**30).
"""

from micropython import const

import protocol
from cmdreply import OK, refused

DAY_S = const(86400)
OFFSET_MIN_QH = const(-48)  # UTC-12:00
OFFSET_MAX_QH = const(56)  # UTC+14:00


class WallClock:
    def __init__(self):
        self.synced = False
        self.offset_min = 0  # the site's UTC offset, minutes
        self._day = 0  # the site's day at the sync
        self._sod = 0  # the site's second of that day at the sync
        self._uptime_s = 0

    def sync(self, unix_s, uptime_s, offset_min=0):
        """The wall time `unix_s` (UTC) is now, at `uptime_s`, at a site `offset_min` east."""
        local_s = unix_s + offset_min * 60
        self._day = local_s // DAY_S
        self._sod = local_s - self._day * DAY_S
        self._uptime_s = uptime_s
        self.offset_min = offset_min
        self.synced = True

    def today(self, uptime_s):
        """The site's day (days since 1970-01-01) at `uptime_s`; 0 when never synced."""
        if not self.synced:
            return 0
        return self._day + (self._sod + uptime_s - self._uptime_s) // DAY_S

    def second(self, uptime_s):
        """The second of the site's day (0..86399) at `uptime_s`; 0 when never synced."""
        if not self.synced:
            return 0
        return (self._sod + uptime_s - self._uptime_s) % DAY_S


def send_clock(svc):
    """The gate's clock now, as CONFIG records: the site's UTC offset it keeps (only once the
    clock was set), the site's day (0: never set since boot) and the second of that day. Small
    ints only: nothing allocates, also on a 32-bit board."""
    clock = svc.clock
    writer = svc.writer
    if clock.synced:
        writer.config(protocol.KEY_UTC_OFFSET, clock.offset_min)
    writer.config(protocol.KEY_CLOCK_DAY, clock.today(svc.uptime_s))
    writer.config(protocol.KEY_CLOCK_SECOND, clock.second(svc.uptime_s))


def do_time_sync(svc, now, key, value):
    offset_qh = key - 256 if key >= 128 else key
    # the u32 from its i32 pattern: a long int on a 32-bit port (as is `value`), once a sync,
    # never per tick
    unix_s = value + (1 << 32) if value < 0 else value
    if unix_s == 0 or offset_qh < OFFSET_MIN_QH or offset_qh > OFFSET_MAX_QH:
        return refused(protocol.REASON_RANGE)
    offset_min = offset_qh * 15
    svc.clock.sync(unix_s, svc.uptime_s, offset_min)
    svc.writer.config(protocol.KEY_UTC_OFFSET, offset_min)
    svc.writer.time_sync(unix_s)
    return OK
