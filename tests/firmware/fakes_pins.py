"""Fake beam pins, a fake clock and a fake critical section for BeamCounter and Control tests.

`FakePin.drive(level)` changes the level and, like a Pin IRQ on both edges, calls the handler
registered with `irq()`; `LevelPin` has no `irq` at all (a board without IRQ support).
`FakeClock.ticks_ms` is what the ISR calls; `advance` wraps at 2**30 like a board's clock.
Nothing here allocates after construction.
"""

from ticks import ticks_add

BLOCKED = 0
CLEAR = 1
IRQ_BOTH = 3


class FakeClock:
    def __init__(self, start=0):
        self.now = start

    def ticks_ms(self):
        return self.now

    def advance(self, ms):
        self.now = ticks_add(self.now, ms)
        return self.now


class LevelPin:
    """A pin that can only be read: level sampling must do the counting."""

    def __init__(self, level=CLEAR):
        self.level = level

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v

    def drive(self, level):
        self.level = level


class FakePin(LevelPin):
    def __init__(self, level=CLEAR):
        super().__init__(level)
        self.handler = None
        self.trigger = 0

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.trigger = trigger

    def drive(self, level):
        if level != self.level:
            self.level = level
            if self.handler is not None:
                self.handler(self)


class FakeCriticalSection:
    """disable_irq/enable_irq pair that records whether IRQs are off and how often."""

    def __init__(self):
        self.disabled = False
        self.entries = 0
        self.balanced = True

    def disable_irq(self):
        if self.disabled:
            self.balanced = False
        self.disabled = True
        self.entries += 1
        return 7

    def enable_irq(self, state):
        if not self.disabled or state != 7:
            self.balanced = False
        self.disabled = False
