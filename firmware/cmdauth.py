"""Who may run a service command: the PIN and its lockout (PinLock), and the rate of frames
that carry no right PIN (FrameRate).

PIN commands need the PIN (0..protocol.PIN_MAX, never echoed; the site's `pin_default` until
one is set). A wrong PIN is refused (REASON_BAD_PIN) and counted (`bad_pins` in a row,
`bad_pins_total`); the BAD_PIN_LIMIT-th wrong PIN in a row locks the PIN commands for
LOCK_MS (REASON_LOCKED, whatever PIN is sent). A right PIN clears the wrong ones in a row.

The wrong PINs in a row and the lock survive a reset: `check` sets `changed` whenever they
change (Commands then persists `lockout_values()`), and `restore` puts them back at boot. A
lock found at boot lasts LOCK_MS from the first tick (the time already served is unknown), so
pulling the plug never shortens a lockout.

FrameRate: every frame that is not a PIN command with the right PIN (free commands, unknown
codes, bad frames, wrong or locked PINs) spends a token; there are FREE_BURST tokens and one
comes back every FREE_REFILL_MS. Without a token the frame is refused as REASON_RATE_LIMITED
and does nothing else, so a flood of free commands (GET_CONFIG sends ~25 records) cannot fill
the stream and the journal with link chatter: at most FREE_BURST answers, then four a second.
Beyond the limit only the first refused frame of each refill period is answered
(REASON_RATE_LIMITED); the others are dropped unanswered (counted in `limited`), so refusals
are no flood either.
"""

from micropython import const

import protocol
from ticks import ticks_add, ticks_diff

BAD_PIN_LIMIT = const(5)
LOCK_MS = const(60000)
FREE_BURST = const(16)  # frames without the right PIN answered back to back
FREE_REFILL_MS = const(250)  # then four a second

_NONE = protocol.REASON_NONE


class PinLock:
    def __init__(self, pin):
        self.pin = pin
        self.bad_pins = 0  # wrong PINs in a row
        self.bad_pins_total = 0
        self.locked = False
        self._locked_until = 0
        self._lock_from_next_tick = False
        self.changed = False  # bad_pins or locked changed since lockout_values() was persisted

    def lockout_values(self):
        """What survives a reset: [wrong PINs in a row, locked (0/1)]."""
        self.changed = False
        return [self.bad_pins, 1 if self.locked else 0]

    def restore(self, values):
        """Put back persisted lockout_values() at boot (ignored when implausible)."""
        bad_pins, locked = values[0], values[1]
        if 0 <= bad_pins <= BAD_PIN_LIMIT:
            self.bad_pins = bad_pins
        if locked == 1:
            self.locked = True
            self._lock_from_next_tick = True

    def tick(self, now):
        """Ends the lock once LOCK_MS have passed."""
        if self._lock_from_next_tick:
            self._lock_from_next_tick = False
            self._locked_until = ticks_add(now, LOCK_MS)
        if self.locked and ticks_diff(now, self._locked_until) >= 0:
            self.locked = False
            self.bad_pins = 0
            self.changed = True  # persisted with the next command (no flash I/O in the tick)

    def left_s(self, now):
        """Whole seconds (rounded up) until PIN commands are taken again; 0 when not locked."""
        if not self.locked:
            return 0
        if self._lock_from_next_tick:
            return LOCK_MS // 1000
        left_ms = ticks_diff(self._locked_until, now)
        return (left_ms + 999) // 1000 if left_ms > 0 else 0

    def check(self, now, pin):
        """REASON_NONE if `pin` is right and the PIN commands are not locked; else the reason."""
        self.tick(now)
        if self.locked:
            return protocol.REASON_LOCKED
        if pin != self.pin:
            self.bad_pins += 1
            self.bad_pins_total += 1
            if self.bad_pins >= BAD_PIN_LIMIT:
                self.locked = True
                self._locked_until = ticks_add(now, LOCK_MS)
            self.changed = True
            return protocol.REASON_BAD_PIN
        if self.bad_pins:
            self.bad_pins = 0
            self.changed = True
        return _NONE


class FrameRate:
    """A token bucket for frames that carry no right PIN (integer ticks, no allocation)."""

    def __init__(self):
        self.tokens = FREE_BURST
        self._refill_at = 0
        self._refilling = False
        self._told = False  # a RATE_LIMITED answer went out since the last token came back
        self.limited = 0  # frames refused (answered or not)

    def take(self, now):
        """True (a token spent) if a frame may be answered at `now`; else counted, False."""
        if self._refilling:
            while self.tokens < FREE_BURST and ticks_diff(now, self._refill_at) >= 0:
                self.tokens += 1
                self._told = False
                self._refill_at = ticks_add(self._refill_at, FREE_REFILL_MS)
            if self.tokens >= FREE_BURST:
                self._refilling = False
        if self.tokens <= 0:
            self.limited += 1
            return False
        self.tokens -= 1
        if not self._refilling:
            self._refilling = True
            self._refill_at = ticks_add(now, FREE_REFILL_MS)
        return True

    def tell(self):
        """True once per refill period: whether a refused frame gets its RATE_LIMITED REPLY."""
        if self._told:
            return False
        self._told = True
        return True
