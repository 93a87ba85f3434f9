"""`fevergate report`: the day at a gate, from the SQLite store, as text and as a PNG.

`day_report(store, day, device_id=None, tz=None)` reads the records whose wall time falls on
`day` in the site's zone (host_tools/sitezone.py: `--tz`, default the laptop's) and returns one
`GateDay` per gate: people in per hour (and out), the day's total in (the figure gates like
this reported every day), fevers and re-measures by kind, the temperatures of the measured
passages (normal and fever verdicts) with their mean and standard deviation, the faults raised
and cleared, and the calibration in force at the end of the day (the last calibration CONFIG
records the gate sent before then). `format_text` and `render_png` (matplotlib, Agg) present
it. Records without a wall time (a boot whose clock was never synced) cannot be placed on a
day: they are counted and the report says so.

Every fever figure is a screening result, to be confirmed with a clinical thermometer, as the
screening standards ask; both the text and the PNG say so.
"""

from __future__ import annotations

import datetime
import math
from dataclasses import dataclass, field

from host_tools import sitezone
from host_tools.decoder import FAULT_NAMES, VERDICT_NAMES
from host_tools.store import RecordStore, open_store
from host_tools.wire import protocol

SCREENING_NOTE = "Fever results are screening results: confirm each with a clinical thermometer."
# what the gate's temp_cc is: the forehead's skin temperature turned into an estimate of body
# temperature (skin-to-body offset, ambient compensation), not a body temperature
ESTIMATE_TEXT = "forehead-based estimate of body temperature"
ESTIMATE_AXIS = ESTIMATE_TEXT + ", °C"
IN_COLOUR = "tab:blue"
OUT_COLOUR = "0.6"
NORMAL_COLOUR = "tab:green"
FEVER_COLOUR = "tab:red"
THRESHOLD_COLOUR = "darkred"
HISTOGRAM_STEP_CC = 20  # 0.20 C bins
_DAY_S = 86400
_MEASURED = (protocol.VERDICT_NORMAL, protocol.VERDICT_FEVER)
_THRESHOLD_KEY = 1  # firmware/config.py SETTINGS: fever_threshold_cc


@dataclass
class GateDay:
    device_id: int
    day: datetime.date
    people_in_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    people_out_by_hour: list[int] = field(default_factory=lambda: [0] * 24)
    people_unknown_direction: int = 0
    fevers: int = 0  # passages with a fever verdict (screening results)
    fever_alarms: int = 0
    remeasures: dict[str, int] = field(default_factory=dict)
    temperatures_cc: list[int] = field(default_factory=list)
    faults_raised: dict[str, int] = field(default_factory=dict)
    faults_cleared: dict[str, int] = field(default_factory=dict)
    calibration: dict[str, int] | None = None  # offset_cc, reference_cc, day (days since 1970)
    undated_records: int = 0  # of this gate, without a wall time: not in the day
    zone: str = "UTC"  # the time zone the day and its hours are in, as the header names it
    threshold_cc: int | None = None  # the gate's fever threshold that day (None: not recorded)
    threshold_read_on: datetime.date | None = None  # known from a later sync's read, that day

    @property
    def people_in(self) -> int:
        return sum(self.people_in_by_hour) + self.people_unknown_direction

    @property
    def people_out(self) -> int:
        return sum(self.people_out_by_hour)

    @property
    def mean_c(self) -> float | None:
        t = self.temperatures_cc
        return sum(t) / len(t) / 100 if t else None

    @property
    def spread_c(self) -> float | None:
        """Standard deviation of the measured temperatures (population), C."""
        t = self.temperatures_cc
        if not t:
            return None
        mean = sum(t) / len(t)
        return math.sqrt(sum((x - mean) ** 2 for x in t) / len(t)) / 100

    def histogram(self) -> list[tuple[int, int]]:
        """(bin start cC, count) for HISTOGRAM_STEP_CC bins from the lowest to the highest,
        with the threshold on a bin edge: every bin is wholly below it or at and above it, so
        a fever bin holds fever results only."""
        if not self.temperatures_cc:
            return []
        step = HISTOGRAM_STEP_CC
        anchor = round(threshold_c(self) * 100)

        def start(t: int) -> int:
            return anchor + (t - anchor) // step * step

        low = start(min(self.temperatures_cc))
        high = start(max(self.temperatures_cc))
        counts = dict.fromkeys(range(low, high + step, step), 0)
        for t in self.temperatures_cc:
            counts[start(t)] += 1
        return sorted(counts.items())


def parse_day(text: str) -> datetime.date:
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--day {text!r}: give a date like 2026-02-13") from None


