"""The screening scorer against hand-built walkers and passages whose verdicts are known in
advance, then end to end: scripted walkers through the firmware, scored in the summary."""

import pytest

from host_tools import screening
from host_tools.screening import Passage, score
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, OUT, Person, Scenario
from host_tools.simulate import summarize

SETTINGS = screening.effective_settings({"ambient_comp": 0})  # threshold 37.30, offset 0.50


def walker(i, core_c, offset_c=0.5, arrival_ms=None, direction=IN, abreast=False, **kw):
    arrival = 2000 + 3000 * i if arrival_ms is None else arrival_ms
    return Person(i, arrival, 1.4, direction, core_c, offset_c, False, abreast=abreast, **kw)


def passage_for(person, verdict, after_ms=40):
    return Passage(person.exit_ms + after_ms, person.direction, verdict)


def counts(result, truth):
    keys = ("tp", "fp", "tn", "fn", "remeasures", "wrong_outside_band", "wrong_in_band")
    return {k: result[truth][k] for k in keys if result[truth][k]}


def scored_alone(person, verdict, settings=SETTINGS):
    return score([person], [passage_for(person, verdict)], settings)


def test_a_walker_at_37_9_core_with_a_0_5_offset_alarmed_is_a_true_positive_for_both_truths():
    result = scored_alone(walker(0, 37.9, 0.5), "fever")
    assert counts(result, "instrument") == {"tp": 1}
    assert counts(result, "body") == {"tp": 1}


def test_a_normal_walker_passed_as_normal_is_a_true_negative_for_both_truths():
    result = scored_alone(walker(0, 36.6, 0.5), "normal")
    assert counts(result, "instrument") == {"tn": 1}
    assert counts(result, "body") == {"tn": 1}


def test_a_fever_behind_a_cool_forehead_is_the_bodys_false_negative_not_the_instruments():
    # core 37.6, offset 1.0: the forehead is 36.6, the gate's 36.6 + 0.5 = 37.1 is below 37.3
    result = scored_alone(walker(0, 37.6, 1.0), "normal")
    assert counts(result, "instrument") == {"tn": 1}
    assert counts(result, "body") == {"fn": 1, "wrong_outside_band": 1}


def test_a_warm_forehead_on_a_normal_core_is_the_bodys_false_positive_not_the_instruments():
    # core 37.0, offset -0.4: the forehead is 37.4, the gate sees 37.9
    result = scored_alone(walker(0, 37.0, -0.4), "fever")
    assert counts(result, "instrument") == {"tp": 1}
    assert counts(result, "body") == {"fp": 1, "wrong_in_band": 1}


def test_an_alarm_on_a_clearly_normal_forehead_is_a_wrong_verdict_outside_the_band():
    result = scored_alone(walker(0, 36.6, 0.5), "fever")
    assert counts(result, "instrument") == {"fp": 1, "wrong_outside_band": 1}


def test_a_missed_fever_near_the_threshold_is_wrong_inside_the_band():
    # the gate's value 37.4 is 0.1 C above the threshold: noise may tip it
    result = scored_alone(walker(0, 37.4, 0.5), "normal")
    assert counts(result, "instrument") == {"fn": 1, "wrong_in_band": 1}


def test_a_remeasure_is_neither_right_nor_wrong_and_counts_in_the_remeasure_rate():
    people = [walker(0, 38.5), walker(1, 36.5)]
    passages = [passage_for(people[0], "remeasure_fast"), passage_for(people[1], "normal")]
    result = score(people, passages, SETTINGS)
    assert counts(result, "instrument") == {"tn": 1, "remeasures": 1}
    assert result["instrument"]["remeasure_rate"] == 0.5
    assert result["instrument"]["sensitivity"] is None  # no decided positive
    assert result["instrument"]["specificity"] == 1.0


def test_sensitivity_and_specificity_count_decided_verdicts():
    people = [walker(i, c) for i, c in enumerate((38.5, 38.0, 39.0, 36.5, 36.6, 36.7, 36.4))]
    verdicts = ("fever", "fever", "normal", "normal", "normal", "normal", "fever")
    result = score(
        people, [passage_for(p, v) for p, v in zip(people, verdicts, strict=True)], SETTINGS
    )
    assert counts(result, "body") == {"tp": 2, "fn": 1, "tn": 3, "fp": 1, "wrong_outside_band": 2}
    assert result["body"]["sensitivity"] == pytest.approx(2 / 3, abs=1e-4)
    assert result["body"]["specificity"] == 0.75


def test_a_walker_with_no_passage_is_missed_and_a_passage_with_nobody_is_unmatched():
    people = [walker(0, 36.6), walker(1, 36.6)]
    stray = Passage(people[1].exit_ms + 60_000, IN, "normal")
    result = score(people, [passage_for(people[0], "normal"), stray], SETTINGS)
    assert result["missed"] == 1 and result["unmatched_passages"] == 1
    assert result["instrument"]["scored"] == 1


