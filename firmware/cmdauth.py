"""PinLock: who may run a service command. The PIN, the wrong-PIN lockout.

PIN commands need the PIN (0..protocol.PIN_MAX, never echoed; the site's `pin_default` until
one is set). A wrong PIN is refused (REASON_BAD_PIN) and counted (`bad_pins` in a row,
`bad_pins_total`); the BAD_PIN_LIMIT-th wrong PIN in a row locks the PIN commands for
LOCK_MS (REASON_LOCKED, whatever PIN is sent). A right PIN clears the wrong ones in a row.
"""

from micropython import const

import protocol
from ticks import ticks_add, ticks_diff

BAD_PIN_LIMIT = const(5)
LOCK_MS = const(60000)

_NONE = protocol.REASON_NONE


class PinLock:
    def __init__(self, pin):
        self.pin = pin
        self.bad_pins = 0  # wrong PINs in a row
        self.bad_pins_total = 0
        self.locked = False
        self._locked_until = 0

    def tick(self, now):
        """Ends the lock once LOCK_MS have passed."""
        if self.locked and ticks_diff(now, self._locked_until) >= 0:
            self.locked = False
            self.bad_pins = 0

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
            return protocol.REASON_BAD_PIN
        self.bad_pins = 0
        return _NONE
