"""The Gate's forever loop on a board whose ticks run late: counting and direction stay right.

Issue 12 defect 16: when every tick took longer than the period (the loop fell behind, as in
flash stalls and collections) the step's `now` was the schedule while beam edges carried the
interrupt's real time, and walkers were mis-paired. Here `Gate.run()` drives a LateBoard: its
clock moves only when the loop sleeps or when a tick's work "costs" time (charged at the
watchdog feed that ends every tick), and every walker's beam edges fire their interrupt at
their true time, whatever the loop is doing. Both interpreters.
"""

from fakes_board import FakeBoard, raw_from_cc
from gate import Gate

PERIOD = 10
WRAP = 1 << 30
NORMAL_CC = 3620
FEVER_CC = 3850
BACKGROUND_CC = 2200


class _CostlyFeed:
    def __init__(self, board):
        self._board = board

    def feed(self):
        self._board.charge()


class LateBoard(FakeBoard):
    """A fake board with a clock that runs on its own: `cost_ms(tick)` is charged per tick."""

    def __init__(self, cost_ms, start_ms=0):
        super().__init__(start_ms=start_ms)
        self._cost_ms = cost_ms
        self.ticks = 0
        self._events = []  # (time, kind, value), sorted by time
        self._next = 0

    def schedule(self, t, kind, value):
        self._events.append((t, kind, value))

    def start(self):
        self._events.sort(key=lambda e: e[0])

    def advance(self, ms):
        """Moves the clock `ms` on, firing each scheduled change at its own time."""
        end = self.now + ms
        events = self._events
        while self._next < len(events) and events[self._next][0] <= end:
            t, kind, value = events[self._next]
            self._next += 1
            if t > self.now:
                self.now = t
            if kind == "a":
                self.beam_a.drive(value)
            elif kind == "b":
                self.beam_b.drive(value)
            else:
                self.i2c.object_raw = value
        self.now = end

    def ticks_ms(self):
        return self.now & (WRAP - 1)

    def sleep_ms(self, ms):
        self.advance(ms)

    def charge(self):
        self.advance(self._cost_ms(self.ticks))
        self.ticks += 1

    def watchdog(self, timeout_ms):
        return _CostlyFeed(self)


def walkers(board, plan, first_ms=1000, every_ms=3000):
    """Schedules walkers (direction 'in'/'out', skin cC) as the emulator's harness walks them:
    first beam at 0, second at 200 ms, first clear at 400 ms, second clear at 600 ms."""
    t = board.now + first_ms
    for direction, skin_cc in plan:
        first, second = ("a", "b") if direction == "in" else ("b", "a")
        board.schedule(t, "t", raw_from_cc(skin_cc))
        board.schedule(t, first, 0)
        board.schedule(t + 200, second, 0)
        board.schedule(t + 400, first, 1)
        board.schedule(t + 600, second, 1)
        board.schedule(t + 600, "t", raw_from_cc(BACKGROUND_CC))
        t += every_ms
    board.start()
    return t


PLAN = (
    ("in", NORMAL_CC),
    ("in", FEVER_CC),
    ("out", NORMAL_CC),
    ("in", NORMAL_CC),
    ("out", FEVER_CC),
    ("in", FEVER_CC),
)


def run_plan(cost_ms, start_ms=0):
    board = LateBoard(cost_ms, start_ms)
    end = walkers(board, PLAN)
    gate = Gate(board)
    while board.now - start_ms < end - start_ms + 2000:
        gate.run(max_ticks=100)
    return gate


def check_counts(gate, label):
    c = gate.control
    assert c.people_in == 4, (label, c.people_in, c.people_out)
    assert c.people_out == 2, (label, c.people_in, c.people_out)
    assert c.fevers == 3, (label, c.fevers, c.remeasures)
    assert c.remeasures == 0, (label, c.remeasures)


def test_walkers_are_counted_right_when_the_loop_keeps_time():
    check_counts(run_plan(lambda tick: 1), "on time")


def test_walkers_are_counted_right_when_every_tick_takes_one_and_a_half_periods():
    check_counts(run_plan(lambda tick: PERIOD * 3 // 2), "1.5x")


def test_walkers_are_counted_right_when_every_tick_takes_two_periods():
    check_counts(run_plan(lambda tick: 2 * PERIOD + 1), "2x")


def test_walkers_are_counted_right_when_every_tick_takes_three_periods():
    check_counts(run_plan(lambda tick: 3 * PERIOD), "3x")


def test_walkers_are_counted_right_through_single_200_ms_stalls():
    # a 200 ms stall now and then (a flash erase, a collection), at several phases of a walk
    check_counts(run_plan(lambda tick: 200 if tick % 97 == 13 else 1), "stalls")


def test_walkers_are_counted_right_when_late_ticks_cross_the_ticks_wrap():
    check_counts(run_plan(lambda tick: 2 * PERIOD + 1, start_ms=WRAP - 5000), "wrap")