def day_bounds(day: datetime.date, tz=datetime.timezone.utc) -> tuple[float, float]:
    """Unix seconds of the day's first instant and of the next day's, in `tz` (None: the
    laptop's zone; a daylight-saving day has 23 or 25 hours)."""
    return sitezone.day_bounds(day, tz)


def devices(store: RecordStore) -> list[int]:
    return store.devices()


def day_report(
    store: RecordStore,
    day: datetime.date,
    device_id: int | None = None,
    tz: datetime.tzinfo | None = None,
) -> list[GateDay]:
    """One GateDay per gate with records on `day` in the zone `tz` (None: the laptop's; only
    `device_id` when given)."""
    since, until = day_bounds(day, tz)
    gates = [device_id] if device_id is not None else devices(store)
    out = []
    for gate in gates:
        report = GateDay(gate, day, zone=sitezone.zone_name(tz, since))
        seen = False
        for row in store.query(device_id=gate, since=since, until=until):
            seen = True
            _add(report, row, tz)
        if not seen:
            continue
        report.calibration = _calibration(store, gate, until)
        report.threshold_cc = _setting(store, gate, until, _THRESHOLD_KEY)
        if report.threshold_cc is None:
            read = _read_after(store, gate, until, _THRESHOLD_KEY)
            if read is not None:
                report.threshold_cc = read[0]
                report.threshold_read_on = sitezone.local_date(read[1], tz)
        report.undated_records = store.undated(gate)
        out.append(report)
    return out


def _add(report: GateDay, row: dict, tz) -> None:
    fields = row["fields"]
    kind = row["type"]
    if kind == "passage":
        hour = sitezone.hour_of(row["wall_time"], tz)  # the site's clock (DST days too)
        direction = fields["direction"]
        if direction == protocol.DIR_OUT:
            report.people_out_by_hour[hour] += 1
        elif direction == protocol.DIR_IN:
            report.people_in_by_hour[hour] += 1
        else:
            report.people_unknown_direction += 1
        verdict = fields["verdict"]
        if verdict == protocol.VERDICT_FEVER:
            report.fevers += 1
        elif verdict not in _MEASURED and verdict != protocol.VERDICT_NO_READING:
            name = VERDICT_NAMES.get(verdict, str(verdict)).replace("remeasure_", "")
            report.remeasures[name] = report.remeasures.get(name, 0) + 1
        if verdict in _MEASURED:
            report.temperatures_cc.append(fields["temp_cc"])
    elif kind == "alarm" and fields["kind"] == protocol.ALARM_FEVER:
        report.fever_alarms += 1
    elif kind == "fault":
        name = FAULT_NAMES.get(fields["code"], str(fields["code"]))
        table = report.faults_raised if fields["active"] else report.faults_cleared
        table[name] = table.get(name, 0) + 1


def _setting(store: RecordStore, device_id: int, until: float, key: int) -> int | None:
    """The last value of a setting the gate reported (CONFIG records) before `until`."""
    value = None
    for fields in store.config_before(device_id, until):
        if fields["key"] == key:
            value = fields["value"]
    return value


def _read_after(
    store: RecordStore, device_id: int, since: float, key: int
) -> tuple[int, float] | None:
    """(value, wall time) of the first CONFIG record of `key` after `since` when it was a read
    (its REPLY answers GET_CONFIG, as every sync asks): the setting in force since before
    `since`, as no change (a SET_CONFIG echo, journaled and synced) came before it. None when
    the first such record is a change, or there is none."""
    first = None
    for row in store.query(device_id=device_id, since=since, type_="config"):
        if row["fields"]["key"] == key and (
            first is None or row["wall_time"] < first["wall_time"]
        ):
            first = row
    if first is None:
        return None
    answer_seq = (first["seq"] + 1) & 0xFFFF
    wall = first["wall_time"]
    for row in store.query(device_id=device_id, since=wall, until=wall + 600, type_="reply"):
        if row["boot"] == first["boot"] and row["seq"] == answer_seq:
            if row["fields"]["command"] == protocol.CMD_GET_CONFIG:
                return first["fields"]["value"], wall
            return None
    return None


def _calibration(store: RecordStore, device_id: int, until: float) -> dict[str, int] | None:
    """The last calibration the gate reported before `until`, or None."""
    keys = {
        protocol.KEY_CAL_OFFSET: "offset_cc",
        protocol.KEY_CAL_REFERENCE: "reference_cc",
        protocol.KEY_CAL_DAY: "day",
    }
    found: dict[str, int] = {}
    for fields in store.config_before(device_id, until):
        if fields["key"] in keys:
            found[keys[fields["key"]]] = fields["value"]
    if not found.get("reference_cc"):
        return None
    return found


