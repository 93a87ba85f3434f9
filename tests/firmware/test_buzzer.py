"""Buzzer: the timing of every pattern, priorities, muting, coarse ticks and the wrap."""

import buzzer
from buzzer import CHIRP, FAULT, FEVER, NONE, REMEASURE, Buzzer
from config import Config
from ticks import ticks_add

WRAP = 1 << 30


def new(**settings):
    config = Config()
    for name in settings:
        config.set(name, settings[name])
    return Buzzer(config)


def trace(b, start, ms, step=1):
    """Output levels as a run-length list [(level, ms), ...] over ms from start."""
    runs = []
    now = start
    for _ in range(ms // step):
        level = b.update(now)
        if runs and runs[-1][0] == level:
            runs[-1] = (level, runs[-1][1] + step)
        else:
            runs.append((level, step))
        now = ticks_add(now, step)
    return runs


def test_chirp_is_one_short_beep():
    b = new()
    b.play(CHIRP, 0)
    assert trace(b, 0, 500) == [(1, 60), (0, 440)]
    assert b.pattern == NONE


def test_remeasure_is_a_double_beep():
    b = new()
    b.play(REMEASURE, 0)
    assert trace(b, 0, 500) == [(1, 80), (0, 80), (1, 80), (0, 260)]


def test_fault_is_one_long_beep():
    b = new()
    b.play(FAULT, 0)
    assert trace(b, 0, 1500) == [(1, 1000), (0, 500)]


def test_fever_repeats_its_triple_for_the_alarm_time():
    b = new(fever_alarm_ms=3000)
    b.play(FEVER, 0)
    triple = [(1, 120), (0, 80), (1, 120), (0, 80), (1, 400), (0, 300)]
    runs = trace(b, 0, 4000)
    assert runs == triple * 2 + triple[:5] + [(0, 300 + 700)]


def test_fever_plays_at_least_one_round_for_a_short_alarm_time():
    b = new(fever_alarm_ms=500)
    b.play(FEVER, 0)
    assert sum(ms for level, ms in trace(b, 0, 1100) if level) == 640
    b.update(1100)
    assert b.pattern == NONE


def test_play_turns_the_output_on_at_once():
    b = new()
    b.play(CHIRP, 100)
    assert b.value == 1


def test_chirp_does_not_interrupt_a_fever():
    b = new()
    b.play(FEVER, 0)
    b.play(CHIRP, 10)
    assert b.pattern == FEVER
    assert trace(b, 10, 200)[0] == (1, 110)


def test_fever_interrupts_a_chirp():
    b = new()
    b.play(CHIRP, 0)
    b.play(FEVER, 30)
    assert b.pattern == FEVER
    assert trace(b, 30, 200)[0] == (1, 120)


def test_fault_interrupts_a_remeasure_and_a_remeasure_does_not_interrupt_a_fault():
    b = new()
    b.play(REMEASURE, 0)
    b.play(FAULT, 10)
    assert b.pattern == FAULT
    b.play(REMEASURE, 20)
    assert b.pattern == FAULT
    assert trace(b, 20, 1000)[0] == (1, 990)


def test_fever_outranks_a_fault():
    b = new()
    b.play(FAULT, 0)
    b.play(FEVER, 10)
    assert b.pattern == FEVER
    b.play(FAULT, 20)
    assert b.pattern == FEVER


def test_a_finished_pattern_lets_a_lower_one_play():
    b = new()
    b.play(FAULT, 0)
    b.update(1000)
    b.play(CHIRP, 1000)
    assert b.pattern == CHIRP and b.value == 1


def test_buzzer_disabled_mutes_but_keeps_the_pattern_running():
    b = new(buzzer_enabled=0)
    b.play(REMEASURE, 0)
    assert trace(b, 0, 239) == [(0, 239)]
    assert b.pattern == REMEASURE
    b.update(240)
    assert b.pattern == NONE


def test_coarse_ticks_keep_the_pattern_length_exact():
    b = new()
    b.play(REMEASURE, 0)
    now = 0
    while b.pattern != NONE:
        now += 7
        b.update(now)
    assert now == 245  # the first 7 ms tick at or after the 240 ms end


def test_patterns_are_tables_of_on_off_steps():
    for steps in buzzer.PATTERNS[1:]:
        assert len(steps) >= 1
        for on_ms, off_ms in steps:
            assert on_ms > 0 and off_ms >= 0


def test_pattern_timing_works_across_the_ticks_wrap():
    b = new()
    start = WRAP - 100
    b.play(REMEASURE, start)
    assert trace(b, start, 500) == [(1, 80), (0, 80), (1, 80), (0, 260)]
