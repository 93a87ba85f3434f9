"""The hard cases of `fevergate simulate`, each on the MicroPython unix port: fast walkers, the
medical sensor, a queue, a cold and a hot entrance, a sunlit background. In every one the gate
gives a correct verdict or a re-measure, never a wrong verdict outside the +-0.3 C band (the
instrument truth of host_tools/screening.py); the re-measure rate is in the summary.

Short runs (three simulated minutes each, about a second of wall time) on fixed seeds.
"""

import argparse
import functools
import io
import json

import pytest

from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, Scenario
from host_tools.shim.world import make_sensor
from host_tools.simulate import argparse_simulate, build_scenario, do_simulate, summarize

MINUTES = "3"


class State:
    def __init__(self):
        self.out = io.StringIO()
        self.err = io.StringIO()


@functools.cache
def run(*flags, seed=31):
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    args = parser.parse_args(["--minutes", MINUTES, "--seed", str(seed), "--json", *flags])
    state = State()
    code = do_simulate(state, args)
    assert code == 0, state.err.getvalue()
    return json.loads(state.out.getvalue()), build_scenario(args)


def check_no_wrong_verdict_outside_the_band(summary):
    screening = summary["screening"]
    instrument = screening["instrument"]
    assert summary["runtime"] == "micropython"
    assert instrument["scored"] >= 30, screening
    assert instrument["wrong_outside_band"] == 0, screening
    assert screening["missed"] == 0 and screening["unmatched_passages"] == 0, screening
    rate = instrument["remeasure_rate"]
    assert rate == round(instrument["remeasures"] / instrument["scored"], 4)
    for scores in screening["conditions"].values():
        assert scores["instrument"]["wrong_outside_band"] == 0
    return rate


def test_fast_walkers_get_a_right_verdict_or_a_remeasure():
    summary, scenario = run("--walk", "fast")
    assert all(2.0 <= p.speed_mps <= 3.0 for p in scenario.people)
    rate = check_no_wrong_verdict_outside_the_band(summary)
    assert rate < 0.2  # the BAA settles in 0.10 s: most fast walkers still get a verdict
    assert set(summary["screening"]["conditions"]) == {"fast+normal"}


def test_the_medical_sensor_asks_the_quicker_walkers_to_remeasure():
    summary, scenario = run("--sensor", "dci")
    rate = check_no_wrong_verdict_outside_the_band(summary)
    quick = sum(1 for p in scenario.people if p.speed_mps > 1.6) / len(scenario.people)
    assert rate >= quick * 0.8 > 0  # 0.65 s settle: above about 1.6 m/s the window is too short
    assert summary["screening"]["instrument"]["tn"] > 0  # the slower ones get verdicts


def test_a_queue_is_screened_walker_by_walker():
    summary, scenario = run("--crowd")
    assert summary["people_true"] >= 40 * float(MINUTES) * 0.8
    check_no_wrong_verdict_outside_the_band(summary)
    assert summary["people_countable"] + summary["people_abreast"] == summary["people_true"]


def test_a_cold_entrance_gives_no_wrong_verdict():
    summary, scenario = run("--ambient", "cold")
    assert all(5.0 - 1 <= p.ambient_c <= 12.0 + 1 for p in scenario.people)
    check_no_wrong_verdict_outside_the_band(summary)


def test_a_hot_entrance_gives_no_wrong_verdict():
    summary, scenario = run("--ambient", "hot")
    assert all(30.0 - 1 <= p.ambient_c <= 36.0 + 1 for p in scenario.people)
    check_no_wrong_verdict_outside_the_band(summary)


def test_a_sunlit_background_warmer_than_a_forehead_gives_no_wrong_verdict():
    summary, scenario = run("--sun")
    assert scenario.background_c > max(p.forehead_c for p in scenario.people)
    check_no_wrong_verdict_outside_the_band(summary)


