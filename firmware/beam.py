"""BeamCounter: beam-break edges to people entering and passing the channel, with direction.

Beam A is at the channel entrance and, on two-beam boards, beam B at the exit (about 1 m on).
A person walking A -> B passes in (DIR_IN), B -> A out (DIR_OUT). The channel is occupied
from a person's first beam break until that person clears the far beam. Up to `_INSIDE` people
can be in the channel at once (close followers), kept in a small FIFO in arrival order. On a
one-beam board (beam_b None) occupancy is the time beam A is blocked, every passage has
direction DIR_UNKNOWN and counts in `people_in`. A break of the far beam within _MIN_CROSS_MS
of a person's entry is somebody else, entering from the other side.

Known limits, by design: two people abreast (or one close on another's heels, with no gap of
at least debounce_ms between them) break a beam once and count as one person; a person who
turns back inside the channel is released by the vacate timeout, not counted. A beam blocked
for stuck_ms is a fault (EV_STUCK), not an endless person: the people held inside are released
without a passage, and while one beam of two is stuck the other one counts alone
(DIR_UNKNOWN). The stuck beam's release gives EV_UNSTUCK. People still inside when no beam has
been blocked for vacate_ms (turned back, or missed by a beam) are released with EV_VACATED.

Hardware facts: break-beam receivers switch in under 2 ms; soft IRQs can lag by
milliseconds (they wait for the VM, a collection, a flash write), hard IRQs take 20..25 us on
rp2. With `hard=True` (the board's IRQ_HARD) the handlers run as hard interrupts, so an edge
keeps its true time however late the loop is; they only record (pin index, ticks_ms()) into a
preallocated edge log, allocating nothing. `poll(now)` in the main loop drains the log inside
a short critical section (the board's `disable_irq`/`enable_irq`, machine's on a
microcontroller), samples the pin levels (so a
board without IRQs still counts, and a missed edge cannot leave a level wrong), debounces (a
level must hold debounce_ms since its last edge) and returns one event per call (later ones
wait in a small queue); `event_ms` is the ticks of the edge behind it (debounce_ms or more
before the poll that returns it). An edge log overflow is counted in `overflows`; level
sampling still gives the right levels. Nothing here allocates after __init__.
"""

from array import array

from micropython import const

import protocol
from ticks import ticks_diff

EV_NONE = const(0)
EV_ENTER = const(1)  # a person broke a beam and is now inside (measure them)
EV_PASS = const(2)  # a person cleared the far beam: .direction and .transit_ms are theirs
EV_STUCK = const(3)  # a beam was blocked for stuck_ms: a fault; everybody inside released
EV_UNSTUCK = const(4)  # a stuck beam cleared
EV_VACATED = const(5)  # people inside released without a passage (vacate timeout)

_LOG = const(32)  # edge log slots between two polls
_QUEUE = const(8)  # events waiting for poll
INSIDE_MAX = const(4)  # people in the channel at once (Control keeps as many)
_INSIDE = const(INSIDE_MAX)
_A = const(0)
_MIN_CROSS_MS = const(100)  # faster than a sprint over the ~1 m between the beams

_DIR_UNKNOWN = protocol.DIR_UNKNOWN
_DIR_IN = protocol.DIR_IN
_DIR_OUT = protocol.DIR_OUT


def _no_disable():
    return 0


def _no_enable(state):
    pass