# -- presenting ------------------------------------------------------------------------


def _c(cc: float) -> str:
    return f"{cc / 100:.2f} °C"


def format_text(
    reports: list[GateDay],
    store_path: str,
    tz_name: str | None = None,
    site: str | None = None,
    zone_source: sitezone.SiteZone | None = None,
) -> str:
    """The report as text; the zone in the header is `tz_name`, else each day's own; `site` the
    site's name; `zone_source` says where the zone came from (a `time zone` line)."""
    lines = []
    where = f", site {site}" if site else ""
    for r in reports:
        lines.append(
            f"fevergate report: {r.day.isoformat()} ({tz_name or r.zone}), "
            f"gate 0x{r.device_id:08X}{where}, store {store_path}"
        )
        if zone_source is not None:
            lines.append(
                f"time zone     {zone_source.describe(day_bounds(r.day, zone_source.tz)[0])}"
            )
        lines += [
            f"people in     {r.people_in}   (out {r.people_out})",
            f"hour ({tz_name or r.zone})   in  out",
        ]
        peak = max(r.people_in_by_hour) or 1
        for hour in range(24):
            n_in, n_out = r.people_in_by_hour[hour], r.people_out_by_hour[hour]
            if n_in or n_out:
                bar = "#" * max(1, round(40 * n_in / peak)) if n_in else ""
                lines.append(f"  {hour:02d}:00  {n_in:5d} {n_out:4d}  {bar}")
        if r.people_unknown_direction:
            lines.append(f"  (direction unknown: {r.people_unknown_direction}, counted in)")
        lines.append(f"fevers        {r.fevers} screening results ({r.fever_alarms} fever alarms)")
        lines.append(f"threshold     {_threshold_text(r)}")
        remeasures = sum(r.remeasures.values())
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(r.remeasures.items()))
        lines.append(f"re-measures   {remeasures}" + (f" ({kinds})" if kinds else ""))
        if r.temperatures_cc:
            lines.append(
                f"{ESTIMATE_TEXT}: mean {r.mean_c:.2f} °C, spread (sd) {r.spread_c:.2f} °C "
                f"over {len(r.temperatures_cc)} measured passages"
            )
            most = max(n for _, n in r.histogram())
            for start, n in r.histogram():
                bar = "#" * round(30 * n / most) if n else ""
                lines.append(f"  {_c(start)} .. {_c(start + HISTOGRAM_STEP_CC)}  {n:5d}  {bar}")
        else:
            lines.append(f"{ESTIMATE_TEXT}: no measured passages")
        raised = ", ".join(f"{k} x{v}" for k, v in sorted(r.faults_raised.items()))
        cleared = sum(r.faults_cleared.values())
        lines.append(
            f"faults        {raised or 'none'}" + (f" ({cleared} cleared)" if cleared else "")
        )
        lines.append(f"calibration   {_calibration_text(r.calibration)}")
        if r.undated_records:
            lines.append(
                f"note          {r.undated_records} records of this gate have no wall time "
                "(their boot's clock was never synced) and are not in any day"
            )
        lines.append(SCREENING_NOTE)
        lines.append("")
    if len(reports) > 1:
        total_in = sum(r.people_in for r in reports)
        total_fevers = sum(r.fevers for r in reports)
        lines.append(
            f"all {len(reports)} gates: {total_in} people in, {total_fevers} fever "
            "screening results"
        )
    return "\n".join(lines).rstrip("\n") + "\n"


