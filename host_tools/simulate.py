"""`fevergate simulate`: the firmware on a simulated gate, with people, faults and a summary.

The firmware runs on the MicroPython unix port (default) or in-process under CPython against
the shim (host_tools/shim). Its UART is a pseudo-terminal (with --pty or --demo) that any host
tool opens like a serial port; --demo runs the monitor on it live. The UART stream is decoded
here (host_tools/decoder.py) and compared with the scenario's ground truth:

people_true / people_counted      walkers in the scenario / passage records received
people_countable / people_abreast walkers a two-beam channel can separate / walkers beside
                                  another (one shadow on the beams)
fevers_true / fevers_alarmed      inbound walkers whose core temperature is at or above the
                                  threshold in force / fever ALARM records received
false_alarms                      fever alarms while no inbound walker at or above the threshold
                                  was in the channel (the skin offset varies: some are expected)
remeasures                        passages with a REMEASURE_* verdict
screening                         every walker matched to their passage and scored against two
                                  truths, `instrument` (what the sensor saw, as the gate is
                                  configured to read it) and `body` (the core temperature), with
                                  the same per condition (host_tools/screening.py and
                                  docs/SCREENING.md)
records_sent / _received / _lost  frames the firmware sent / decoded intact / not received

The board always has a flash filesystem (a temporary one unless --flash DIR keeps it between
runs), so the gate journals its records, counts its boots and keeps its settings. With
--store FILE a simulated laptop (host_tools/shim/host.py) is plugged in at --connect-after
MINUTES (0: from the start; before that the UART goes nowhere): it syncs the gate's clock
from its own (--start, the wall time of the run's first instant), downloads the journal into
the SQLite store, fills the gaps and logs live records from then on, exactly as `fevergate
sync` does on a real port. --power-cuts N cuts the power N times at random instants (the seed
chooses them; MicroPython runtime) and --uart-noise RATE drops and corrupts that fraction of
the UART bytes. The summary then adds people_in_store, records_in_store, power_cuts,
journal_dropped (records the journal deleted before a download, from the gate's
FAULT_JOURNAL_LOSS records) and the sync's own counts.
"""

import datetime
import json
import random
import shutil
import tempfile
import threading
import time

from host_tools import screening
from host_tools.shim.faults import DEFAULTS, parse_faults
from host_tools.shim.runner import RUNTIMES, run_simulation
from host_tools.shim.scenario import AMBIENT_RANGES, IN, Scenario
from host_tools.shim.world import make_sensor

DEMO_REALTIME_FACTOR = 10.0
FEVER_THRESHOLD_CC = 3730  # the firmware's default fever_threshold_cc (firmware/config.py)
_MATCH_AFTER_EXIT_MS = 3000  # a fever alarm comes while the walker is inside or just after


WALKS = {"normal": None, "fast": (2.0, 3.0)}  # speed range (m/s); None: 1.4 +- 0.2
SENSOR_PARTS = {"baa": "BAA", "dci": "DCI"}
CROWD_RATE = (40.0, 60.0)  # people a minute in a queue
SUN_C = (40.0, 48.0)  # a sunlit floor or wall the sensor sees between walkers
COMPENSATION = {"on": None, "off": {"ambient_comp": 0}, "both": None}  # site settings


class SimulateError(Exception):
    """A bad option or a failed simulation, as a message for the user."""


