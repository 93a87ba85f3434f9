"""The calibration state machine (calibrate.py), on both interpreters."""

import micropython

import calibrate
import protocol
from calibrate import DONE, IDLE, RUNNING, Calibration

WRAP = 1 << 30


def run(cal, readings, start=0, interval=100):
    """Feed `readings` at the times the calibration asks for them; returns the last now."""
    now = start
    readings = list(readings)
    for _ in range(100000):
        if cal.state != RUNNING:
            break
        now = (now + 10) % WRAP
        if cal.want(now):
            cal.add(now, readings.pop(0) if readings else 3650)
    return now


def started(reference=3700, interval=100, band=50, start=0):
    cal = Calibration()
    assert cal.start(start, reference, interval, band) == protocol.REASON_NONE
    return cal


def test_a_new_calibration_is_idle():
    assert Calibration().state == IDLE


def test_start_plans_about_two_seconds_of_readings_at_the_interval():
    assert started(interval=100).needed == 21
    assert started(interval=650).needed == 4


def test_start_takes_at_least_three_and_at_most_capacity_readings():
    assert started(interval=5000).needed == calibrate.MIN_SAMPLES
    assert started(interval=20).needed == calibrate.CAPACITY


def test_reference_outside_30_to_45_c_is_refused_and_nothing_starts():
    cal = Calibration()
    assert cal.start(0, 2999, 100, 50) == protocol.REASON_RANGE
    assert cal.start(0, 4501, 100, 50) == protocol.REASON_RANGE
    assert cal.state == IDLE


def test_first_reading_waits_one_interval():
    cal = started(interval=100, start=1000)
    assert not cal.want(1099)
    assert cal.want(1100)


def test_readings_are_never_asked_faster_than_the_interval():
    cal = started(interval=100)
    asked = []
    now = 0
    while cal.state == RUNNING:
        now += 10
        if cal.want(now):
            asked.append(now)
            cal.add(now, 3650)
    gaps = [asked[i + 1] - asked[i] for i in range(len(asked) - 1)]
    assert min(gaps) >= 100


def test_steady_readings_give_offset_reference_minus_median():
    cal = started(reference=3700)
    run(cal, [3640, 3660, 3650] * 7)
    assert cal.state == DONE
    assert cal.status == protocol.REPLY_OK
    assert cal.median_cc == 3650
    assert cal.offset_cc == 50


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    cal = started(interval=650)  # 4 readings
    run(cal, [3650, 3640, 3660, 3670], interval=650)
    assert cal.median_cc == 3655


def test_spread_beyond_the_stable_band_is_refused_as_unstable():
    cal = started(band=50)
    run(cal, [3650] * 20 + [3710])
    assert cal.status == protocol.REPLY_REFUSED
    assert cal.reason == protocol.REASON_UNSTABLE
    assert cal.spread_cc == 60


def test_spread_equal_to_the_band_is_accepted():
    cal = started(band=50)
    run(cal, [3650] * 20 + [3700])
    assert cal.status == protocol.REPLY_OK


def test_offset_larger_than_five_degrees_is_refused_as_range():
    cal = started(reference=4400)
    run(cal, [3650] * 21)
    assert cal.status == protocol.REPLY_REFUSED
    assert cal.reason == protocol.REASON_RANGE


def test_a_failed_reading_ends_as_sensor_failure():
    cal = started()
    cal.failed()
    assert cal.state == DONE
    assert cal.status == protocol.REPLY_FAILED
    assert cal.reason == protocol.REASON_SENSOR


def test_abort_ends_as_refused_with_the_reason():
    cal = started()
    cal.abort(protocol.REASON_BUSY)
    assert cal.state == DONE
    assert (cal.status, cal.reason) == (protocol.REPLY_REFUSED, protocol.REASON_BUSY)


def test_acknowledge_returns_to_idle_and_keeps_the_result():
    cal = started(reference=3700)
    run(cal, [3650] * 21)
    cal.acknowledge()
    assert cal.state == IDLE
    assert cal.offset_cc == 50


def test_calibration_runs_across_the_ticks_wrap():
    cal = started(reference=3700, start=WRAP - 500)
    run(cal, [3650] * 21, start=WRAP - 500)
    assert cal.status == protocol.REPLY_OK
    assert cal.count == 21


def test_a_whole_calibration_allocates_nothing():
    cal = Calibration()
    micropython.heap_lock()
    try:
        cal.start(0, 3700, 100, 50)
        now = 0
        while cal.state == RUNNING:
            now += 10
            if cal.want(now):
                cal.add(now, 3650 + now % 7)
    finally:
        micropython.heap_unlock()
    assert cal.status == protocol.REPLY_OK