def format_site(reports: list[GateDay], tz_name: str, store_name: str) -> str:
    """The site view: one line per gate and the site's total for the day."""
    day = reports[0].day.isoformat()
    lines = [
        f"fevergate report: site view, {day} ({tz_name}), {len(reports)} gate(s), "
        f"store {store_name}",
        f"{'gate':12} {'in':>7} {'out':>6} {'fevers':>7} {'alarms':>7} {'remeas':>7} "
        f"{'faults':>7} {'mean °C':>7}",
    ]

    def line(name, people_in, out, fevers, alarms, remeasures, faults, temps):
        mean = f"{sum(temps) / len(temps) / 100:.2f}" if temps else "-"
        return (
            f"{name:12} {people_in:7d} {out:6d} {fevers:7d} {alarms:7d} {remeasures:7d} "
            f"{faults:7d} {mean:>7}"
        )

    for r in reports:
        lines.append(
            line(
                f"0x{r.device_id:08X}",
                r.people_in,
                r.people_out,
                r.fevers,
                r.fever_alarms,
                sum(r.remeasures.values()),
                sum(r.faults_raised.values()),
                r.temperatures_cc,
            )  # fmt: skip
        )
    lines.append(
        line(
            "site total",
            sum(r.people_in for r in reports),
            sum(r.people_out for r in reports),
            sum(r.fevers for r in reports),
            sum(r.fever_alarms for r in reports),
            sum(sum(r.remeasures.values()) for r in reports),
            sum(sum(r.faults_raised.values()) for r in reports),
            [t for r in reports for t in r.temperatures_cc],
        )
    )
    peak = [sum(r.people_in_by_hour[h] for r in reports) for h in range(24)]
    busiest = max(range(24), key=lambda h: peak[h])
    if peak[busiest]:
        lines.append(f"busiest hour  {busiest:02d}:00 ({tz_name}), {peak[busiest]} people in")
    lines.append(SCREENING_NOTE)
    return "\n".join(lines) + "\n"


def threshold_c(r: GateDay) -> float:
    """The fever threshold the gate used that day, or the default when none was recorded."""
    return r.threshold_cc / 100 if r.threshold_cc is not None else protocol_threshold_c()


def _threshold_text(r: GateDay) -> str:
    if r.threshold_read_on is not None:
        return (
            f"{threshold_c(r):.2f} °C (the gate's setting, read at its sync on "
            f"{r.threshold_read_on.isoformat()}; no change recorded since the day)"
        )
    if r.threshold_cc is not None:
        return f"{threshold_c(r):.2f} °C (the gate's setting that day)"
    return f"{threshold_c(r):.2f} °C (the default: no setting recorded in the store)"


def _calibration_text(cal: dict[str, int] | None) -> str:
    if cal is None:
        return "none recorded"
    when = "date unknown"
    if cal.get("day"):
        when = (datetime.date(1970, 1, 1) + datetime.timedelta(days=cal["day"])).isoformat()
    offset = cal.get("offset_cc", 0)
    return f"offset {offset / 100:+.2f} °C against {_c(cal['reference_cc'])}, {when}"


def report_title(r: GateDay, site: str | None = None) -> str:
    """`Daily screening report: Main entrance, gate 0x0000002A, 2026-02-13 (UTC+02:00)`."""
    where = f"{site}, " if site else ""
    return (
        f"Daily screening report: {where}gate 0x{r.device_id:08X}, {r.day.isoformat()} ({r.zone})"
    )


def build_figure(reports: list[GateDay], site: str | None = None):
    """The report's matplotlib Figure: per gate, people in and out per hour side by side and
    the histogram of the forehead-based estimates, fever bins in their own colour, the mean and
    the threshold the gate used; the day in words in the titles."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 4.2 * len(reports)), layout="constrained")
    axes = fig.subplots(len(reports), 2, squeeze=False)
    for row, r in zip(axes, reports, strict=True):
        hours, temps = row
        x = list(range(24))
        hours.bar([h - 0.2 for h in x], r.people_in_by_hour, 0.4, label="in", color=IN_COLOUR)
        hours.bar([h + 0.2 for h in x], r.people_out_by_hour, 0.4, label="out", color=OUT_COLOUR)
        hours.set_xticks(range(0, 24, 2))
        hours.set_xlabel(f"hour ({r.zone})")
        hours.set_ylabel("people")
        hours.set_title(f"{report_title(r, site)}: {r.people_in} in, {r.people_out} out")
        hours.legend()
        if r.undated_records:
            hours.text(
                0.01,
                0.97,
                f"{r.undated_records} records without a clock time (not in any day)",
                transform=hours.transAxes,
                va="top",
                fontsize=8,
                color="tab:orange",
            )
        bins = r.histogram()
        limit = threshold_c(r)
        if bins:
            temps.bar(
                [(b + HISTOGRAM_STEP_CC / 2) / 100 for b, _ in bins],
                [n for _, n in bins],
                width=HISTOGRAM_STEP_CC / 100 * 0.9,
                color=[FEVER_COLOUR if b / 100 >= limit else NORMAL_COLOUR for b, _ in bins],
            )
            temps.axvline(r.mean_c, color="k", linestyle="--", label=f"mean {r.mean_c:.2f} °C")
        if r.threshold_read_on is not None:
            which = f"the gate's, read {r.threshold_read_on.isoformat()}"
        elif r.threshold_cc is not None:
            which = "the gate's that day"
        else:
            which = "default: none recorded"
        temps.axvline(
            limit, color=THRESHOLD_COLOUR, label=f"fever threshold {limit:.2f} °C ({which})"
        )
        temps.legend()
        temps.set_xlabel(ESTIMATE_AXIS)
        temps.set_ylabel("passages")
        spread = f", sd {r.spread_c:.2f} °C" if r.temperatures_cc else ""
        temps.set_title(
            f"{r.fevers} fever screening results, {sum(r.remeasures.values())} re-measures"
            f"{spread}; calibration: {_calibration_text(r.calibration)}",
            fontsize=9,
        )
    fig.suptitle(SCREENING_NOTE, fontsize=10, color=FEVER_COLOUR)
    return fig


def render_png(reports: list[GateDay], path, site: str | None = None) -> None:
    """build_figure's picture into `path` (a file name or a binary stream)."""
    build_figure(reports, site).savefig(path, dpi=90, format="png")