def argparse_simulate(parser):
    parser.description = "Run the gate firmware against a simulated gate and summarise."
    parser.epilog = (
        "examples:\n  fevergate simulate --demo\n"
        "  fevergate simulate --minutes 60 --rate 5 --store gate.db --connect-after 50\n"
        "  fevergate simulate --pty   (a gate on a pseudo-terminal for monitor, sync, config)\n"
        "  fevergate simulate --ambient cold,normal,hot --compensation both --fever-fraction 0.25"
    )
    parser.add_argument("--minutes", type=float, default=3.0, help="simulated minutes (3)")
    parser.add_argument("--rate", type=float, default=20.0, help="people per minute (20)")
    parser.add_argument("--seed", type=int, default=2020, help="random seed (2020)")
    parser.add_argument(
        "--faults",
        default="",
        help="comma list of faults, each optionally =value: " + ",".join(sorted(DEFAULTS)),
    )
    parser.add_argument("--runtime", choices=RUNTIMES, default="micropython")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--capture", metavar="FILE", help="write the raw UART bytes to FILE")
    parser.add_argument(
        "--realtime-factor",
        type=float,
        default=None,
        help="simulated seconds per wall second; 0 = as fast as possible (the default; "
        f"{DEMO_REALTIME_FACTOR:g} with --demo)",
    )
    parser.add_argument(
        "--demo", action="store_true", help="show the records live with the monitor"
    )
    parser.add_argument(
        "--pty", action="store_true", help="serve the UART on a pseudo-terminal (path on stderr)"
    )
    parser.add_argument(
        "--separated",
        type=float,
        default=0.0,
        metavar="S",
        help="walkers alone in the channel, at least S seconds apart",
    )
    parser.add_argument(
        "--start-near-wrap", action="store_true", help="start the ticks 10 s before they wrap"
    )
    hard = parser.add_argument_group("hard cases (docs/SCREENING.md)")
    hard.add_argument(
        "--walk",
        choices=sorted(WALKS),
        default="normal",
        help="walking speed: normal 1.4 +- 0.2 m/s, fast 2.0 .. 3.0 m/s",
    )
    hard.add_argument(
        "--sensor",
        choices=sorted(SENSOR_PARTS),
        default="baa",
        help="the MLX90614 part: baa (0.10 s settle), dci (medical, 0.65 s settle)",
    )
    hard.add_argument(
        "--crowd",
        action="store_true",
        help=f"a queue: {CROWD_RATE[0]:g} .. {CROWD_RATE[1]:g} people a minute (drawn by seed)",
    )
    hard.add_argument(
        "--ambient",
        default="normal",
        metavar="LIST",
        help="entrance air: normal (20 .. 25 C), cold (5 .. 12 C), hot (30 .. 36 C), or a comma "
        "list run one after the other (e.g. cold,normal,hot)",
    )
    hard.add_argument(
        "--compensation",
        choices=("on", "off", "both"),
        default="on",
        help="the gate's ambient compensation (on: the firmware default); both runs the same "
        "walkers twice and adds screening_without_compensation to the summary",
    )
    hard.add_argument(
        "--fever-fraction",
        type=float,
        default=0.04,
        metavar="F",
        help="the fraction of walkers drawn with a fever (0.04); scores need more (e.g. 0.25)",
    )
    hard.add_argument(
        "--sun",
        action="store_true",
        help=f"a sunlit background of {SUN_C[0]:g} .. {SUN_C[1]:g} C, warmer than a forehead",
    )
    parser.add_argument(
        "--store", metavar="FILE", help="the laptop's SQLite store: it syncs the gate into it"
    )
    parser.add_argument(
        "--connect-after",
        type=float,
        default=None,
        metavar="MINUTES",
        help="the laptop is plugged in only then (needs --store; default 0 with --store)",
    )
    parser.add_argument(
        "--start",
        metavar="ISO",
        help="wall time of the run's start, e.g. 2026-02-13T07:30 (UTC; default: now); the "
        "laptop sets the gate's clock from it when it connects",
    )
    parser.add_argument(
        "--power-cuts",
        type=int,
        default=0,
        metavar="N",
        help="cut the power N times at random instants and boot again (micropython)",
    )
    parser.add_argument(
        "--uart-noise",
        type=float,
        default=0.0,
        metavar="RATE",
        help="drop and corrupt this fraction of the UART bytes each (e.g. 0.002)",
    )
    parser.add_argument(
        "--flash", metavar="DIR", help="keep the board's flash here (default: a temporary one)"
    )
    site = parser.add_argument_group(
        "a site (--gates N): each gate with its MQTT bridge, ingesters, one PostgreSQL"
    )
    site.add_argument("--gates", type=int, default=0, metavar="N", help="simulate N gates")
    site.add_argument(
        "--mqtt", metavar="URL", help="the site's broker (default: start a Mosquitto of our own)"
    )
    site.add_argument(
        "--db", metavar="URL", help="postgresql:// URL (default: start a PostgreSQL of our own)"
    )
    site.add_argument("--credentials", metavar="FILE", help="MQTT username:password file")
    site.add_argument("--ca-file", metavar="PEM", help="CA certificate(s) for mqtts://")
    site.add_argument("--site", default="site", help="the site's name in the topics (site)")
    site.add_argument("--ingesters", type=int, default=2, help="ingesters sharing the load (2)")
    site.add_argument(
        "--broker-restarts", type=int, default=0, metavar="K",
        help="stop and restart the broker K times while the gates run",
    )  # fmt: skip
    site.add_argument(
        "--restart-every", type=float, default=2.0, metavar="S",
        help="at least S wall seconds between broker restarts (2)",
    )  # fmt: skip
    site.add_argument(
        "--bridge-offline", type=float, default=0.0, metavar="SECONDS",
        help="gate 0's bridge loses its network this long (simulated time), a third in",
    )  # fmt: skip
    return parser


