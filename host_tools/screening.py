"""Screening truth: every simulated walker matched to their passage record and scored.

A gate's verdict can be judged against two truths, and `fevergate simulate` reports both:

- instrument: the forehead the sensor saw, turned into a body temperature the way the gate is
  configured to (plus skin_offset_cc, plus the ambient correction when ambient_comp is on),
  against the threshold. A wrong verdict here is the gate's own error (noise, a reading taken
  before the sensor settled, a background in the window, a verdict given to the wrong walker).
  `wrong_outside_band` counts the wrong verdicts for walkers more than BAND_C from the threshold:
  its goal is 0. Inside the band the sensor's noise may tip a verdict either way.
- body: the walker's core temperature against the threshold (37.3 C, the screening line). A
  forehead thermometer cannot see the core: a person whose skin offset differs from the
  configured one is misjudged even by a perfect instrument. Sensitivity and specificity here are
  what physiology allows the gate.

Matching: people are grouped into shadows (a walker and whoever walks abreast of them: the beams
see one shadow, the gate one passage). Each shadow is matched to the first unused passage record
in the same direction written between MATCH_BEFORE_MS before and MATCH_AFTER_MS after the shadow
cleared the far beam. The verdict belongs to the walker the sensor saw (the shadow's last
arrival); the others in the shadow are `unscreened`. A shadow with no passage is `missed`.

Counts per truth: tp, fp, tn, fn (FEVER is the positive verdict, NORMAL the negative),
remeasures (any REMEASURE_* verdict: the walker is asked to step back), no_reading (a passage
with VERDICT_NO_READING), scored (shadows with a passage), wrong_outside_band, wrong_in_band,
then sensitivity = tp / (tp + fn), specificity = tn / (tn + fp) over the decided verdicts (None
when there is nothing to divide), and remeasure_rate = remeasures / scored.
"""

from dataclasses import dataclass

from host_tools.shim.scenario import IN

BAND_C = 0.30
MATCH_BEFORE_MS = 50
MATCH_AFTER_MS = 2000
# the firmware's clamp of the sensor's ambient reading (firmware/measure.py _TA_MIN_CC/_TA_MAX_CC)
TA_MIN_CC = 0
TA_MAX_CC = 4500

FEVER = "fever"
NORMAL = "normal"
NO_READING = "no_reading"


@dataclass(frozen=True)
class Passage:
    """One passage record as the scorer needs it: world time, direction, verdict name."""

    t_ms: int
    direction: int  # scenario.IN or scenario.OUT
    verdict: str  # "fever", "normal", "remeasure_fast", ..., "no_reading"
    temp_cc: int = 0


def default_settings():
    """The firmware's settings at their defaults, by name (firmware/config.py)."""
    from host_tools import compat

    compat.install()
    import config

    return {row[1]: row[4] for row in config.SETTINGS}


def effective_settings(overrides=None):
    settings = default_settings()
    settings.update(overrides or {})
    return settings


def ambient_correction_c(ambient_c, settings):
    """What the gate adds for the ambient (C): gain x (reference - Ta), 0 when off."""
    if not settings.get("ambient_comp", 0):
        return 0.0
    ta_cc = min(TA_MAX_CC, max(TA_MIN_CC, round(ambient_c * 100)))
    gain = settings["ambient_gain_permille"]
    return gain * (settings["ambient_ref_cc"] - ta_cc) / 1000 / 100


def instrument_body_c(person, settings):
    """The body temperature a perfect instrument configured like the gate would report."""
    return (
        person.forehead_c
        + settings["skin_offset_cc"] / 100
        + ambient_correction_c(person.ambient_c, settings)
    )


def threshold_c(settings):
    return settings["fever_threshold_cc"] / 100


def shadows(people):
    """People grouped as the beams see them: [[walker, companions abreast...]] in order."""
    groups = []
    for person in sorted(people, key=lambda p: (p.arrival_ms, p.id)):
        if person.abreast and groups and groups[-1][0].direction == person.direction:
            groups[-1].append(person)
        else:
            groups.append([person])
    return groups


def seen(group):
    """The walker of a shadow the sensor saw: the most recent arrival (scenario.py)."""
    return max(group, key=lambda p: (p.arrival_ms, p.id))