def protocol_threshold_c() -> float:
    """The firmware's default fever threshold (firmware/config.py), C."""
    from host_tools import compat

    compat.install()
    import config

    return config.Config().fever_threshold_cc / 100


# -- `fevergate report` ------------------------------------------------------------------


def argparse_report(parser) -> None:
    import textwrap

    from host_tools.cli import device_id

    parser.description = textwrap.fill(
        "The day at the gate(s) from the SQLite store: people per hour and the day's total, "
        "fevers (screening results) and re-measures, the temperature histogram with its mean "
        "and spread, faults, the calibration in force. Text on stdout; --png also draws it. "
        "Days and hours are in the site's time zone: --tz, else the gate's own (the UTC "
        "offset its last time sync gave it, in the store after a sync), else this computer's; "
        "of the records' wall time (set by `fevergate sync` or time-sync).",
        79,
    )
    parser.epilog = (
        "examples:\n  fevergate report --store gate.db --day 2026-02-13\n"
        "  fevergate report --store gate.db --day 2026-02-13 --png day.png --device 0x4D501D1D"
        ' --site "Main entrance"'
    )
    parser.add_argument(
        "--store", required=True, metavar="DB", help="the SQLite store or a postgresql:// URL"
    )
    parser.add_argument(
        "--site-view", action="store_true", help="every gate on one line and the site total"
    )
    parser.add_argument("--day", metavar="YYYY-MM-DD", help="the day (default: the latest)")
    parser.add_argument("--png", metavar="OUT.png", help="also draw the report into this PNG")
    parser.add_argument("--device", type=device_id, metavar="ID", help="one gate (default: all)")
    parser.add_argument(
        "--site", metavar="NAME", help='the site\'s name for the title ("Main entrance")'
    )
    sitezone.add_tz_option(parser)


def do_report(state, args) -> int:
    from host_tools.errors import EXIT_DATA, EXIT_USAGE, FevergateError

    zone = sitezone.site_zone(args.tz) if args.tz is not None else None  # a typo: one line
    if args.png is not None:
        import os

        if os.path.isdir(args.png):
            raise FevergateError(
                f"--png {args.png} is a folder: give a file name like day.png", EXIT_USAGE
            )
        if not args.png.lower().endswith(".png"):
            raise FevergateError(
                f"--png {args.png}: the picture is a PNG, give a name ending .png", EXIT_USAGE
            )
    store = open_store(args.store, readonly=True)
    try:
        if zone is None:
            zone = sitezone.site_zone(None, store, args.device)
        tz = zone.tz
        if args.day:
            try:
                day = parse_day(args.day)
            except ValueError as exc:
                raise FevergateError(str(exc), EXIT_USAGE) from None
        else:
            latest = store.latest_wall_time()
            if latest is None:
                raise FevergateError(f"{args.store} has no records with a wall time", EXIT_DATA)
            day = sitezone.local_date(latest, tz)
        reports = day_report(store, day, args.device, tz)
    finally:
        store.close()
    tz_name = zone.name(day_bounds(day, tz)[0])
    if not reports:
        which = "" if args.device is None else f" of gate 0x{args.device:08X}"
        raise FevergateError(
            f"no records{which} on {day.isoformat()} ({tz_name}) in {store.name}", EXIT_DATA
        )
    if args.site_view:
        state.out.write(format_site(reports, tz_name, store.name))
    else:
        state.out.write(
            format_text(reports, store.name, tz_name, site=args.site, zone_source=zone)
        )
    if args.png:
        from host_tools.outfile import write_whole

        write_whole(args.png, lambda out: render_png(reports, out, site=args.site), binary=True)
        state.out.write(f"drawn into {args.png}\n")
    return 0
