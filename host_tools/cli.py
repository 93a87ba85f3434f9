"""The technician's command line, `fevergate` (also `python -m host_tools`), in mpremote's shape.

COMMANDS maps a name to (do_x(state, args) -> int, argparse_x(parser)). Only the chosen
command's parser is built, so the commands that live in other modules (simulate, and the field
service commands of host_tools/service.py) are imported only when used; if such a module is
missing the command says so. Every expected failure is a FevergateError (host_tools/errors.py):
one line on stderr, its exit code, no traceback. docs/CLI.md is the manual.
"""

from __future__ import annotations

import argparse
import importlib
import inspect
import json
import os
import sys
import textwrap

from host_tools.errors import (
    EXIT_DATA,
    EXIT_FILE,
    EXIT_GARBAGE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    FevergateError,
)
from host_tools.sitezone import add_tz_option, parse_zone, site_zone

__all__ = ["main", "COMMANDS", "State"]

EPILOG = """\
exit codes:
  0    ok
  1    bad frames or data problems found (where a command says so)
  2    usage error, or a command whose module is not installed
  3    port missing, unopenable (permission) or gone
  4    port in use by another program
  5    garbage stream: no valid frames (wrong baud rate? not a fevergate port?)
  6    file unreadable (capture, database) or output not writable
  7    the gate refused a service command (the reason is printed)
  8    the gate accepted it but a check or the hardware failed (self-test, sensor, storage)
  9    the gate did not answer within the timeout
  10   the gate received a damaged command frame twice
  130  interrupted (Ctrl-C)

examples:
  fevergate monitor /dev/ttyUSB0
  fevergate monitor /dev/ttyUSB0 --jsonl --duration 60 > gate.jsonl
  fevergate log /dev/ttyUSB0 --db gate.sqlite
  fevergate decode capture.bin
  fevergate export --db gate.sqlite --csv --type passage --since 2024-05-01 -o may.csv
  fevergate simulate --demo
"""


class State:
    """What handlers get besides their arguments: the text streams to write to."""

    def __init__(self, out=None, err=None) -> None:
        self.out = out if out is not None else sys.stdout
        self.err = err if err is not None else sys.stderr

    def print(self, line: str = "") -> None:
        self.out.write(line + "\n")


def _describe(parser: argparse.ArgumentParser, text: str, examples: list[str]) -> None:
    """A wrapped description and an examples epilog (the parser keeps raw formatting)."""
    parser.description = textwrap.fill(text, 79)
    parser.epilog = "examples:\n" + "\n".join("  " + line for line in examples)


def _add_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "port",
        metavar="PORT",
        help="serial port (/dev/ttyUSB0, COM3, a pty path), pyserial URL (socket://host:port), "
        "or auto (the one gate plugged in)",
    )
    parser.add_argument("--baud", type=baud_rate, default=115200, help="baud rate (115200)")


STANDARD_BAUDS = (1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200, 230400, 460800, 921600)


def baud_rate(text: str) -> int:
    """A standard baud rate (a typo such as 11520 is refused, not tried)."""
    rates = ", ".join(str(b) for b in STANDARD_BAUDS)
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a baud rate ({rates})") from None
    if value not in STANDARD_BAUDS:
        raise argparse.ArgumentTypeError(
            f"{value} is not a standard rate ({rates}; the gate uses 115200)"
        )
    return value