def parse_start(text):
    """Unix seconds of an ISO date and time (UTC unless it names a zone)."""
    try:
        when = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise SimulateError(f"--start {text!r}: not an ISO date and time") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.timezone.utc)
    return int(when.timestamp())


def power_cut_instants(seed, count, end_ms):
    """`count` cut instants between 10 % and 90 % of the run, chosen by the seed, sorted."""
    rng = random.Random(f"{seed}:power-cuts")
    return sorted(rng.randrange(end_ms // 10, end_ms * 9 // 10) for _ in range(count))


def _options(args):
    """(faults, start_unix, power cut instants) from the options; SimulateError if bad."""
    text = args.faults
    noise = getattr(args, "uart_noise", 0.0) or 0.0
    if noise < 0 or noise >= 0.5:
        raise SimulateError("--uart-noise is a fraction of the bytes, 0 .. 0.5")
    if noise:
        text = ",".join(t for t in (text, f"uart-drop={noise}", f"uart-corrupt={noise}") if t)
    try:
        faults = parse_faults(text)
    except ValueError as exc:
        raise SimulateError(str(exc)) from None
    if args.minutes <= 0 or args.rate < 0:
        raise SimulateError("--minutes must be > 0 and --rate >= 0")
    connect = getattr(args, "connect_after", None)
    if connect is not None and not getattr(args, "store", None):
        raise SimulateError("--connect-after needs --store FILE (where the laptop stores)")
    if connect is not None and not 0 <= connect < args.minutes:
        raise SimulateError("--connect-after must be within the run (0 .. --minutes)")
    cuts = getattr(args, "power_cuts", 0) or 0
    if cuts < 0:
        raise SimulateError("--power-cuts must be >= 0")
    if cuts and args.runtime != "micropython":
        raise SimulateError("--power-cuts needs the micropython runtime (a process to cut)")
    start = getattr(args, "start", None)
    start_unix = parse_start(start) if start else int(time.time())
    end_ms = int(args.minutes * 60_000)
    return faults, start_unix, power_cut_instants(args.seed, cuts, end_ms)


def do_simulate(state, args):
    if getattr(args, "gates", 0):
        return _do_site(state, args)
    try:
        faults, start_unix, cuts = _options(args)
    except SimulateError as exc:
        state.err.write(f"fevergate simulate: {exc}\n")
        return 2
    store = host = None
    if getattr(args, "store", None):
        from host_tools.shim.host import SimHost
        from host_tools.store import open_store

        try:
            store = open_store(args.store)
        except Exception as exc:  # noqa: BLE001  (FevergateError: one clean message)
            state.err.write(f"fevergate simulate: {getattr(exc, 'message', exc)}\n")
            return 6
        connect_ms = int((args.connect_after or 0) * 60_000)
        host = SimHost(store, connect_ms=connect_ms, start_unix=start_unix)
    flash = getattr(args, "flash", None)
    scratch = None
    if flash is None:
        scratch = flash = tempfile.mkdtemp(prefix="fevergate-flash-")
    factor = args.realtime_factor
    if factor is None:
        factor = DEMO_REALTIME_FACTOR if args.demo else 0.0
    try:
        scenario = build_scenario(args)
    except (ValueError, SimulateError) as exc:
        state.err.write(f"fevergate simulate: {exc}\n")
        return 2
    sensor = make_sensor(args.seed, scenario.ambient_at(0), SENSOR_PARTS[args.sensor])
    start_ticks = (1 << 30) - 10_000 if getattr(args, "start_near_wrap", False) else 0
    pty = None
    monitor_thread = None
    stop = threading.Event()
    if args.demo or getattr(args, "pty", False):
        from host_tools.shim.pty_port import PtyPort

        pty = PtyPort()
        state.err.write(f"fevergate simulate: UART on {pty.path}\n")
        state.err.flush()
    if args.demo:
        monitor_thread = _start_monitor(state, pty.path, stop)
    try:
        result = run_simulation(
            scenario,
            runtime=args.runtime,
            seed=args.seed,
            faults=faults,
            start_ticks=start_ticks,
            realtime_factor=factor,
            pty=pty,
            flash=flash,
            power_cuts=cuts,
            host=host,
            sensor=sensor,
            settings=COMPENSATION[args.compensation],
        )
        uncompensated = None
        if args.compensation == "both":
            uncompensated = _run_uncompensated(args, scenario, faults, start_ticks, cuts)
    except Exception as exc:  # noqa: BLE001  (one clean message, exit code 1)
        stop.set()
        state.err.write(f"fevergate simulate: the simulation failed: {exc}\n")
        return 1
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
        if monitor_thread is not None:
            time.sleep(0.5)  # let the monitor show the last records
            stop.set()
            monitor_thread.join(timeout=5)
        if pty is not None:
            pty.close()
    if args.capture:
        with open(args.capture, "wb") as f:
            f.write(result.uart_bytes)
    summary = summarize(result)
    if uncompensated is not None:
        summary["screening_without_compensation"] = summarize(uncompensated)["screening"]
    if host is not None:
        summary.update(store_summary(host, store, args.store))
        store.close()
    if args.json:
        state.out.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        state.out.write(format_summary(summary))
    return 0


def _run_uncompensated(args, scenario, faults, start_ticks, cuts):
    """The same walkers again, the gate's ambient compensation off (--compensation both)."""
    scratch = tempfile.mkdtemp(prefix="fevergate-flash-")
    try:
        return run_simulation(
            scenario,
            runtime=args.runtime,
            seed=args.seed,
            faults=faults,
            start_ticks=start_ticks,
            flash=scratch,
            power_cuts=cuts,
            sensor=make_sensor(args.seed, scenario.ambient_at(0), SENSOR_PARTS[args.sensor]),
            settings=COMPENSATION["off"],
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def build_scenario(args):
    """The scenario of the options: Poisson walkers, with the hard cases asked for."""
    ambients = [a.strip() for a in (getattr(args, "ambient", None) or "normal").split(",")]
    unknown = [a for a in ambients if a not in AMBIENT_RANGES]
    if unknown or not ambients:
        raise SimulateError(
            f"--ambient {args.ambient!r}: a comma list of {', '.join(AMBIENT_RANGES)}"
        )
    fevers = getattr(args, "fever_fraction", 0.04)
    if not 0.0 <= fevers <= 1.0:
        raise SimulateError("--fever-fraction is a fraction, 0 .. 1")
    rng = random.Random(f"{args.seed}:hard-cases")
    rate = args.rate
    labels = []
    walk = getattr(args, "walk", "normal")
    if walk != "normal":
        labels.append(walk)
    if getattr(args, "crowd", False):
        rate = max(rate, round(rng.uniform(*CROWD_RATE), 1))
        labels.append("crowd")
    background = None
    if getattr(args, "sun", False):
        background = round(rng.uniform(*SUN_C), 1)
        labels.append("sun")
    return Scenario.poisson(
        args.seed,
        args.minutes,
        rate,
        min_gap_s=getattr(args, "separated", 0.0),
        speed_mps=WALKS[walk],
        ambients=None if ambients == ["normal"] else ambients,
        background_c=background,
        label="+".join(labels),
        fever_fraction=fevers,
    )


def _do_site(state, args):
    """`--gates N`: host_tools/sitesim.py."""
    from host_tools.sitesim import run_site

    if args.runtime == "micropython" and args.gates > 1:
        args.runtime = "cpython"  # each gate its own device id: the in-process firmware
        state.err.write("fevergate simulate: several gates run the firmware under CPython\n")
    if args.gates < 1 or args.ingesters < 1:
        state.err.write("fevergate simulate: --gates and --ingesters must be at least 1\n")
        return 2
    import signal

    def stop(_signum, _frame):
        raise KeyboardInterrupt  # the broker and database we started are stopped on the way out

    signal.signal(signal.SIGTERM, stop)
    try:
        summary = run_site(args, log=lambda line: state.err.write(line + "\n"))
    except Exception as exc:  # noqa: BLE001  (one clean message, exit code 1)
        state.err.write(f"fevergate simulate: the site simulation failed: {exc}\n")
        return 1
    if args.json:
        state.out.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        for key in (
            "gates", "people_countable", "people_in_db", "records_sent", "records_in_db",
            "duplicates_in_db", "records_missing", "broker_restarts", "latency_p99_ms", "wall_s",
        ):  # fmt: skip
            state.out.write(f"{key:18} {summary[key]}\n")
    exact = summary["records_in_db"] == summary["records_sent"] and not summary["records_missing"]
    return 0 if exact and not summary["duplicates_in_db"] else 1


def _start_monitor(state, path, stop):
    def show():
        try:
            from host_tools.monitor import monitor

            monitor(path, mode="rich", out=state.out, stop=stop)
        except Exception as exc:  # noqa: BLE001  (the demo goes on without the monitor)
            state.err.write(f"fevergate simulate: monitor stopped: {exc}\n")

    thread = threading.Thread(target=show, name="fevergate-monitor", daemon=True)
    thread.start()
    return thread


# decoding and tallying ------------------------------------------------------------------
def _protocol():
    from host_tools.wire import protocol

    return protocol


def _codes(prefix):
    protocol = _protocol()
    return {
        getattr(protocol, name): name[len(prefix) :].lower()
        for name in dir(protocol)
        if name.startswith(prefix)
        and not name.endswith(("_SIZE", "_FORMAT", "_FIELDS"))
        and isinstance(getattr(protocol, name), int)
    }


def decode(data):
    """All decoder events for a byte stream, fed in one go."""
    from host_tools.decoder import StreamDecoder

    return list(StreamDecoder().feed(bytes(data)))


def _status(event):
    return event.status.name


def _is_ok(event):
    return event.status.name == "OK"


def store_summary(host, store, path):
    """What the laptop's store holds after the run, and how its sync went."""
    result = host.session.result if host.session is not None else None
    dropped = sum(
        row["fields"]["detail"]
        for row in store.query(type_="fault")
        if row["fields"]["code"] == _protocol().FAULT_JOURNAL_LOSS
    )
    return {
        "store": path,
        "connected_at_s": None if host.connected_at is None else host.connected_at / 1000,
        "people_in_store": store.count("passage"),
        "records_in_store": store.count(),
        "journal_dropped": dropped,
        "sync": None
        if result is None
        else {
            "downloaded": result.downloaded,
            "passes": result.passes,
            "resends": result.resends,
            "missing": result.missing,
            "error": result.error,
        },
    }


def _world_times(records, boot_starts):
    """World ms of each record: its boot's start plus its uptime."""
    times = []
    boot = -1
    for record in records:
        if record.type == "boot":
            boot += 1
        start = boot_starts[min(max(boot, 0), len(boot_starts) - 1)]
        times.append(start + record.t_cs * 10)
    return times


def summarize(result):
    """The summary dict of one simulation (see the module docstring for the counts)."""
    protocol = _protocol()
    verdicts = _codes("VERDICT_")
    fault_names = _codes("FAULT_")
    world = result.world
    scenario = result.scenario
    events = decode(result.uart_bytes)
    sent_events = decode(bytes(world.uart.tx))
    records = [e.record for e in events if _is_ok(e)]
    lost_in_gaps = sum(e.lost for e in events if _status(e) == "GAP")
    passages = [r for r in records if r.type == "passage"]
    fever = getattr(protocol, "VERDICT_FEVER", None)
    dir_out = getattr(protocol, "DIR_OUT", None)
    alarm_fever = getattr(protocol, "ALARM_FEVER", None)
    world_times = _world_times(records, result.boot_starts)
    times = dict(zip(map(id, records), world_times, strict=True))
    settings = result.settings or screening.effective_settings()
    threshold_cc = settings["fever_threshold_cc"]
    alarms = [r for r in records if r.type == "alarm" and r.fields.get("kind") == alarm_fever]
    remeasure_codes = {code for code, name in verdicts.items() if name.startswith("remeasure")}
    false_alarms = sum(
        1 for r in alarms if not _matches_fever(times[id(r)], scenario, threshold_cc)
    )
    fault_records = {}
    for r in records:
        if r.type == "fault" and r.fields.get("active", 1):
            name = fault_names.get(r.fields.get("code"), str(r.fields.get("code")))
            fault_records[name] = fault_records.get(name, 0) + 1
    boot = next((r for r in records if r.type == "boot"), None)
    records_sent = sum(1 for e in sent_events if _is_ok(e))
    # the firmware's own count, from its sequence numbers (fewer than 65536 records a boot)
    by_seq = _sent_by_seq(records)
    received = len(records)
    summary = {
        "runtime": result.runtime,
        "interpreter": result.interpreter,
        "device_id": None if boot is None else boot.fields.get("device_id"),
        "simulated_s": round(result.simulated_s, 3),
        "wall_s": round(result.wall_s, 3),
        "speedup": round(result.simulated_s / result.wall_s, 1) if result.wall_s else None,
        "people_true": len(scenario.people),
        "people_in_true": len(scenario.people_in()),
        "people_counted": len(passages),
        "people_in_counted": sum(1 for r in passages if r.fields.get("direction") != dir_out),
        "fevers_true": len(scenario.fevers(threshold_cc / 100)),
        "fevers_alarmed": len(alarms),
        "fever_passages": sum(1 for r in passages if r.fields.get("verdict") == fever),
        "false_alarms": false_alarms,
        "remeasures": sum(1 for r in passages if r.fields.get("verdict") in remeasure_codes),
        "pump_on_s": round(world.pump.on_ms() / 1000.0, 3),
        "pump_longest_run_s": round(world.pump.longest_on_ms() / 1000.0, 3),
        "buzzer_on_s": round(world.buzzer.on_ms() / 1000.0, 3),
        "records_sent": records_sent,
        "records_received": received,
        "records_sent_by_seq": by_seq,
        "records_lost": max(0, records_sent - received),
        "records_lost_in_gaps": lost_in_gaps,
        "bad_frames": sum(
            1 for e in events if _status(e) not in ("OK", "GAP", "NEW_BOOT", "REPLAY")
        ),
        "records_replayed": sum(1 for e in events if _status(e) == "REPLAY"),
        "reboots_seen": sum(1 for e in events if _status(e) == "NEW_BOOT"),
        "fault_records": fault_records,
        "faults": result.world.faults.as_dict(),
        "i2c_errors": world.i2c.errors,
        "i2c_recoveries": world.i2c.recoveries,
        "uart_bytes": len(world.uart.wire),
        "uart_bytes_dropped": world.uart.bytes_dropped,
        "uart_bytes_corrupted": world.uart.bytes_corrupted,
        "watchdog_longest_gap_ms": result.watchdog_longest_gap_ms,
        "power_cuts": len(result.bridge.power_cuts) if result.bridge is not None else 0,
        "watchdog_resets": len(result.bridge.watchdog_resets) if result.bridge is not None else 0,
        "boots": len(result.boot_starts),
    }
    summary.update(screening.people_counts(scenario.people))
    found = screening.passages_from_records(records, world_times, verdicts, dir_out)
    summary["screening"] = screening.score(scenario.people, found, settings)
    return summary


def _sent_by_seq(records):
    """Records the firmware numbered, by boot: last seq - first seq + 1, summed."""
    total = 0
    first = last = None
    for record in records:
        if record.type == "boot" and first is not None:
            total += (last - first) % 65536 + 1
            first = None
        if first is None:
            first = record.seq
        last = record.seq
    if first is not None:
        total += (last - first) % 65536 + 1
    return total


def _matches_fever(t, scenario, threshold_cc=None):
    """Whether a fever alarm at world time `t` (ms) is explained by an inbound walker at or
    above the fever threshold who was inside the channel then (or had just left)."""
    if threshold_cc is None:
        threshold_cc = FEVER_THRESHOLD_CC
    for person in scenario.people:
        if person.direction == IN and round(person.core_c * 100) >= threshold_cc:
            if person.arrival_ms <= t <= person.exit_ms + _MATCH_AFTER_EXIT_MS:
                return True
    return False


def _pct(value):
    return "n/a" if value is None else f"{100 * value:.1f} %"


def format_screening(screen):
    """Two lines: the instrument's own errors, and the body truth's sensitivity/specificity;
    then one line a condition when several were mixed."""
    inst, body = screen["instrument"], screen["body"]
    comp = "on" if screen.get("ambient_comp") else "off"
    per = []
    conditions = screen.get("conditions", {})
    if len(conditions) > 1:
        for name, scores in conditions.items():
            b, i = scores["body"], scores["instrument"]
            per.append(
                f"         {name}: sensitivity {_pct(b['sensitivity'])}, specificity "
                f"{_pct(b['specificity'])}; {i['wrong_outside_band']} wrong outside the band, "
                f"{_pct(i['remeasure_rate'])} re-measures"
            )
    return [
        f"screen   instrument: {inst['wrong_outside_band']} wrong outside the +-"
        f"{screen['band_c']:.1f} C band, {inst['wrong_in_band']} inside, "
        f"{inst['remeasures']} re-measures ({_pct(inst['remeasure_rate'])})",
        f"         body (core >= {screen['threshold_c']:.2f} C): sensitivity "
        f"{_pct(body['sensitivity'])}, specificity {_pct(body['specificity'])} "
        f"(ambient compensation {comp})",
        *per,
    ]


def format_summary(s):
    lines = [
        f"simulated {s['simulated_s']:.0f} s on {s['runtime']} ({s['interpreter']}) "
        f"in {s['wall_s']:.1f} s wall, {s['speedup']}x",
        f"people   {s['people_true']} walked, {s['people_counted']} counted",
        f"fevers   {s['fevers_true']} walked in, {s['fevers_alarmed']} alarmed, "
        f"{s['false_alarms']} false alarms, {s['remeasures']} re-measures",
        *format_screening(s["screening"]),
        *(
            format_screening(s["screening_without_compensation"])[1:]
            if "screening_without_compensation" in s
            else []
        ),
        f"pump     {s['pump_on_s']:.1f} s on (longest run {s['pump_longest_run_s']:.1f} s)",
        f"records  {s['records_sent']} sent, {s['records_received']} received, "
        f"{s['records_lost']} lost",
    ]
    if s.get("power_cuts") or s.get("watchdog_resets"):
        lines.append(
            f"boots    {s['boots']} ({s['power_cuts']} power cuts, "
            f"{s['watchdog_resets']} watchdog resets)"
        )
    if "store" in s:
        when = s["connected_at_s"]
        sync = s["sync"] or {}
        lines.append(
            f"laptop   plugged in at {when:.0f} s; store {s['store']}: "
            f"{s['people_in_store']} passages, {s['records_in_store']} records"
            if when is not None
            else f"laptop   never plugged in; store {s['store']}"
        )
        if sync:
            lines.append(
                f"sync     {sync['downloaded']} downloaded in {sync['passes']} passes, "
                f"{sync['missing']} missing, journal dropped {s['journal_dropped']}"
                + (f"; {sync['error']}" if sync["error"] else "")
            )
    if s["faults"]:
        seen = ", ".join(f"{k} x{v}" for k, v in sorted(s["fault_records"].items()))
        lines.append(
            f"faults   injected {', '.join(sorted(s['faults']))}; fault records {seen or 'none'}"
        )
    return "\n".join(lines) + "\n"
