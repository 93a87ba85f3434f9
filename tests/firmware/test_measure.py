"""Measurement: settle, sampling window, every verdict, the median, hysteresis and the wrap."""

import protocol
from config import Config
from measure import ST_IDLE, ST_SETTLE, ST_WINDOW, Measurement
from ticks import ticks_add

TICK = 10
WRAP = 1 << 30
SETTLE = 100
FAIL = None  # a failed reading in a list of skin samples


def new(**settings):
    config = Config()
    for name in settings:
        config.set(name, settings[name])
    return Measurement(config)


def feed(m, skins, start=0, settle=SETTLE):
    """Start at `start`, tick every TICK and answer each wanted reading from `skins`.
    Returns the times of the readings."""
    m.start(start, settle)
    now = start
    times = []
    i = 0
    while i < len(skins):
        now = ticks_add(now, TICK)
        if m.want(now):
            times.append(now)
            if skins[i] is FAIL:
                m.failed(now)
            else:
                m.add(now, skins[i])
            i += 1
        assert len(times) < 100
    return times


def verdict_of(skins, **settings):
    m = new(**settings)
    feed(m, skins)
    return m.decide()


def test_no_reading_is_wanted_while_the_sensor_settles():
    m = new()
    m.start(0, 650)
    assert m.state == ST_SETTLE
    assert not m.want(640)
    assert m.want(650)
    assert m.state == ST_WINDOW


def test_no_reading_is_wanted_when_idle():
    m = new()
    assert m.state == ST_IDLE
    assert not m.want(1000)


def test_readings_are_wanted_every_sample_ms():
    m = new(sample_ms=100)
    times = feed(m, [3600, 3600, 3600])
    assert times == [100, 200, 300]


def test_window_stops_after_window_max_readings():
    m = new(window_max=3, fever_votes=2, min_samples=2)
    feed(m, [3600, 3600, 3600])
    assert not m.want(10_000)
    m.add(10_000, 3900)
    assert m.n == 3


def test_failed_readings_use_up_the_window_too():
    m = new(window_max=3, fever_votes=2, min_samples=2)
    feed(m, [FAIL, 3600, FAIL])
    assert not m.want(10_000)
    assert m.n == 1 and m.failures == 2


def test_normal_temperature_gives_normal_with_body_from_median_plus_offset():
    m = new(skin_offset_cc=50)
    feed(m, [3620, 3630, 3610])
    assert m.decide() == protocol.VERDICT_NORMAL
    assert m.skin_cc == 3620
    assert m.body_cc == 3670


def test_fever_needs_fever_votes_samples_at_the_threshold():
    # threshold 3730 on body = skin + 50: skin 3680 is exactly at the line
    assert verdict_of([3680, 3690, 3685]) == protocol.VERDICT_FEVER
    assert verdict_of([3660, 3700, 3660], hysteresis_cc=0) == protocol.VERDICT_NORMAL


def test_fever_votes_setting_sets_how_many_votes_a_fever_needs():
    skins = [3700, 3700, 3660]
    assert verdict_of(skins, fever_votes=2, hysteresis_cc=0) == protocol.VERDICT_FEVER
    assert verdict_of(skins, fever_votes=3, hysteresis_cc=0) == protocol.VERDICT_NORMAL


def test_sample_just_under_the_line_keeps_voting_once_votes_started():
    # body 3731 then 3715: with hysteresis 20 the second still votes
    assert verdict_of([3681, 3665], hysteresis_cc=20) == protocol.VERDICT_FEVER
    assert verdict_of([3681, 3665], hysteresis_cc=0) == protocol.VERDICT_NORMAL


def test_sample_just_under_the_line_does_not_vote_before_votes_started():
    assert verdict_of([3665, 3681], hysteresis_cc=20) == protocol.VERDICT_NORMAL


def test_sample_below_the_hysteresis_band_ends_the_run_of_votes():
    skins = [3681, 3655, 3665]  # body 3731, 3705 (below 3710), 3715
    assert verdict_of(skins, hysteresis_cc=20) == protocol.VERDICT_NORMAL


def test_too_few_samples_is_remeasure_fast():
    assert verdict_of([3620], min_samples=2) == protocol.VERDICT_REMEASURE_FAST


def test_leaving_while_the_sensor_settles_is_remeasure_fast():
    m = new()
    m.start(0, 650)
    m.want(300)
    assert m.decide() == protocol.VERDICT_REMEASURE_FAST
    assert m.body_cc == 0


def test_spread_beyond_the_stable_band_is_remeasure_unstable():
    assert verdict_of([3600, 3651], stable_band_cc=50) == protocol.VERDICT_REMEASURE_UNSTABLE
    assert verdict_of([3600, 3650], stable_band_cc=50) == protocol.VERDICT_NORMAL


def test_median_skin_below_the_floor_is_remeasure_low():
    assert verdict_of([3190, 3199, 3180]) == protocol.VERDICT_REMEASURE_LOW
    assert verdict_of([3200, 3200, 3190]) == protocol.VERDICT_NORMAL