def _duration(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0 seconds")
    return value


def device_id(text: str) -> int:
    """A device id as people type it: 42, 0x2a or 0x0000002A."""
    try:
        return int(text, 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a device id (a number: 42 or 0x0000002a)"
        ) from None


# -- monitor --


def argparse_monitor(parser: argparse.ArgumentParser) -> None:
    _describe(
        parser,
        "Show a gate's records live: passages with time, temperature and verdict, fever alarms "
        "(red), faults (yellow), and running totals (people in today, fevers, re-measures, "
        "records lost, bad frames, link health: seconds since the last good frame, bad-frame "
        "rate). Stop with Ctrl-C.",
        [
            "fevergate monitor /dev/ttyUSB0",
            "fevergate monitor /dev/ttyUSB0 --raw",
            "fevergate monitor socket://gate.local:7000 --jsonl --duration 60 --db gate.sqlite",
        ],
    )
    _add_port(parser)
    view = parser.add_mutually_exclusive_group()
    view.add_argument("--raw", action="store_true", help="print every frame in hex")
    view.add_argument("--jsonl", action="store_true", help="print one JSON object per event")
    parser.add_argument("--duration", type=_duration, metavar="S", help="stop after S seconds")
    parser.add_argument("--db", metavar="FILE", help="also store every record in this SQLite file")
    add_tz_option(parser)


def do_monitor(state: State, args) -> int:
    from host_tools.monitor import monitor

    mode = "raw" if args.raw else "jsonl" if args.jsonl else "rich"
    totals = monitor(
        args.port,
        baud=args.baud,
        mode=mode,
        out=state.out,
        duration_s=args.duration,
        db=args.db,
        tz=parse_zone(args.tz),
    )
    return EXIT_INTERRUPTED if totals["interrupted"] else EXIT_OK


# -- log --


def argparse_log(parser: argparse.ArgumentParser) -> None:
    _describe(
        parser,
        "Store everything a gate sends in an SQLite file, quietly (table `records`, see "
        "docs/CLI.md). Records already stored are not stored again.",
        ["fevergate log /dev/ttyUSB0 --db gate.sqlite --duration 3600"],
    )
    _add_port(parser)
    parser.add_argument("--db", metavar="FILE", required=True, help="SQLite file (created)")
    parser.add_argument("--duration", type=_duration, metavar="S", help="stop after S seconds")


def plural(n: int, word: str) -> str:
    """`1 bad frame`, `2 bad frames`."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def do_log(state: State, args) -> int:
    from host_tools.monitor import monitor

    until = f"for {args.duration:g} s" if args.duration else "until Ctrl-C"
    state.print(f"logging {args.port} into {args.db} {until}: every record, nothing twice")
    state.out.flush()
    try:
        totals = monitor(
            args.port, baud=args.baud, mode="quiet", duration_s=args.duration, db=args.db
        )
    except FevergateError as exc:  # the port went away, a full disk: say what got in first
        got = getattr(exc, "totals", None)
        if got is not None:
            exc.message += f"; {plural(got['stored'], 'record')} stored in {args.db}"
        raise
    state.print(
        f"{plural(totals['stored'], 'record')} stored in {args.db}; "
        f"{plural(totals['good_frames'], 'good frame')}, "
        f"{plural(totals['bad_frames'], 'bad frame')}, "
        f"{plural(totals['records_lost'], 'record')} lost"
    )
    if totals["unidentified"]:
        state.print(
            f"{plural(totals['unidentified'], 'record')} not stored: the gate never said which "
            "device it is (they stay in its journal: run sync)"
        )
    return EXIT_INTERRUPTED if totals["interrupted"] else EXIT_OK


# -- decode --


def argparse_decode(parser: argparse.ArgumentParser) -> None:
    _describe(
        parser,
        "Decode a capture of raw UART bytes. Prints the records (or JSON lines, damaged "
        "frames included with their status) and a count line 'N good frames, M bad frames, "
        "K records lost'. Exit 1 if any frame was bad, 0 otherwise.",
        ["fevergate decode capture.bin", "fevergate decode - --jsonl < capture.bin"],
    )
    parser.add_argument("file", metavar="FILE", help="capture file, or - for standard input")
    parser.add_argument(
        "--jsonl", action="store_true", help="one JSON object per event (count line on stderr)"
    )


_CHUNK = 1 << 20


def _chunks(name: str):
    try:
        if name == "-":
            stream = sys.stdin.buffer
            while chunk := stream.read(_CHUNK):
                yield chunk
            return
        with open(name, "rb") as f:
            while chunk := f.read(_CHUNK):
                yield chunk
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise FevergateError(f"{name}: cannot read ({reason})", EXIT_FILE) from None


def do_decode(state: State, args) -> int:
    from host_tools.decoder import StreamDecoder
    from host_tools.monitor import describe_event, event_to_dict
    from host_tools.store import Tracker

    decoder = StreamDecoder()
    tracker = Tracker()
    out = state.out

    def show(events):
        for event in events:
            tracker.update(event)
            wall = tracker.wall_time(event.record) if event.record is not None else None
            if args.jsonl:
                out.write(json.dumps(event_to_dict(event, wall)) + "\n")
            else:
                out.write(describe_event(event, wall)[0] + "\n")

    size = 0
    for chunk in _chunks(args.file):
        size += len(chunk)
        show(decoder.feed(chunk))
    show(decoder.flush())
    name = "standard input" if args.file == "-" else args.file
    if size == 0:
        raise FevergateError(f"{name} is empty: nothing to decode", EXIT_DATA)
    counts = decoder.counts
    good = counts["OK"]
    bad = sum(counts[s] for s in _BAD_NAMES)
    if good == 0:
        raise FevergateError(
            f"{name} is not a raw capture of a gate's UART: {plural(size, 'byte')} without a "
            f"single valid frame ({plural(bad, 'bad frame')}; a capture is the bytes as they "
            "came from the port, e.g. from a serial logger)",
            EXIT_GARBAGE,
        )
    line = (
        f"{plural(good, 'good frame')}, {plural(bad, 'bad frame')}, "
        f"{plural(counts['lost'], 'record')} lost"
    )
    (state.err if args.jsonl else out).write(line + "\n")
    return EXIT_DATA if bad else EXIT_OK


_BAD_NAMES = ("CRC_MISMATCH", "FRAMING_ERROR", "UNKNOWN_TYPE", "UNSUPPORTED_VERSION")


# -- export --


def argparse_export(parser: argparse.ArgumentParser) -> None:
    _describe(
        parser,
        "Write stored records as CSV or JSON lines. Dates are in the site's time zone (--tz; "
        "default the gate's own from its last time sync, else this computer's: 2024-05-01, "
        "2024-05-01T08:30) or Unix seconds; --since is inclusive, --until exclusive; records "
        "without a known wall time are left out when a date is given.",
        [
            "fevergate export --db gate.sqlite --csv -o all.csv",
            "fevergate export --db gate.sqlite --jsonl --type passage --since 2024-05-01 "
            "--until 2024-05-02",
        ],
    )
    parser.add_argument("--db", metavar="FILE", required=True, help="SQLite file from `log`")
    fmt = parser.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_true", help="comma-separated values with a header")
    fmt.add_argument("--jsonl", action="store_true", help="one JSON object per record")
    parser.add_argument("--device", type=device_id, metavar="ID", help="device id (42 or 0x2a)")
    parser.add_argument("--since", metavar="DATE", help="from this time (inclusive)")
    parser.add_argument("--until", metavar="DATE", help="up to this time (exclusive)")
    parser.add_argument(
        "--type", metavar="TYPE", help="one record type: passage, alarm, fault, boot, status..."
    )
    parser.add_argument("-o", "--output", metavar="OUT", help="write here instead of stdout")
    add_tz_option(parser)


def do_export(state: State, args) -> int:
    from host_tools.export import check_filters, export, parse_date
    from host_tools.outfile import refuse_inputs, write_whole
    from host_tools.store import open_store

    tz = parse_zone(args.tz)  # a typo in --tz: one line before anything is opened
    for date in (args.since, args.until):
        if date:
            parse_date(date, tz)  # a bad date: one line before anything is opened
    fmt = "csv" if args.csv else "jsonl"
    if args.output is not None:
        refuse_inputs(args.output, [args.db])  # before anything opens either
    with open_store(args.db, readonly=True) as store:
        if args.tz is None:  # the gate's own zone (its last time sync), else this computer's
            tz = site_zone(None, store, args.device).tz
        since = parse_date(args.since, tz) if args.since else None
        until = parse_date(args.until, tz) if args.until else None
        check_filters(store, args.device, args.type)

        def fill(out) -> int:
            return export(store, out, fmt, args.device, since, until, args.type, tz)

        if args.output is None:
            fill(state.out)
            return EXIT_OK
        n = write_whole(args.output, fill, inputs=[args.db])
    state.err.write(f"{plural(n, 'record')} written to {args.output}\n")
    return EXIT_OK


# -- commands that live in other modules, loaded when chosen --


class _Missing(Exception):
    pass


def _load(module: str, name: str):
    try:
        mod = importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.startswith(exc.name):
            raise _Missing(module) from None
        raise
    return getattr(mod, name)


def _lazy(module: str, command: str):
    """(do, argparse) for a command defined in `module` as do_<command>, argparse_<command>.

    Also accepts the standalone style of host_tools/service.py: argparse_x() -> a parser."""
    attr = command.replace("-", "_")

    def argparse_lazy(parser):
        try:
            build = _load(module, "argparse_" + attr)
        except _Missing:
            parser.description = f"(not available: {module} is not installed)"
            parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
            return
        if inspect.signature(build).parameters:
            build(parser)
            return
        source = build()
        parser.description = source.description
        parser.epilog = source.epilog
        for action in source._actions:  # argparse's `parents=` mechanism, after the fact
            if not isinstance(action, argparse._HelpAction):
                parser._add_action(action)
        for group in source._mutually_exclusive_groups:
            copy = parser.add_mutually_exclusive_group(required=group.required)
            copy._group_actions[:] = group._group_actions

    def do_lazy(state, args):
        try:
            do = _load(module, "do_" + attr)
        except _Missing:
            raise FevergateError(
                f"the {command} command is not available: {module} is not installed",
                EXIT_USAGE,
            ) from None
        return do(state, args)

    return do_lazy, argparse_lazy


COMMANDS = {
    "monitor": (do_monitor, argparse_monitor),
    "log": (do_log, argparse_log),
    "decode": (do_decode, argparse_decode),
    "export": (do_export, argparse_export),
    "ports": _lazy("host_tools.ports", "ports"),
    "sync": _lazy("host_tools.sync", "sync"),
    "bridge": _lazy("host_tools.bridge", "bridge"),
    "ingest": _lazy("host_tools.ingest", "ingest"),
    "report": _lazy("host_tools.report", "report"),
    "simulate": _lazy("host_tools.simulate", "simulate"),
    "config": _lazy("host_tools.service", "config"),
    "time-sync": _lazy("host_tools.service", "time_sync"),
    "calibrate": _lazy("host_tools.service", "calibrate"),
    "service": _lazy("host_tools.service", "service"),
}

HELP = {
    "monitor": "show a gate's records live, with running totals",
    "log": "store everything a gate sends in SQLite",
    "decode": "decode a capture file of raw UART bytes",
    "export": "write stored records as CSV or JSON lines",
    "ports": "the serial ports, the gate's marked (PORT may be `auto`)",
    "sync": "download the gate's flash journal into the store (service PIN)",
    "bridge": "beside a gate: sync it and publish its records to the site's MQTT broker",
    "ingest": "the site's records from the MQTT broker into PostgreSQL, each once",
    "report": "the day at the gate from the store: people per hour, fevers, temperatures",
    "simulate": "run the firmware against a simulated gate",
    "config": "read or change the gate's settings (service PIN)",
    "time-sync": "set the gate's clock from this computer (service PIN)",
    "calibrate": "calibrate against a reference temperature (service PIN)",
    "service": "maintenance: status, pump prime, buzzer test, self-test, counters, sensor "
    "emissivity and filter",
}


def version_line() -> str:
    """`fevergate 0.1.0 (record protocol version 1)`."""
    from importlib.metadata import PackageNotFoundError, version

    from host_tools.wire import protocol

    try:
        mine = version("fevergate")
    except PackageNotFoundError:
        mine = "(not installed)"
    return f"fevergate {mine} (record protocol version {protocol.VERSION})"


def _parser(chosen: str | None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate",
        description="Field tools for the fevergate walk-through screening gate.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=version_line())
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    subparsers.required = True
    for name, (_do, build) in COMMANDS.items():
        sub = subparsers.add_parser(
            name,
            help=HELP.get(name),
            prog=f"fevergate {name}",
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        if name == chosen:
            build(sub)
    return parser


def main(argv: list[str] | None = None, state: State | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    if argv is None:
        argv = sys.argv[1:]
    state = state or State()
    chosen = next((a for a in argv if not a.startswith("-")), None)
    try:
        try:
            args = _parser(chosen if chosen in COMMANDS else None).parse_args(argv)
        except SystemExit as exc:  # --help (0) or a usage error (2), already printed
            return exc.code if isinstance(exc.code, int) else EXIT_USAGE
        do = COMMANDS[args.command][0]
        code = do(state, args)
        return EXIT_OK if code is None else code
    except FevergateError as exc:
        state.err.write(f"fevergate {chosen}: {exc.message}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        state.err.write("fevergate: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `fevergate decode x | head`: the reader left, not an error
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    finally:
        try:
            state.out.flush()
        except (BrokenPipeError, ValueError):
            pass
