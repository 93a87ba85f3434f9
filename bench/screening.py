"""The screening section of `make bench`: the gate's verdicts scored against the truth over a
fixed set of hard-case scenarios, and how fast is too fast for each sensor part.

Scenario set (fixed seeds, the firmware on the MicroPython unix port, a quarter of the walkers
drawn with a fever so that sensitivity has something to count): a normal entrance, fast
walkers, the medical DCI sensor, a queue, a cold and a hot entrance, a sunlit background. The
cold, normal and hot entrances run twice, with the gate's ambient compensation on and off.

Figures:
- screening_wrong_outside_band: the instrument's wrong verdicts more than 0.3 C from the
  threshold, summed over the set (goal 0);
- screening_remeasure_rate: re-measures over scored walkers, the whole set; then per case;
- screening_body_sensitivity_/specificity_{cold,normal,hot}_{compensated,uncompensated}: the
  body truth (core >= 37.3 C) with the compensation on and off;
- screening_too_fast_mps_{baa,dci}: scripted walkers at speeds on a 0.1 m/s grid: the lowest
  speed from which every walker is asked to re-measure (REMEASURE_FAST), and
  screening_followed_mps_{baa,dci}, the highest speed at which every walker still gets a
  verdict. Between the two, some walkers get a verdict and some a re-measure (it depends on
  where the control tick falls), none a wrong verdict.
"""

import argparse
import io
import json

from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, Scenario
from host_tools.shim.world import make_sensor
from host_tools.simulate import argparse_simulate, do_simulate, summarize

SEED = 2020
FEVER_FRACTION = "0.25"
CASES = (  # (name, simulate flags)
    ("normal", ("--compensation", "both")),
    ("cold", ("--ambient", "cold", "--compensation", "both")),
    ("hot", ("--ambient", "hot", "--compensation", "both")),
    ("fast", ("--walk", "fast")),
    ("dci", ("--sensor", "dci")),
    ("crowd", ("--crowd",)),
    ("sun", ("--sun",)),
)
AMBIENTS = ("cold", "normal", "hot")
SWEEP = {"BAA": (3.0, 7.0), "DCI": (0.8, 2.5)}  # speeds to sweep (m/s), per part
SWEEP_WALKERS = 10

NAMES = (
    "screening_wrong_outside_band",
    "screening_remeasure_rate",
    *(f"screening_remeasure_rate_{name}" for name, _ in CASES),
    *(
        f"screening_body_{score}_{ambient}_{comp}"
        for ambient in AMBIENTS
        for comp in ("compensated", "uncompensated")
        for score in ("sensitivity", "specificity")
    ),
    "screening_followed_mps_baa",
    "screening_too_fast_mps_baa",
    "screening_followed_mps_dci",
    "screening_too_fast_mps_dci",
)


class _State:
    def __init__(self):
        self.out = io.StringIO()
        self.err = io.StringIO()


def simulate_json(flags, minutes, seed=SEED):
    """`fevergate simulate --json` in this process: the summary dict."""
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    argv = ["--json", "--minutes", str(minutes), "--seed", str(seed)]
    args = parser.parse_args(argv + ["--fever-fraction", FEVER_FRACTION, *flags])
    state = _State()
    code = do_simulate(state, args)
    if code != 0:
        raise RuntimeError(f"fevergate simulate {' '.join(flags)}: {state.err.getvalue()}")
    return json.loads(state.out.getvalue())


def _pct(value):
    return float("nan") if value is None else 100.0 * value


def walkers_at(speed_mps, count=SWEEP_WALKERS):
    """Walkers alone in the channel at one speed, their arrivals spread over a control tick."""
    walkers = [(2000 + 3000 * i + i, 36.6, IN, speed_mps) for i in range(count)]
    return Scenario.scripted(walkers, 3000 * count + 3000)


def verdict_split(speed_mps, part, runtime):
    """(walkers with a verdict, walkers asked to re-measure) at one speed."""
    sensor = make_sensor(SEED, 22.0, part)
    result = run_simulation(walkers_at(speed_mps), runtime=runtime, seed=SEED, sensor=sensor)
    scores = summarize(result)["screening"]["instrument"]
    decided = scores["tp"] + scores["tn"] + scores["fp"] + scores["fn"]
    return decided, scores["remeasures"]


def speed_limits(part, step, runtime="micropython"):
    """(highest speed every walker got a verdict, lowest speed from which all re-measure)."""
    low, high = SWEEP[part]
    followed = too_fast = None
    speed = low
    while speed <= high + 1e-9:
        decided, remeasures = verdict_split(round(speed, 2), part, runtime)
        if remeasures == 0 and decided == SWEEP_WALKERS:
            followed = round(speed, 2)
        if decided == 0 and remeasures == SWEEP_WALKERS:
            too_fast = round(speed, 2)
            break
        speed += step
    return followed, too_fast


def bench_screening(report, quick):
    minutes = 2 if quick else 10
    total_wrong = total_remeasures = total_scored = 0
    summaries = {}
    for name, flags in CASES:
        summary = simulate_json(flags, minutes)
        summaries[name] = summary
        for screening in (summary["screening"], summary.get("screening_without_compensation")):
            if screening is not None:
                total_wrong += screening["instrument"]["wrong_outside_band"]
        instrument = summary["screening"]["instrument"]
        total_remeasures += instrument["remeasures"]
        total_scored += instrument["scored"]
    runs = sum(1 + ("screening_without_compensation" in s) for s in summaries.values())
    report.figure(
        "screening_wrong_outside_band",
        total_wrong,
        "verdicts",
        fmt="{}",
        note=f"instrument truth, {runs} runs of {minutes} min, goal 0",
    )
    report.figure(
        "screening_remeasure_rate",
        100.0 * total_remeasures / max(total_scored, 1),
        "%",
        fmt="{:.1f}",
        note=f"{total_remeasures} of {total_scored} walkers, the whole set",
    )
    for name, flags in CASES:
        instrument = summaries[name]["screening"]["instrument"]
        report.figure(
            f"screening_remeasure_rate_{name}",
            _pct(instrument["remeasure_rate"]),
            "%",
            fmt="{:.1f}",
            note=" ".join(flags) or "defaults",
        )
    for ambient in AMBIENTS:
        summary = summaries[ambient]
        for comp, key in (
            ("compensated", "screening"),
            ("uncompensated", "screening_without_compensation"),
        ):
            body = summary[key]["body"]
            for score in ("sensitivity", "specificity"):
                report.figure(
                    f"screening_body_{score}_{ambient}_{comp}",
                    _pct(body[score]),
                    "%",
                    fmt="{:.1f}",
                    note=f"tp {body['tp']} fn {body['fn']} tn {body['tn']} fp {body['fp']}",
                )
    step = 0.5 if quick else 0.1
    for part in SWEEP:
        followed, too_fast = speed_limits(part, step)
        for label, value in (("followed", followed), ("too_fast", too_fast)):
            name = f"screening_{label}_mps_{part.lower()}"
            if value is None:
                report.unavailable((name,), f"not within {SWEEP[part]} m/s")
            else:
                report.figure(name, value, "m/s", fmt="{:.1f}", note=f"{step} m/s grid")
