"""Measurement: the temperature state machine of one person, from presence to a verdict.

IDLE -> (start: a person entered) SETTLE for the sensor's settle_ms (its IIR/FIR filter must
see the new face before a reading means anything) -> WINDOW: a skin sample every sample_ms,
up to window_max attempts, kept with its time in preallocated arrays -> `decide(until)` when
the person leaves or the next person enters (the window is then theirs) -> IDLE.

`until` is the instant of the beam edge that ended the window (the walker clearing the far
beam, the next walker breaking a beam): the event is only known debounce_ms later, and the
samples taken in between saw the background or the next face, so the decision uses only the
samples taken before `until`. A skin sample is the sensor reading plus the calibration offset
(config.calibration_offset_cc, set by a calibration against a reference source).

Decision, in this order:
- no good sample and at least one sensor failure: VERDICT_REMEASURE_SENSOR;
- fewer than min_samples good samples (walked too fast for the sensor): VERDICT_REMEASURE_FAST;
- samples spread (max - min) more than stable_band_cc (moving head, hand, hat): UNSTABLE;
- median skin reading below plausibility_floor_cc (not a forehead: a sleeve, the far wall,
  a cold face straight from outside): VERDICT_REMEASURE_LOW;
- otherwise VERDICT_FEVER if at least fever_votes samples vote for a fever; else, if every
  sample is at or over the line (too few of them to confirm a fever), VERDICT_REMEASURE_FAST;
  else VERDICT_NORMAL. A sample's body value is skin + skin_offset_cc + the ambient correction.

The temperature a decision carries agrees with its verdict: a FEVER's skin_cc is the median
of the samples whose body value is at or over fever_threshold_cc (so body_cc is never under
the line; the samples that voted only through the hysteresis band do not pull it down), a
NORMAL's the median of the samples under the line (so never at or over it); for the other
verdicts it is the median of every good sample. body_cc = skin_cc + skin_offset_cc +
correction_cc.

Ambient compensation (config.ambient_comp, on by default). The skin-to-core difference grows as
the air gets colder: heat-balance models of forehead and arterial thermometers have the form
core = skin + k x (skin - ambient) + c, k about 0.09 .. 0.13. Calibrated at a reference ambient
(where skin_offset_cc holds), a change of ambient moves the skin by k / (1 + k) per degree, so

    body = skin + skin_offset_cc + ambient_gain_permille x (ambient_ref_cc - Ta) / 1000

with the gain k / (1 + k) in thousandths (100: k = 0.11), ambient_ref_cc the ambient of the
site's calibration (2200: 22 C) and Ta the MLX90614's own ambient reading (RAM 0x06, its die,
which follows the entrance's air), clamped to _TA_MIN_CC .. _TA_MAX_CC (the model was checked
from 5 to 36 C). The Gate reads Ta every few seconds when no sample is due and hands it over
with `set_ambient`; until a Ta has been read, or after `forget_ambient` (Ta reads failing), the
correction is 0 (the gate then reads as at the reference ambient). Integers only: at most
300 x 4500 = 1.35e6 before the division.

Votes, with hysteresis (a Schmitt trigger over the samples in time order): a sample whose body
value (skin + offset) reaches fever_threshold_cc votes and starts a run; while a run lasts, a
sample in [threshold - hysteresis_cc, threshold) also votes (noise just under the line does
not vote against a fever once votes have started); a sample below threshold - hysteresis_cc
ends the run and does not vote. So 3731, 3715 (threshold 3730, hysteresis 20) is two votes,
3715, 3731 only one.

The median uses an insertion sort of the preallocated window (at most 16 values), in place;
an even count takes the lower-rounded mean of the two middle values. All integer, no
allocation after __init__; temperatures are hundredths of a degree C.
"""

from array import array

from micropython import const

import protocol
from config import WINDOW_CAPACITY
from median import sort_median, sorted_median
from ticks import ticks_add, ticks_diff

ST_IDLE = const(0)
ST_SETTLE = const(1)
ST_WINDOW = const(2)

_NORMAL = protocol.VERDICT_NORMAL
_FEVER = protocol.VERDICT_FEVER
_LOW = protocol.VERDICT_REMEASURE_LOW
_UNSTABLE = protocol.VERDICT_REMEASURE_UNSTABLE
_FAST = protocol.VERDICT_REMEASURE_FAST
_SENSOR = protocol.VERDICT_REMEASURE_SENSOR
_TA_MIN_CC = const(0)  # Ta clamp of the ambient correction (the host's scorer uses the same)
_TA_MAX_CC = const(4500)