def test_a_passage_in_the_other_direction_or_too_late_is_not_theirs():
    person = walker(0, 38.5)
    wrong_way = Passage(person.exit_ms + 40, OUT, "fever")
    too_late = Passage(person.exit_ms + screening.MATCH_AFTER_MS + 10, IN, "fever")
    result = score([person], [wrong_way, too_late], SETTINGS)
    assert result["missed"] == 1 and result["instrument"]["scored"] == 0


def test_walkers_out_are_scored_like_walkers_in():
    person = walker(0, 38.5, direction=OUT)
    assert counts(scored_alone(person, "fever"), "body") == {"tp": 1}


def test_two_abreast_are_one_passage_scored_for_the_walker_the_sensor_saw():
    first = walker(0, 36.6, arrival_ms=2000)
    beside = walker(1, 38.6, arrival_ms=2020, abreast=True)
    result = score([first, beside], [passage_for(beside, "fever")], SETTINGS)
    assert counts(result, "body") == {"tp": 1}
    assert result["unscreened"] == 1 and result["missed"] == 0
    assert screening.people_counts([first, beside]) == {
        "people_countable": 1,
        "people_abreast": 1,
    }


def test_each_condition_is_scored_on_its_own_when_several_are_mixed():
    cold = walker(0, 38.5, condition="cold", ambient_c=8.0)
    hot = walker(1, 36.6, condition="hot", ambient_c=33.0)
    result = score([cold, hot], [passage_for(cold, "normal"), passage_for(hot, "fever")], SETTINGS)
    assert counts(result["conditions"]["cold"], "body") == {"fn": 1, "wrong_outside_band": 1}
    assert counts(result["conditions"]["hot"], "body") == {"fp": 1, "wrong_outside_band": 1}
    assert result["body"]["scored"] == 2


def test_the_instrument_truth_follows_the_ambient_correction_when_it_is_on():
    cold = walker(0, 37.0, 0.5, ambient_c=8.0, k=0.11)  # forehead about 35.1
    settings = screening.effective_settings(
        {"ambient_comp": 1, "ambient_gain_permille": 100, "ambient_ref_cc": 2200}
    )
    assert cold.forehead_c == pytest.approx(37.0 - 0.5 - 0.11 / 1.11 * 14.0)
    assert screening.instrument_body_c(cold, settings) == pytest.approx(cold.forehead_c + 1.9)
    plain = screening.effective_settings({"ambient_comp": 0})
    assert screening.instrument_body_c(cold, plain) == pytest.approx(cold.forehead_c + 0.5)


def test_fever_truth_is_the_core_against_the_threshold_not_the_drawing_branch():
    people = [walker(0, 37.35), walker(1, 37.2)]
    people[0].fever = False  # drawn as a normal walker, but at or above 37.3 C
    people[1].fever = True
    scenario = Scenario(people, 20_000, ambient_swing_c=0.0)
    assert scenario.fevers(37.30) == [people[0]]
    assert scenario.fevers(37.50) == []


# end to end: the firmware's verdicts scored in the summary ---------------------------------
KNOWN = [
    # (core, offset) -> (instrument verdict, body verdict)
    ((37.9, 0.5), ("tp", "tp")),
    ((36.6, 0.5), ("tn", "tn")),
    ((37.8, 1.2), ("tn", "fn")),  # forehead 36.6: the gate says 37.1
    ((37.0, -0.4), ("tp", "fp")),  # forehead 37.4: the gate says 37.9
    ((38.8, 0.3), ("tp", "tp")),
]


def scripted_known(runtime):
    walkers = [
        (2000 + 4000 * i, core, IN, 1.4, offset) for i, ((core, offset), _) in enumerate(KNOWN)
    ]
    scenario = Scenario.scripted(walkers, 4000 * len(KNOWN) + 4000, ambient_c=22.0)
    result = run_simulation(scenario, runtime=runtime, seed=3)
    return summarize(result)["screening"]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_summary_scores_scripted_walkers_with_known_verdicts(runtime):
    result = scripted_known(runtime)
    for truth, column in (("instrument", 0), ("body", 1)):
        want = {}
        for _, verdicts in KNOWN:
            want[verdicts[column]] = want.get(verdicts[column], 0) + 1
        got = {k: result[truth][k] for k in ("tp", "fp", "tn", "fn") if result[truth][k]}
        assert got == want, truth
    assert result["instrument"]["wrong_outside_band"] == 0
    assert result["body"]["wrong_outside_band"] == 1  # the 37.8 C fever behind a cool forehead
    assert result["missed"] == 0 and result["unmatched_passages"] == 0
