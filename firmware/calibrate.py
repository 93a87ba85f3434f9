"""Calibration against a reference source: a non-blocking state machine, one reading at a time.

The technician holds a reference (a blackbody, or a skin-temperature simulator) of known
temperature `reference_cc` in front of the sensor and sends CALIBRATE. `start` plans
`duration_ms // interval_ms + 1` readings (at least MIN_SAMPLES, at most the preallocated
capacity), one every `interval_ms`: the caller passes the sensor's settle time, because reading
faster than the IIR/FIR filter settles gives correlated, noisier readings (MLX90614 datasheet).
The first reading is taken one interval after the start, so the sensor sees only the
reference. The caller asks `want(now)` every tick, reads the raw object temperature (no
calibration applied) and hands it to `add`, or calls `failed` when the read failed.

With every reading in, the readings are sorted in place: `median_cc` (the mean of the two
middle ones for an even count, rounded down), `spread_cc` = max - min. The result:

- spread_cc > band_cc: REPLY_REFUSED / REASON_UNSTABLE (the reference or the sensor moved),
- |reference_cc - median_cc| > max_offset_cc: REPLY_REFUSED / REASON_RANGE (wrong reference,
  wrong target or a broken sensor; an offset that large must not be applied silently),
- otherwise REPLY_OK with `offset_cc` = reference_cc - median_cc.

`status`/`reason` hold the protocol REPLY codes of the outcome once `state` is DONE. Nothing
here allocates after __init__; all values are integers within a few thousand.
"""

from array import array

from micropython import const

import protocol
from median import sort_median
from ticks import ticks_add, ticks_diff

IDLE = const(0)
RUNNING = const(1)
DONE = const(2)

MIN_SAMPLES = const(3)
CAPACITY = const(32)
DURATION_MS = const(2000)  # about 2 s of readings
REFERENCE_MIN_CC = const(3000)  # references below 30 C or above 45 C are refused
REFERENCE_MAX_CC = const(4500)
MAX_OFFSET_CC = const(500)  # larger corrections are refused

_OK = protocol.REPLY_OK
_REFUSED = protocol.REPLY_REFUSED
_FAILED = protocol.REPLY_FAILED
_NONE = protocol.REASON_NONE
_RANGE = protocol.REASON_RANGE
_UNSTABLE = protocol.REASON_UNSTABLE
_SENSOR = protocol.REASON_SENSOR


class Calibration:
    def __init__(self, capacity=CAPACITY):
        if capacity < MIN_SAMPLES:
            raise ValueError("capacity below MIN_SAMPLES")
        self._readings = array("i", [0] * capacity)
        self._capacity = capacity
        self.state = IDLE
        self.reference_cc = 0
        self.count = 0  # readings taken
        self.needed = 0  # readings planned
        self.interval_ms = 0
        self.band_cc = 0
        self.max_offset_cc = MAX_OFFSET_CC
        self.median_cc = 0
        self.spread_cc = 0
        self.offset_cc = 0
        self.status = _OK
        self.reason = _NONE
        self._due = 0

    def start(
        self,
        now,
        reference_cc,
        interval_ms,
        band_cc,
        duration_ms=DURATION_MS,
        max_offset_cc=MAX_OFFSET_CC,
    ):
        """Begin at `now`; returns REASON_NONE, or REASON_RANGE (reference out of range, not
        started). Restarting while RUNNING is the caller's decision (it refuses as BUSY)."""
        if reference_cc < REFERENCE_MIN_CC or reference_cc > REFERENCE_MAX_CC:
            return _RANGE
        if interval_ms < 1:
            interval_ms = 1
        needed = duration_ms // interval_ms + 1
        if needed < MIN_SAMPLES:
            needed = MIN_SAMPLES
        if needed > self._capacity:
            needed = self._capacity
        self.reference_cc = reference_cc
        self.interval_ms = interval_ms
        self.band_cc = band_cc
        self.max_offset_cc = max_offset_cc
        self.needed = needed
        self.count = 0
        self.median_cc = 0
        self.spread_cc = 0
        self.offset_cc = 0
        self.status = _OK
        self.reason = _NONE
        self._due = ticks_add(now, interval_ms)
        self.state = RUNNING
        return _NONE

    def want(self, now):
        """True when a reading is due at `now`."""
        return self.state == RUNNING and ticks_diff(now, self._due) >= 0

    def add(self, now, temp_cc):
        """The raw object reading asked for by want(); finishes after the last one."""
        if self.state != RUNNING:
            return
        self._readings[self.count] = temp_cc
        self.count += 1
        self._due = ticks_add(self._due, self.interval_ms)
        if ticks_diff(now, self._due) > 0:
            self._due = now  # a late tick: never read faster than once per interval
        if self.count >= self.needed:
            self._finish()

    def failed(self):
        """The reading failed: the calibration ends with REPLY_FAILED / REASON_SENSOR."""
        if self.state == RUNNING:
            self._end(_FAILED, _SENSOR)

    def abort(self, reason):
        """End a running calibration as REFUSED with `reason` (e.g. BUSY: someone walked in)."""
        if self.state == RUNNING:
            self._end(_REFUSED, reason)

    def acknowledge(self):
        """The caller has reported the result: back to IDLE (the results stay readable)."""
        if self.state == DONE:
            self.state = IDLE

    def _end(self, status, reason):
        self.status = status
        self.reason = reason
        self.state = DONE

    def _finish(self):
        r = self._readings
        n = self.count
        self.median_cc = sort_median(r, n)
        self.spread_cc = r[n - 1] - r[0]
        if self.spread_cc > self.band_cc:
            self._end(_REFUSED, _UNSTABLE)
            return
        offset = self.reference_cc - self.median_cc
        if offset > self.max_offset_cc or offset < -self.max_offset_cc:
            self.offset_cc = offset
            self._end(_REFUSED, _RANGE)
            return
        self.offset_cc = offset
        self._end(_OK, _NONE)