class Measurement:
    def __init__(self, config):
        self._config = config
        self._samples = array("i", [0] * WINDOW_CAPACITY)
        self._times = array("i", [0] * WINDOW_CAPACITY)
        self.state = ST_IDLE
        self.n = 0  # good samples in the window
        self.failures = 0
        self._attempts = 0
        self._due = 0
        self.verdict = protocol.VERDICT_NO_READING
        self.skin_cc = 0  # median skin reading of the last decision (0 if no sample)
        self.body_cc = 0  # skin_cc + skin_offset_cc + correction_cc (0 if no sample)
        self.ambient_cc = 0  # the sensor's last ambient reading (Ta)
        self.ambient_known = False
        self.correction_cc = 0  # the ambient correction of the last decision

    def set_ambient(self, ta_cc):
        """The sensor's ambient reading (hundredths of a degree C)."""
        self.ambient_cc = ta_cc
        self.ambient_known = True

    def forget_ambient(self):
        """Ta is no longer known (its reads fail): no correction until the next one."""
        self.ambient_known = False

    def ambient_correction_cc(self):
        """What the ambient adds to a skin reading now (0 when off or Ta unknown)."""
        cfg = self._config
        if not cfg.ambient_comp or not self.ambient_known:
            return 0
        ta = self.ambient_cc
        if ta < _TA_MIN_CC:
            ta = _TA_MIN_CC
        elif ta > _TA_MAX_CC:
            ta = _TA_MAX_CC
        delta = cfg.ambient_gain_permille * (cfg.ambient_ref_cc - ta)
        if delta < 0:
            return -((500 - delta) // 1000)  # rounded half away from zero, both signs alike
        return (delta + 500) // 1000

    def start(self, now, settle_ms):
        """A person is present: settle, then sample."""
        self.state = ST_SETTLE
        self.n = 0
        self.failures = 0
        self._attempts = 0
        self._due = ticks_add(now, settle_ms)

    def abort(self):
        """The person is gone without a decision (released by a fault)."""
        self.state = ST_IDLE

    def want(self, now):
        """True if a sensor reading is due at `now`."""
        if self.state == ST_IDLE or ticks_diff(now, self._due) < 0:
            return False
        self.state = ST_WINDOW
        return self._attempts < self._config.window_max

    def add(self, now, temp_cc):
        """A good reading (hundredths of a degree C) taken at `now`."""
        if self.state != ST_WINDOW or self._attempts >= self._config.window_max:
            return
        n = self.n
        self._samples[n] = temp_cc + self._config.calibration_offset_cc
        self._times[n] = now
        self.n = n + 1
        self._attempts += 1
        self._due = ticks_add(now, self._config.sample_ms)

    def failed(self, now):
        """The reading due at `now` failed (the sensor said why; the caller counts it)."""
        if self.state != ST_WINDOW:
            return
        self.failures += 1
        self._attempts += 1
        self._due = ticks_add(now, self._config.sample_ms)

    def decide(self, until=None):
        """The verdict for the person measured now, on the samples taken before `until` (all
        of them if None); body_cc/skin_cc hold the temperature."""
        cfg = self._config
        samples = self._samples
        n = self.n
        if until is not None:
            while n and ticks_diff(self._times[n - 1], until) >= 0:
                n -= 1
        self.n = n
        self.state = ST_IDLE
        lo = hi = votes = above = 0
        run = False
        threshold = cfg.fever_threshold_cc
        rearm = threshold - cfg.hysteresis_cc
        correction = self.ambient_correction_cc()
        self.correction_cc = correction
        offset = cfg.skin_offset_cc + correction
        for i in range(n):
            skin = samples[i]
            if i == 0 or skin < lo:
                lo = skin
            if i == 0 or skin > hi:
                hi = skin
            body = skin + offset
            if body >= threshold:
                run = True
                votes += 1
                above += 1
            elif run and body >= rearm:
                votes += 1
            else:
                run = False
        if n:
            self.skin_cc = sort_median(samples, n)  # sorted now: the `above` ones are last
            self.body_cc = self.skin_cc + offset
        else:
            self.skin_cc = 0
            self.body_cc = 0
        if n == 0 and self.failures:
            verdict = _SENSOR
        elif n < cfg.min_samples:
            verdict = _FAST
        elif hi - lo > cfg.stable_band_cc:
            verdict = _UNSTABLE
        elif self.skin_cc < cfg.plausibility_floor_cc:
            verdict = _LOW
        elif votes >= cfg.fever_votes:
            verdict = _FEVER  # the temperature: the median of the samples at or over the line
            self.skin_cc = sorted_median(samples, n - above, n)
        elif above == n:
            verdict = _FAST  # every reading over the line, too few to confirm a fever
        else:
            verdict = _NORMAL  # the temperature: the median of the samples under the line
            self.skin_cc = sorted_median(samples, 0, n - above)
        self.body_cc = self.skin_cc + offset if n else 0
        self.verdict = verdict
        return verdict
