"""`fevergate simulate`: the firmware on a simulated gate, with people, faults and a summary.

The firmware runs on the MicroPython unix port (default) or in-process under CPython against
the shim (host_tools/shim). Its UART is a pseudo-terminal (with --pty or --demo) that any host
tool opens like a serial port; --demo runs the monitor on it live. The UART stream is decoded
here (host_tools/decoder.py) and compared with the scenario's ground truth:

people_true / people_counted      walkers in the scenario / passage records received
fevers_true / fevers_alarmed      inbound walkers with a fever / fever ALARM records received
false_alarms                      fever alarms while no inbound walker at or above the threshold
                                  was in the channel (the skin offset varies: some are expected)
remeasures                        passages with a REMEASURE_* verdict
records_sent / _received / _lost  frames the firmware sent / decoded intact / not received
"""

import json
import threading
import time

from host_tools.shim.faults import DEFAULTS, parse_faults
from host_tools.shim.runner import RUNTIMES, run_simulation
from host_tools.shim.scenario import IN, Scenario

DEMO_REALTIME_FACTOR = 10.0
FEVER_THRESHOLD_CC = 3730  # the firmware's default fever_threshold_cc (firmware/config.py)
_MATCH_AFTER_EXIT_MS = 3000  # a fever alarm comes while the walker is inside or just after


class SimulateError(Exception):
    """A bad option or a failed simulation, as a message for the user."""


def argparse_simulate(parser):
    parser.description = "Run the gate firmware against a simulated gate and summarise."
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
    return parser


def do_simulate(state, args):
    try:
        faults = parse_faults(args.faults)
    except ValueError as exc:
        state.err.write(f"fevergate simulate: {exc}\n")
        return 2
    if args.minutes <= 0 or args.rate < 0:
        state.err.write("fevergate simulate: --minutes must be > 0 and --rate >= 0\n")
        return 2
    factor = args.realtime_factor
    if factor is None:
        factor = DEMO_REALTIME_FACTOR if args.demo else 0.0
    scenario = Scenario.poisson(
        args.seed, args.minutes, args.rate, min_gap_s=getattr(args, "separated", 0.0)
    )
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
        )
    except Exception as exc:  # noqa: BLE001  (one clean message, exit code 1)
        stop.set()
        state.err.write(f"fevergate simulate: the simulation failed: {exc}\n")
        return 1
    finally:
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
    if args.json:
        state.out.write(json.dumps(summary, sort_keys=True) + "\n")
    else:
        state.out.write(format_summary(summary))
    return 0


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


def _record_time_ms(record):
    """Simulated ms of a record: the firmware boots at 0 and stamps uptime centiseconds."""
    return record.t_cs * 10


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
    alarms = [r for r in records if r.type == "alarm" and r.fields.get("kind") == alarm_fever]
    remeasure_codes = {code for code, name in verdicts.items() if name.startswith("remeasure")}
    false_alarms = sum(1 for r in alarms if not _matches_fever(r, scenario))
    fault_records = {}
    for r in records:
        if r.type == "fault" and r.fields.get("active", 1):
            name = fault_names.get(r.fields.get("code"), str(r.fields.get("code")))
            fault_records[name] = fault_records.get(name, 0) + 1
    boot = next((r for r in records if r.type == "boot"), None)
    records_sent = sum(1 for e in sent_events if _is_ok(e))
    # the firmware's own count, from its sequence numbers (one boot, fewer than 65536 records)
    by_seq = (records[-1].seq - records[0].seq) % 65536 + 1 if records else 0
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
        "fevers_true": len(scenario.fevers()),
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
        "bad_frames": sum(1 for e in events if _status(e) not in ("OK", "GAP", "NEW_BOOT")),
        "reboots_seen": sum(1 for e in events if _status(e) == "NEW_BOOT"),
        "fault_records": fault_records,
        "faults": result.world.faults.as_dict(),
        "i2c_errors": world.i2c.errors,
        "i2c_recoveries": world.i2c.recoveries,
        "uart_bytes": len(world.uart.wire),
        "uart_bytes_dropped": world.uart.bytes_dropped,
        "uart_bytes_corrupted": world.uart.bytes_corrupted,
        "watchdog_longest_gap_ms": result.watchdog_longest_gap_ms,
    }
    return summary


def _matches_fever(record, scenario):
    """Whether a fever alarm is explained by an inbound walker at or above the fever threshold
    who was inside the channel when it sounded (or had just left)."""
    t = _record_time_ms(record)
    for person in scenario.people:
        if person.direction == IN and person.body_c * 100 >= FEVER_THRESHOLD_CC:
            if person.arrival_ms <= t <= person.exit_ms + _MATCH_AFTER_EXIT_MS:
                return True
    return False


def format_summary(s):
    lines = [
        f"simulated {s['simulated_s']:.0f} s on {s['runtime']} ({s['interpreter']}) "
        f"in {s['wall_s']:.1f} s wall, {s['speedup']}x",
        f"people   {s['people_true']} walked, {s['people_counted']} counted",
        f"fevers   {s['fevers_true']} walked in, {s['fevers_alarmed']} alarmed, "
        f"{s['false_alarms']} false alarms, {s['remeasures']} re-measures",
        f"pump     {s['pump_on_s']:.1f} s on (longest run {s['pump_longest_run_s']:.1f} s)",
        f"records  {s['records_sent']} sent, {s['records_received']} received, "
        f"{s['records_lost']} lost",
    ]
    if s["faults"]:
        seen = ", ".join(f"{k} x{v}" for k, v in sorted(s["fault_records"].items()))
        lines.append(
            f"faults   injected {', '.join(sorted(s['faults']))}; fault records {seen or 'none'}"
        )
    return "\n".join(lines) + "\n"
