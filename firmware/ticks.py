"""Wrap-safe tick arithmetic with a period of 2**30 ms, the ticks_ms period of 32-bit ports.

Boards (rp2, esp32) use time's own C functions. The 64-bit unix port (period 2**62) and CPython
use the same maths written out, so the simulated clock wraps where a board's does. Differences
are valid while the two values are less than 2**29 ms (6.2 days) apart.
"""

PERIOD = 1 << 30
_HALF = 1 << 29

try:
    import time

    if time.ticks_add(0, -1) != PERIOD - 1:  # type: ignore[type-var]
        raise ImportError("ticks period is not 2**30")
    ticks_diff = time.ticks_diff
    ticks_add = time.ticks_add
except (ImportError, AttributeError):

    def ticks_diff(end, start):
        return ((end - start + _HALF) & (PERIOD - 1)) - _HALF

    def ticks_add(ticks, delta):
        return (ticks + delta) & (PERIOD - 1)