class BeamCounter:
    def __init__(
        self,
        beam_a,
        beam_b,
        blocked_level,
        trigger,
        ticks_ms,
        debounce_ms=30,
        stuck_ms=10_000,
        vacate_ms=5_000,
        disable_irq=None,
        enable_irq=None,
        hard=False,
    ):
        self._pins = [beam_a, beam_b]
        self._nb = 1 if beam_b is None else 2
        self._blocked = blocked_level
        self._ticks_ms = ticks_ms
        self.debounce_ms = debounce_ms
        self.stuck_ms = stuck_ms
        self.vacate_ms = vacate_ms
        self._disable = disable_irq if disable_irq is not None else _no_disable
        self._enable = enable_irq if enable_irq is not None else _no_enable
        now = ticks_ms()
        # Edge log, written only by the IRQ handlers (and reset by poll with IRQs off).
        self._log_t = array("i", [0] * _LOG)
        self._log_p = bytearray(_LOG)
        self._n = 0
        self.overflows = 0
        # Per beam: last raw level, debounced level, time of last change, blocked since, stuck.
        self._raw = bytearray(2)
        self._lvl = bytearray(2)
        self._chg = array("i", [now, now])
        self._since = array("i", [now, now])
        self._stuck = bytearray(2)
        for b in range(self._nb):
            level = 1 if self._pins[b].value() == blocked_level else 0
            self._raw[b] = level
            self._lvl[b] = level
        # People inside, oldest first: side entered (0 = A, 1 = B), reached far beam, time.
        self._origin = bytearray(_INSIDE)
        self._far = bytearray(_INSIDE)
        self._entered = array("i", [0] * _INSIDE)
        self.inside = 0
        self.released = 0  # people released without a passage (stuck, vacated, FIFO full)
        self._activity = now
        # Event queue.
        self._q_ev = bytearray(_QUEUE)
        self._q_dir = bytearray(_QUEUE)
        self._q_transit = array("i", [0] * _QUEUE)
        self._q_t = array("i", [0] * _QUEUE)
        self._q_head = 0
        self._q_n = 0
        self.events_dropped = 0
        self.occupied = False
        self.direction = _DIR_UNKNOWN
        self.transit_ms = 0
        self.event_ms = now  # ticks of the edge behind the last event poll() returned
        self.people_in = 0
        self.people_out = 0
        # Bound methods cached once: referencing a bound method allocates.
        self._isr_a = self._edge_a
        self._isr_b = self._edge_b
        self.irq = True
        self.hard = hard
        try:
            self._register(trigger, hard)
        except TypeError:  # a port whose Pin.irq has no `hard`: soft interrupts
            self.hard = False
            try:
                self._register(trigger, False)
            except (AttributeError, OSError, TypeError, ValueError):
                self.irq = False
        except (AttributeError, OSError, ValueError):
            self.irq = False  # level sampling in poll() does the work

    def _register(self, trigger, hard):
        pins = self._pins
        if hard:
            pins[0].irq(handler=self._isr_a, trigger=trigger, hard=True)
            if pins[1] is not None:
                pins[1].irq(handler=self._isr_b, trigger=trigger, hard=True)
        else:
            pins[0].irq(handler=self._isr_a, trigger=trigger)
            if pins[1] is not None:
                pins[1].irq(handler=self._isr_b, trigger=trigger)

    # -- interrupt handlers: record only --------------------------------------------------
    def _edge_a(self, pin):
        n = self._n
        if n < _LOG:
            self._log_t[n] = self._ticks_ms()
            self._log_p[n] = 0
            self._n = n + 1
        else:
            self.overflows += 1

    def _edge_b(self, pin):
        n = self._n
        if n < _LOG:
            self._log_t[n] = self._ticks_ms()
            self._log_p[n] = 1
            self._n = n + 1
        else:
            self.overflows += 1

    # -- main loop ------------------------------------------------------------------------
    def poll(self, now):
        """Process edges and levels up to `now`; return one event code (EV_NONE if none)."""
        if not self._n and not self.inside and not self._q_n:
            # the common tick: no edge logged, nobody inside, both beams clear and settled
            # (a beam blocked, stuck or not yet debounced takes the full path below)
            raws = self._raw
            lvl = self._lvl
            pins = self._pins
            blocked = self._blocked
            if (
                not raws[0]
                and not lvl[0]
                and pins[0].value() != blocked
                and (self._nb == 1 or (not raws[1] and not lvl[1] and pins[1].value() != blocked))
            ):
                self.occupied = False
                return EV_NONE
        seen = 0
        state = self._disable()
        for i in range(self._n):
            p = self._log_p[i]
            self._chg[p] = self._log_t[i]
            seen |= 1 << p
        self._n = 0
        self._enable(state)
        free = 0  # a beam that is blocked and not stuck
        for b in range(self._nb):
            raw = 1 if self._pins[b].value() == self._blocked else 0
            if seen & (1 << b):
                self._raw[b] = raw
            elif raw != self._raw[b]:
                self._raw[b] = raw
                self._chg[b] = now
            if raw != self._lvl[b] and ticks_diff(now, self._chg[b]) >= self.debounce_ms:
                self._lvl[b] = raw
                self._transition(b, raw, self._chg[b])
            if self._lvl[b] and not self._stuck[b]:
                if ticks_diff(now, self._since[b]) >= self.stuck_ms:
                    self._stuck[b] = 1
                    self._release()
                    self._push(EV_STUCK, b, 0, now)
                else:
                    free = 1
        if self.inside and not free and ticks_diff(now, self._activity) >= self.vacate_ms:
            self._release()
            self._push(EV_VACATED, _DIR_UNKNOWN, 0, now)
        self.occupied = self.inside > 0
        if not self._q_n:
            return EV_NONE
        h = self._q_head
        ev = self._q_ev[h]
        self.event_ms = self._q_t[h]
        if ev == EV_PASS:
            self.direction = self._q_dir[h]
            self.transit_ms = self._q_transit[h]
        self._q_head = (h + 1) % _QUEUE
        self._q_n -= 1
        return ev

    def quiet(self):
        """Nobody inside, no edge or event waiting, every beam clear (raw and debounced): a
        stall of the loop now delays no one's timing (the Gate's flash work waits for this)."""
        if self._n or self.inside or self._q_n:
            return False
        for b in range(self._nb):
            if self._raw[b] or self._lvl[b]:
                return False
        return True

    @property
    def stuck(self):
        """Number of beams stuck now."""
        return self._stuck[0] + self._stuck[1]

    def _push(self, ev, direction, transit, t):
        if self._q_n >= _QUEUE:
            self.events_dropped += 1
            return
        i = (self._q_head + self._q_n) % _QUEUE
        self._q_ev[i] = ev
        self._q_dir[i] = direction
        self._q_transit[i] = transit
        self._q_t[i] = t
        self._q_n += 1

    def _release(self):
        self.released += self.inside
        self.inside = 0

    def _remove(self, k):
        n = self.inside - 1
        for i in range(k, n):
            self._origin[i] = self._origin[i + 1]
            self._far[i] = self._far[i + 1]
            self._entered[i] = self._entered[i + 1]
        self.inside = n

    def _find(self, origin, far, t):
        """Oldest person from `origin` with far flag `far` (and inside long enough to have
        crossed, when looking for one reaching the far beam); -1 if none."""
        for i in range(self.inside):
            if self._origin[i] == origin and self._far[i] == far:
                if far or ticks_diff(t, self._entered[i]) >= _MIN_CROSS_MS:
                    return i
        return -1

    def _enter(self, b, t):
        if self.inside >= _INSIDE:
            self._remove(0)
            self.released += 1
        i = self.inside
        self._origin[i] = b
        self._far[i] = 0
        self._entered[i] = t
        self.inside = i + 1
        self._push(EV_ENTER, _DIR_UNKNOWN, 0, t)

    def _pass(self, k, direction, t):
        transit = ticks_diff(t, self._entered[k])
        self._remove(k)
        if direction == _DIR_OUT:
            self.people_out += 1
        else:
            self.people_in += 1
        self._push(EV_PASS, direction, transit if transit > 0 else 0, t)

    def _transition(self, b, blocked, t):
        """Beam b changed its debounced level to `blocked` at time t."""
        if self._stuck[b]:
            if not blocked:
                self._stuck[b] = 0
                self._push(EV_UNSTUCK, b, 0, t)
            return
        self._activity = t
        if blocked:
            self._since[b] = t
        if self._nb == 1 or self._stuck[1 - b]:
            # One working beam: occupancy is the time it is blocked.
            if blocked:
                self._enter(b, t)
            elif self.inside:
                self._pass(0, _DIR_UNKNOWN, t)
            return
        other = 1 - b
        if blocked:
            k = self._find(other, 0, t)  # a walker from the other side reaching this beam
            if k >= 0:
                self._far[k] = 1
            else:
                self._enter(b, t)
        else:
            k = self._find(other, 1, t)  # a walker from the other side clearing this beam
            if k >= 0:
                self._pass(k, _DIR_IN if other == _A else _DIR_OUT, t)