def match(groups, passages):
    """{group index: Passage}: each shadow to the first unused passage that fits it."""
    order = sorted(range(len(passages)), key=lambda i: passages[i].t_ms)
    used = set()
    matched = {}
    by_exit = sorted(range(len(groups)), key=lambda g: max(p.exit_ms for p in groups[g]))
    for g in by_exit:
        group = groups[g]
        exit_ms = max(p.exit_ms for p in group)
        direction = group[0].direction
        for i in order:
            passage = passages[i]
            if i in used or passage.direction != direction:
                continue
            if passage.t_ms < exit_ms - MATCH_BEFORE_MS:
                continue
            if passage.t_ms > exit_ms + MATCH_AFTER_MS:
                break
            used.add(i)
            matched[g] = passage
            break
    return matched


def _empty():
    return {
        "scored": 0,
        "tp": 0,
        "fp": 0,
        "tn": 0,
        "fn": 0,
        "remeasures": 0,
        "no_reading": 0,
        "wrong_outside_band": 0,
        "wrong_in_band": 0,
    }


def _tally(counts, truth_c, threshold, verdict):
    counts["scored"] += 1
    if verdict == NO_READING:
        counts["no_reading"] += 1
        return
    if verdict not in (FEVER, NORMAL):
        counts["remeasures"] += 1
        return
    positive = truth_c >= threshold - 1e-9
    said_fever = verdict == FEVER
    key = ("tp" if positive else "fp") if said_fever else ("fn" if positive else "tn")
    counts[key] += 1
    if said_fever != positive:
        if abs(truth_c - threshold) > BAND_C:
            counts["wrong_outside_band"] += 1
        else:
            counts["wrong_in_band"] += 1


def _rates(counts):
    def ratio(a, b):
        return round(a / b, 4) if b else None

    counts["sensitivity"] = ratio(counts["tp"], counts["tp"] + counts["fn"])
    counts["specificity"] = ratio(counts["tn"], counts["tn"] + counts["fp"])
    counts["remeasure_rate"] = ratio(counts["remeasures"], counts["scored"])
    return counts


def score(people, passages, settings):
    """The screening dict: instrument and body counts, per condition too (see the docstring)."""
    threshold = threshold_c(settings)
    groups = shadows(people)
    matched = match(groups, passages)
    totals = {"instrument": _empty(), "body": _empty()}
    conditions = {}
    missed = unscreened = 0
    for g, group in enumerate(groups):
        person = seen(group)
        passage = matched.get(g)
        if passage is None:
            missed += 1
            continue
        unscreened += len(group) - 1
        per = conditions.setdefault(person.condition, {"instrument": _empty(), "body": _empty()})
        for name, truth in (
            ("instrument", instrument_body_c(person, settings)),
            ("body", person.core_c),
        ):
            _tally(totals[name], truth, threshold, passage.verdict)
            _tally(per[name], truth, threshold, passage.verdict)
    for counts in (totals, *conditions.values()):
        _rates(counts["instrument"])
        _rates(counts["body"])
    return {
        "threshold_c": threshold,
        "band_c": BAND_C,
        "ambient_comp": int(settings.get("ambient_comp", 0)),
        "shadows": len(groups),
        "missed": missed,
        "unscreened": unscreened,
        "unmatched_passages": len(passages) - len(matched),
        "instrument": totals["instrument"],
        "body": totals["body"],
        "conditions": conditions,
    }


def people_counts(people):
    """people_countable (walkers a two-beam channel can separate) and people_abreast."""
    abreast = sum(1 for group in shadows(people) for _ in group[1:])
    return {"people_countable": len(people) - abreast, "people_abreast": abreast}


def passages_from_records(records, times, verdict_names, dir_out):
    """Passage tuples from decoded passage records and their world times (ms)."""
    out = []
    for record, t_ms in zip(records, times, strict=True):
        if record.type != "passage":
            continue
        fields = record.fields
        direction = -1 if fields.get("direction") == dir_out else IN
        verdict = verdict_names.get(fields.get("verdict"), str(fields.get("verdict")))
        out.append(Passage(t_ms, direction, verdict, fields.get("temp_cc", 0)))
    return out
