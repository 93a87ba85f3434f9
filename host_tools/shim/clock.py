"""A virtual millisecond clock: simulated time advances only when the simulation says so.

`elapsed` is the monotonic simulated time in ms since the start (never wraps); `ticks_ms()` is
what the firmware sees, wrapped at 2**30 like the ticks of a 32-bit MicroPython port, from an
arbitrary start value (start near the wrap to prove the firmware compares ticks correctly).
"""

TICKS_PERIOD = 1 << 30
TICKS_MASK = TICKS_PERIOD - 1


class VirtualClock:
    def __init__(self, start_ticks=0):
        self.start_ticks = start_ticks & TICKS_MASK
        self.elapsed = 0

    def ticks_ms(self):
        return (self.start_ticks + self.elapsed) & TICKS_MASK

    def ticks_at(self, elapsed_ms):
        """The ticks_ms value the firmware sees at simulated time `elapsed_ms`."""
        return (self.start_ticks + elapsed_ms) & TICKS_MASK

    def advance_to(self, elapsed_ms):
        if elapsed_ms < self.elapsed:
            raise ValueError(f"the virtual clock cannot go back ({elapsed_ms} < {self.elapsed})")
        self.elapsed = elapsed_ms

    def advance(self, ms):
        self.advance_to(self.elapsed + ms)