def test_only_failures_is_remeasure_sensor():
    assert verdict_of([FAIL, FAIL, FAIL]) == protocol.VERDICT_REMEASURE_SENSOR


def test_one_good_sample_among_failures_is_remeasure_fast():
    assert verdict_of([FAIL, 3620, FAIL]) == protocol.VERDICT_REMEASURE_FAST


def test_median_of_an_even_count_is_the_mean_of_the_middle_two():
    m = new(skin_offset_cc=0)
    feed(m, [3640, 3600, 3610, 3630])
    m.decide()
    assert m.skin_cc == 3620


def test_median_ignores_one_outlier_inside_the_band():
    m = new(skin_offset_cc=0, stable_band_cc=100)
    feed(m, [3600, 3602, 3690, 3601, 3603])
    m.decide()
    assert m.skin_cc == 3602


def test_readings_after_the_decision_are_ignored():
    m = new()
    feed(m, [3620, 3620])
    m.decide()
    m.add(5000, 3900)
    assert m.n == 2 and m.state == ST_IDLE


def test_start_clears_the_previous_window():
    m = new()
    feed(m, [3620, 3620, 3620])
    m.decide()
    feed(m, [3800, 3800], start=1000)
    assert m.decide() == protocol.VERDICT_FEVER
    assert m.n == 2


def test_settle_and_sampling_work_across_the_ticks_wrap():
    m = new()
    start = WRAP - 150
    times = feed(m, [3620, 3620, 3620], start=start)
    assert times == [WRAP - 50, 50, 150]
    assert m.decide() == protocol.VERDICT_NORMAL


def test_samples_taken_at_or_after_the_window_end_are_not_used():
    m = new()
    times = feed(m, [3650, 3660, 3655, 2400])  # the last one saw the wall behind the walker
    assert m.decide(until=times[3]) == protocol.VERDICT_NORMAL
    assert m.n == 3
    assert m.skin_cc == 3655


def test_a_window_end_before_every_sample_leaves_none():
    m = new()
    times = feed(m, [3650, 3660, 3655])
    assert m.decide(until=times[0]) == protocol.VERDICT_REMEASURE_FAST
    assert m.skin_cc == 0


def test_the_window_end_works_across_the_ticks_wrap():
    m = new()
    times = feed(m, [3650, 3660, 3655, 2400], start=WRAP - 150)
    assert times[0] > times[3]  # the ticks wrapped inside the window
    assert m.decide(until=times[3]) == protocol.VERDICT_NORMAL
    assert m.n == 3


def test_the_calibration_offset_is_added_to_every_reading():
    m = new()
    m._config.calibration_offset_cc = 40
    feed(m, [3660, 3660, 3660])
    m.decide()
    assert m.skin_cc == 3700
    assert m.body_cc == 3700 + m._config.skin_offset_cc


def test_the_calibration_offset_can_turn_a_reading_into_a_fever():
    m = new()
    threshold_skin = m._config.fever_threshold_cc - m._config.skin_offset_cc
    m._config.calibration_offset_cc = 30
    feed(m, [threshold_skin - 20] * 3)
    assert m.decide() == protocol.VERDICT_FEVER


# -- the 37.30 C line and the re-arm line, pinned exactly on both sides (defect 8) --
# Defaults: fever_threshold_cc 3730 on body = skin + skin_offset_cc 50, hysteresis 20, so the
# threshold is skin 3680 and the re-arm line (threshold - hysteresis) skin 3660.


def test_the_default_fever_threshold_is_37_30_c_on_the_body_value():
    config = Config()
    assert config.fever_threshold_cc == 3730
    assert config.skin_offset_cc == 50
    assert config.hysteresis_cc == 20


def test_a_body_value_exactly_at_37_30_c_is_a_fever():
    m = new()
    feed(m, [3680, 3680])
    assert m.decide() == protocol.VERDICT_FEVER
    assert m.body_cc == 3730


def test_a_body_value_one_hundredth_below_37_30_c_is_normal():
    m = new()
    feed(m, [3679, 3679])
    assert m.decide() == protocol.VERDICT_NORMAL
    assert m.body_cc == 3729


def test_a_sample_exactly_at_the_rearm_line_keeps_voting():
    # body 3731 starts the run; body 3710 = threshold - hysteresis is still inside the band
    assert verdict_of([3681, 3660]) == protocol.VERDICT_FEVER


def test_a_sample_one_hundredth_below_the_rearm_line_ends_the_run():
    assert verdict_of([3681, 3659]) == protocol.VERDICT_NORMAL


# -- the temperature a record carries agrees with its verdict (defect 7) --


def test_a_fever_carries_a_temperature_at_or_above_the_threshold():
    # votes 3731 and 3715 (hysteresis) make a fever; the median of all, 37.23 C, would not
    m = new()
    feed(m, [3681, 3665])
    assert m.decide() == protocol.VERDICT_FEVER
    assert m.body_cc >= 3730
    assert m.body_cc == 3731  # the samples at or above the line: 3731 alone