def test_mixed_entrances_are_scored_per_condition():
    summary, _ = run("--ambient", "cold,hot", seed=32)
    check_no_wrong_verdict_outside_the_band(summary)
    assert set(summary["screening"]["conditions"]) == {"cold", "hot"}


def test_every_hard_case_at_once_still_gives_no_wrong_verdict():
    summary, _ = run("--walk", "fast", "--crowd", "--sun", "--ambient", "hot")
    check_no_wrong_verdict_outside_the_band(summary)


def test_an_unknown_ambient_is_a_usage_error():
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    state = State()
    assert do_simulate(state, parser.parse_args(["--ambient", "arctic"])) == 2
    assert "--ambient" in state.err.getvalue() and "Traceback" not in state.err.getvalue()


# too fast: a re-measure, never a guess --------------------------------------------------
def walkers_at(speed_mps, count=6):
    walkers = [(2000 + 3000 * i, 38.2 if i % 2 else 36.6, IN, speed_mps) for i in range(count)]
    return Scenario.scripted(walkers, 3000 * count + 3000)


def verdicts_at(speed_mps, part):
    scenario = walkers_at(speed_mps)
    sensor = make_sensor(7, 22.0, part)
    result = run_simulation(scenario, runtime="micropython", seed=7, sensor=sensor)
    screening = summarize(result)["screening"]["instrument"]
    return screening


@pytest.mark.parametrize(("part", "speed_mps"), [("DCI", 2.0), ("BAA", 7.0)])
def test_walkers_too_fast_for_the_sensor_all_get_remeasure(part, speed_mps):
    scores = verdicts_at(speed_mps, part)
    assert scores["scored"] == 6
    assert scores["remeasures"] == 6  # never a guess: no FEVER, no NORMAL


@pytest.mark.parametrize(("part", "speed_mps"), [("DCI", 1.2), ("BAA", 3.0)])
def test_walkers_the_sensor_can_follow_all_get_a_right_verdict(part, speed_mps):
    scores = verdicts_at(speed_mps, part)
    assert scores["scored"] == 6
    assert scores["tp"] == 3 and scores["tn"] == 3


# ambient compensation: body truth with and without ------------------------------------------
def test_ambient_compensation_restores_the_body_scores_of_cold_and_hot_entrances():
    summary, _ = run(
        "--ambient", "cold,hot", "--compensation", "both", "--fever-fraction", "0.3", seed=33
    )
    with_comp = summary["screening"]["conditions"]
    without = summary["screening_without_compensation"]["conditions"]
    assert summary["screening"]["ambient_comp"] == 1
    assert summary["screening_without_compensation"]["ambient_comp"] == 0
    cold_on, cold_off = with_comp["cold"]["body"], without["cold"]["body"]
    hot_on, hot_off = with_comp["hot"]["body"], without["hot"]["body"]
    # a cold forehead hides fevers; a hot one makes everybody a fever
    assert cold_off["sensitivity"] < 0.75 and hot_off["specificity"] < 0.5
    assert cold_on["sensitivity"] >= cold_off["sensitivity"] + 0.25
    assert hot_on["specificity"] >= hot_off["specificity"] + 0.4
    assert cold_on["specificity"] >= 0.85 and hot_on["sensitivity"] >= 0.85
    for screening in (summary["screening"], summary["screening_without_compensation"]):
        assert screening["instrument"]["wrong_outside_band"] == 0


def test_the_text_summary_shows_each_entrance_with_and_without_compensation():
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    argv = ["--minutes", "2", "--runtime", "cpython", "--ambient", "cold,hot"]
    args = parser.parse_args(argv + ["--compensation", "both", "--fever-fraction", "0.3"])
    state = State()
    assert do_simulate(state, args) == 0, state.err.getvalue()
    text = state.out.getvalue()
    assert "wrong outside the +-0.3 C band" in text
    assert "(ambient compensation on)" in text and "(ambient compensation off)" in text
    assert text.count("         cold: sensitivity") == 2
    assert text.count("         hot: sensitivity") == 2