def test_a_normal_carries_a_temperature_below_the_threshold():
    # one vote of three (fever_votes 3): normal; the median of all (37.35 C) would say fever
    m = new(fever_votes=3)
    feed(m, [3685, 3685, 3650])  # body 3735, 3735, 3700 (below the re-arm line)
    assert m.decide() == protocol.VERDICT_NORMAL
    assert m.body_cc < 3730


def test_readings_all_over_the_line_but_too_few_votes_are_remeasured_not_normal():
    m = new(fever_votes=3, min_samples=2)
    feed(m, [3690, 3690])
    assert m.decide() == protocol.VERDICT_REMEASURE_FAST


def test_verdict_and_temperature_agree_over_many_random_windows():
    seed = 12345
    checked = 0
    for votes in (1, 2, 3):
        for hysteresis in (0, 20, 60):
            for _ in range(300):
                skins = []
                count = 2 + seed % 7
                for _ in range(count):
                    seed = (seed * 1103515245 + 12345) & 0x3FFFFFFF
                    skins.append(3640 + (seed >> 8) % 80)
                m = new(fever_votes=votes, hysteresis_cc=hysteresis, stable_band_cc=100)
                feed(m, skins)
                verdict = m.decide()
                if verdict == protocol.VERDICT_FEVER:
                    assert m.body_cc >= 3730, (skins, votes, hysteresis, m.body_cc)
                    checked += 1
                elif verdict == protocol.VERDICT_NORMAL:
                    assert m.body_cc < 3730, (skins, votes, hysteresis, m.body_cc)
                    checked += 1
    assert checked > 1000


# -- ambient compensation --


def decided(m, skins, ta_cc=None):
    if ta_cc is not None:
        m.set_ambient(ta_cc)
    feed(m, skins)
    return m.decide()


def test_no_ambient_correction_at_the_reference_ambient():
    m = new()
    assert m._config.ambient_comp == 1  # on by default
    decided(m, [3610] * 3, ta_cc=2200)
    assert m.correction_cc == 0
    assert m.body_cc == 3610 + 50


def test_a_cold_entrance_adds_the_gain_times_the_ambient_below_the_reference():
    m = new()  # gain 100 permille: 22 C - 8 C = 14 C -> +1.40 C
    decided(m, [3470] * 3, ta_cc=800)
    assert m.correction_cc == 140
    assert m.body_cc == 3470 + 50 + 140


def test_a_hot_entrance_takes_off_the_gain_times_the_ambient_above_the_reference():
    m = new()
    assert decided(m, [3720] * 3, ta_cc=3300) == protocol.VERDICT_NORMAL  # 37.2 + 0.5 - 1.1
    assert m.correction_cc == -110
    assert m.body_cc == 3720 + 50 - 110


def test_the_correction_turns_a_cold_forehead_into_the_fever_it_hides():
    skins = [3560] * 3  # 35.6 C at 6 C ambient: 36.1 C uncorrected, 37.7 C corrected
    assert verdict_of(skins, ambient_comp=0) == protocol.VERDICT_NORMAL
    m = new()
    assert decided(m, skins, ta_cc=600) == protocol.VERDICT_FEVER


def test_the_correction_is_off_when_switched_off_or_before_any_ambient_reading():
    off = new(ambient_comp=0)
    decided(off, [3470] * 3, ta_cc=800)
    assert off.correction_cc == 0
    unknown = new()
    decided(unknown, [3470] * 3)
    assert unknown.correction_cc == 0
    forgotten = new()
    forgotten.set_ambient(800)
    forgotten.forget_ambient()
    decided(forgotten, [3470] * 3)
    assert forgotten.correction_cc == 0


def test_the_gain_and_reference_are_the_sites_settings():
    m = new(ambient_gain_permille=120, ambient_ref_cc=2000)
    decided(m, [3500] * 3, ta_cc=1000)
    assert m.correction_cc == 120  # 0.12 x (20 C - 10 C)


def test_the_ambient_is_clamped_to_the_range_the_model_was_checked_in():
    m = new()
    m.set_ambient(-3000)
    assert m.ambient_correction_cc() == 220  # as at 0 C
    m.set_ambient(9000)
    assert m.ambient_correction_cc() == -230  # as at 45 C


def test_the_correction_rounds_alike_on_both_sides_of_the_reference():
    m = new()
    m.set_ambient(2200 - 15)  # +1.5 cC
    assert m.ambient_correction_cc() == 2
    m.set_ambient(2200 + 15)
    assert m.ambient_correction_cc() == -2


def test_the_correction_intermediates_stay_small_ints_at_the_extreme_settings():
    m = new(ambient_gain_permille=300, ambient_ref_cc=3500)
    m.set_ambient(-4000)  # the sensor's lowest ambient
    assert 300 * 3500 < 2**30  # gain x (ref - clamped Ta) before the division
    assert m.ambient_correction_cc() == 1050
    m = new(ambient_gain_permille=300, ambient_ref_cc=1000)
    m.set_ambient(12500)
    assert m.ambient_correction_cc() == -1050
