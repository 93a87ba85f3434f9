"""CLI handlers for field service: configure, sync the clock, calibrate, maintenance.

Entries for the `fevergate` command table (host_tools/cli.py merges `COMMANDS`), each a pair
(do_x(state, args), argparse_x()) in mpremote's shape:

    fevergate config PORT [--get KEY | --all] [--set KEY=VALUE ...] [--pin PIN]
    fevergate time-sync PORT [--pin PIN]
    fevergate calibrate PORT --reference 37.0 [--pin PIN]
    fevergate service PORT {status | prime --seconds N | buzzer-test | self-test |
                            reset-counters | emissivity --value 0.98 |
                            filter [--iir A] [--fir N]} [--pin PIN]

`config --all` also reads the sensor's emissivity and filter (they live in its EEPROM, not in
the settings). The PIN comes from --pin or the environment variable FEVERGATE_PIN (status,
self-test and reading settings need none). A refusal or failure
raises FevergateError with the device's reason and an exit code (host_tools/device.py
EXIT_*; docs/CLI.md lists them). `connect(port, pin)` opens the link (tests replace it).
"""

from __future__ import annotations

import argparse
import datetime
import os
import time

from host_tools.device import (
    EXIT_NO_PORT,
    EXIT_REFUSED,
    EXIT_USAGE,
    KEY_NAMES,
    SETTINGS,
    DeviceLink,
    FevergateError,
    duration_text,
    key_id,
)
from host_tools.wire import protocol

__all__ = ["COMMANDS", "connect", "parse_pin"]

PIN_ENV = "FEVERGATE_PIN"
_SECRET_KEYS = {protocol.KEY_PIN}
_SENSOR_KEYS = (protocol.KEY_EMISSIVITY, protocol.KEY_SENSOR_FILTER)
_CELSIUS_NAMES = {row[1] for row in SETTINGS if row[5] == "cC"}

# MLX90614 config 0x25 filter bits. IIR bits 2..0 by the datasheet's a1 (the new sample's
# weight: "off" passes it whole, 0.125 filters hardest); FIR bits 10..8 give N = 8 << bits,
# of which the device accepts 128..1024 (protocol.FILTER_FIR_MIN).
IIR_CODES = {"off": 4, "0.8": 5, "0.67": 6, "0.57": 7, "0.5": 0, "0.25": 1, "0.17": 2, "0.125": 3}
FIR_CODES = {128: 4, 256: 5, 512: 6, 1024: 7}
_IIR_NAMES = {code: name for name, code in IIR_CODES.items()}


def connect(port, pin):
    return DeviceLink(port, pin=pin)


def parse_pin(args) -> int | None:
    text = getattr(args, "pin", None)
    if text is None:
        text = os.environ.get(PIN_ENV)
    if text is None or text == "":
        return None
    if not text.isdigit() or int(text) > protocol.PIN_MAX:
        raise FevergateError(f"the PIN is a number 0..{protocol.PIN_MAX}", EXIT_USAGE)
    return int(text)


def _out(state, line: str) -> None:
    printer = getattr(state, "print", None)
    (printer or print)(line)


def _show(key: int, value: int) -> str:
    name = KEY_NAMES.get(key, f"key {key}")
    text = f"{name} = {value}"
    if name.endswith("_cc"):
        text += f"  ({value / 100:.2f} C)"
    elif name == "calibration_day" and value > 0:
        text += "  ({})".format(time.strftime("%Y-%m-%d", time.gmtime(value * 86400)))
    elif name == "device_id":
        text = f"{name} = {value & 0xFFFFFFFF:#010x}"
    elif name == "fw_version":
        text = f"{name} = {value:#08x}  ({version_text(value)})"
    elif name == "clock_day":
        text += "  (never set since boot)" if value == 0 else f"  ({_date(value)})"
    elif name == "clock_second":
        text += f"  ({value // 3600:02d}:{value // 60 % 60:02d}:{value % 60:02d})"
    elif name == "lock_left_s":
        text += "  (not locked)" if value == 0 else f"  (locked: {value} s left)"
    elif name == "emissivity":
        text += f"  ({value / 65535:.3f})"
    elif name == "sensor_filter":
        text += f"  ({describe_filter(value)})"
    return text


def _date(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def version_text(fw_version: int) -> str:
    """`0.1.0` for the firmware version word 0x00MMmmpp (BOOT fw_version, CONFIG 219)."""
    return f"{fw_version >> 16 & 0xFF}.{fw_version >> 8 & 0xFF}.{fw_version & 0xFF}"


def clock_text(values: dict[int, int], now: float) -> str:
    """The gate's clock as `service status` shows it, from the answer to GET_CONFIG
    KEY_CLOCK_DAY (day and second of the site's day, and the site's UTC offset once set),
    against this computer's clock `now`."""
    day = values.get(protocol.KEY_CLOCK_DAY, 0)
    if not day:
        return "gate clock: never set since boot (time-sync or sync sets it)"
    second = values.get(protocol.KEY_CLOCK_SECOND, 0)
    offset_min = values.get(protocol.KEY_UTC_OFFSET, 0)
    shown = datetime.datetime(1970, 1, 1) + datetime.timedelta(days=day, seconds=second)
    ahead = round(day * 86400 + second - offset_min * 60 - now)
    if ahead == 0:
        against = "as this computer"
    else:
        against = (
            f"{duration_text(abs(ahead))} {'ahead of' if ahead > 0 else 'behind'} this computer"
        )
    return (
        f"gate clock: {shown:%Y-%m-%d %H:%M:%S} {format_utc_offset(offset_min)} "
        f"(set since boot; {against})"
    )


def filter_bits(iir: str, fir: int) -> int:
    """The SET_FILTER value for an IIR a1 name (IIR_CODES) and a FIR length (FIR_CODES)."""
    return FIR_CODES[fir] << 8 | IIR_CODES[iir]


def describe_filter(bits: int) -> str:
    """`IIR 0.5, FIR 1024: settles in 939 ms` for the filter bits of config 0x25."""
    from mlx90614 import settle_ms_for  # the firmware's own figure (importable after wire)

    iir = _IIR_NAMES[bits & 7]
    fir = 8 << (bits >> 8 & 7)
    return f"IIR {iir}, FIR {fir}: settles in {settle_ms_for(bits)} ms"


def _add_port_pin(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("port", metavar="PORT", help="serial port or pyserial URL")
    parser.add_argument("--pin", help=f"service PIN (default: ${PIN_ENV})")


# -- config --


def argparse_config() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate config", description="read or change the gate's settings"
    )
    _add_port_pin(parser)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--get", metavar="KEY", help="show one setting (name or key id)")
    group.add_argument("--all", action="store_true", help="show every setting (the default)")
    parser.add_argument(
        "--set",
        metavar="KEY=VALUE",
        action="append",
        default=[],
        help="change a setting; temperatures in degrees C without _cc (fever_threshold=37.5) "
        "or in hundredths with it (fever_threshold_cc=3750)",
    )
    parser.epilog = (
        "examples:\n  fevergate config /dev/ttyUSB0\n"
        "  fevergate config /dev/ttyUSB0 --set fever_threshold=37.5 --pin 1234\n"
        "  fevergate config /dev/ttyUSB0 --get debounce_ms"
    )
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    return parser


def _setting_row(key: int):
    return next((row for row in SETTINGS if row[0] == key), None)


def _parse_assignment(text: str) -> tuple[int, int, bool]:
    """(key, value, in degrees C?) from `fever_threshold=37.5` or `fever_threshold_cc=3750`."""
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep:
        raise FevergateError(
            f"--set wants KEY=VALUE (fever_threshold=37.5), got {text!r}", EXIT_USAGE
        )
    if not name.endswith("_cc") and not name.isdigit() and name + "_cc" in _CELSIUS_NAMES:
        try:
            celsius = float(value.replace("°C", "").replace("C", "").strip())
        except ValueError:
            raise FevergateError(
                f"{name}: {value!r} is not a temperature in °C (like 37.5)", EXIT_USAGE
            ) from None
        return key_id(name + "_cc"), round(celsius * 100), True
    try:
        number = int(value, 0)
    except ValueError:
        raise FevergateError(f"{name}: {value!r} is not a whole number", EXIT_USAGE) from None
    return key_id(name), number, False


def refused_setting(key: int, value: int, celsius: bool, reply) -> FevergateError:
    """The refusal of a setting as a person reads it: the value, and what is allowed."""
    row = _setting_row(key)
    if row is None or reply.reason != protocol.REASON_RANGE:
        try:
            reply.check()
        except FevergateError as exc:
            return exc
    _, name, low, high, _, unit = row
    if unit == "cC":
        shown = name[:-3] if celsius else name
        what = f"{shown} {value / 100:.2f} °C refused"
        allowed = f"{low / 100:.2f} .. {high / 100:.2f} °C"
    else:
        what = f"{name} {value} refused"
        allowed = f"{low} .. {high}" + ("" if unit == "bool" else f" {unit}")
    if low <= value <= high:
        return FevergateError(
            f"{what}: allowed {allowed}, and fever_votes and min_samples at most window_max",
            EXIT_REFUSED,
        )
    return FevergateError(f"{what}: allowed {allowed}", EXIT_REFUSED)


def do_config(state, args) -> None:
    assignments = [_parse_assignment(text) for text in args.set]
    with connect(args.port, parse_pin(args)) as link:
        for key, value, celsius in assignments:
            reply = link.request(protocol.CMD_SET_CONFIG, key, value)
            if not reply.ok:
                raise refused_setting(key, value, celsius, reply)
            if key in _SECRET_KEYS:
                _out(state, "pin changed")
            for k, v in reply.configs().items():
                _out(state, "set " + _show(k, v))
        if assignments and not args.get and not args.all:
            return
        if args.get:
            values = link.get_config(args.get)
        else:
            values = link.get_config(protocol.KEY_ALL)
            for key in _SENSOR_KEYS:  # not in KEY_ALL: they are read from the sensor
                reply = link.request(protocol.CMD_GET_CONFIG, key)
                if reply.ok:
                    values.update(reply.configs())
                else:
                    _out(state, f"{KEY_NAMES[key]}: not read ({reply.reason_text})")
        for k, v in values.items():
            _out(state, _show(k, v))


# -- time-sync --


def utc_offset(text: str) -> int:
    """A UTC offset '+08:00', '-05:30', '+8' or '0' in minutes (argparse type)."""
    sign = -1 if text.startswith("-") else 1
    hours, _, minutes = text.lstrip("+-").partition(":")
    try:
        offset = sign * (int(hours) * 60 + (int(minutes) if minutes else 0))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a UTC offset like +08:00") from None
    if offset % 15 or not -12 * 60 <= offset <= 14 * 60:
        raise argparse.ArgumentTypeError(f"{text} is not a time zone (UTC-12:00..+14:00)")
    return offset


def local_utc_offset_min() -> int:
    """This computer's UTC offset now, in minutes."""
    return (time.localtime().tm_gmtoff or 0) // 60


def format_utc_offset(offset_min: int) -> str:
    sign = "-" if offset_min < 0 else "+"
    return f"UTC{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"


def argparse_time_sync() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate time-sync",
        description="set the gate's wall clock from this computer",
        epilog="examples:\n  fevergate time-sync /dev/ttyUSB0 --pin 1234",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_pin(parser)
    parser.add_argument(
        "--utc-offset",
        type=utc_offset,
        default=None,
        help="the site's UTC offset, e.g. +08:00 (the gate's day starts at local midnight); "
        "default: this computer's",
    )
    return parser


def do_time_sync(state, args) -> None:
    offset = local_utc_offset_min() if args.utc_offset is None else args.utc_offset
    with connect(args.port, parse_pin(args)) as link:
        unix_s = int(time.time())
        link.time_sync(unix_s, offset)
        _out(
            state,
            "time set to {} UTC, site {}".format(
                time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix_s)), format_utc_offset(offset)
            ),
        )


# -- calibrate --


def argparse_calibrate() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate calibrate",
        description="calibrate against a reference source held in front of the sensor",
        epilog="examples:\n  fevergate calibrate /dev/ttyUSB0 --reference 37.0 --pin 1234",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_pin(parser)
    parser.add_argument(
        "--reference",
        type=float,
        required=True,
        help="reference temperature in degrees C (30.00 .. 45.00)",
    )
    return parser


def do_calibrate(state, args) -> None:
    from calibrate import MAX_OFFSET_CC, REFERENCE_MAX_CC, REFERENCE_MIN_CC  # the firmware's

    reference_cc = round(args.reference * 100)
    if not REFERENCE_MIN_CC <= reference_cc <= REFERENCE_MAX_CC:
        raise FevergateError(
            f"reference {args.reference:.2f} °C refused: allowed {REFERENCE_MIN_CC / 100:.2f} "
            f".. {REFERENCE_MAX_CC / 100:.2f} °C (hold a reference of about body temperature)",
            EXIT_USAGE,
        )
    with connect(args.port, parse_pin(args)) as link:
        _out(
            state,
            f"calibrating against {args.reference:.2f} °C: keep the reference still for 2 s "
            "(someone in the gate: asked again for up to 5 s)",
        )
        reply = link.request(
            protocol.CMD_CALIBRATE, 0, reference_cc, timeout=30.0, until_final=True,
            busy_wait=True,
        )  # fmt: skip
        if reply.status == protocol.REPLY_REFUSED and reply.reason in _READ_REFUSALS:
            raise calibration_refused(link, reply, args.reference, MAX_OFFSET_CC)
        reply.check()
        for k, v in reply.configs().items():
            _out(state, _show(k, v))


_READ_REFUSALS = (protocol.REASON_RANGE, protocol.REASON_UNSTABLE)


def calibration_refused(link, reply, reference_c: float, max_offset_cc: int) -> FevergateError:
    """A refused calibration as a person reads it: what the sensor read (the median and spread
    the gate sends before its refusal, CONFIG 223 and 224) against what is allowed."""
    configs = reply.configs()
    median = configs.get(protocol.KEY_CAL_MEDIAN)
    spread = configs.get(protocol.KEY_CAL_SPREAD)
    read = "" if median is None else f"sensor read {median / 100:.2f} °C"
    if reply.reason == protocol.REASON_RANGE:
        what = f"the {read}, " if read else "the sensor read "
        return FevergateError(
            f"calibration refused: {what}more than {max_offset_cc / 100:.2f} °C away from the "
            f"reference {reference_c:.2f} °C (is the reference in front of the sensor, and at "
            "that temperature?)",
            EXIT_REFUSED,
        )
    band = None
    try:
        band = link.get_config("stable_band_cc").get(key_id("stable_band_cc"))
    except FevergateError as exc:
        if exc.exit_code == EXIT_NO_PORT:
            raise
    allowed = "" if band is None else f" (allowed {band / 100:.2f} °C)"
    spread_text = (
        "readings unstable" if spread is None else f"readings spread {spread / 100:.2f} °C"
    )
    read = f", {read}" if read else ""
    return FevergateError(
        f"calibration refused: {spread_text}{allowed}{read}: hold the reference still in front "
        "of the sensor and retry",
        EXIT_REFUSED,
    )


# -- service --


def argparse_service() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate service",
        description="maintenance: status, pump, buzzer, sensor checks and sensor EEPROM",
        epilog="examples:\n  fevergate service /dev/ttyUSB0 status\n"
        "  fevergate service /dev/ttyUSB0 prime --seconds 5 --pin 1234\n"
        "  fevergate service /dev/ttyUSB0 filter --iir 0.5 --fir 1024 --pin 1234",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_port_pin(parser)
    pin = argparse.ArgumentParser(add_help=False)  # --pin after the action works too
    pin.add_argument("--pin", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    actions.add_parser(
        "status", parents=[pin], help="counters, uptime and the calibration (no PIN)"
    )
    prime = actions.add_parser(
        "prime", parents=[pin], help="run the pump for N seconds (1 .. pump_max_run_ms / 1000)"
    )
    prime.add_argument("--seconds", type=int, required=True)
    actions.add_parser("buzzer-test", parents=[pin], help="play every buzzer pattern")
    actions.add_parser(
        "self-test", parents=[pin], help="check the sensor: identity, config, ambient"
    )
    actions.add_parser(
        "stop",
        parents=[pin],
        help="a clean stop before unplugging: counters and journal on flash, the next boot is "
        "no power cut; the gate then waits to be powered off",
    )
    reset = actions.add_parser(
        "reset-counters",
        parents=[pin],
        help="set the people and fever counters to 0 (asks first, or --yes)",
    )
    reset.add_argument("--yes", action="store_true", help="do not ask (scripts)")
    emissivity = actions.add_parser(
        "emissivity", parents=[pin], help="write the sensor's emissivity"
    )
    emissivity.add_argument("--value", type=float, required=True, help="0.10 .. 1.00")
    filters = actions.add_parser(
        "filter",
        parents=[pin],
        help="set the sensor's IIR and FIR filter (EEPROM 0x25); longer filters settle slower",
    )
    filters.add_argument(
        "--iir",
        choices=list(IIR_CODES),
        help="IIR weight of a new sample: off (fastest) .. 0.125 (smoothest); default: as now",
    )
    filters.add_argument(
        "--fir", type=int, choices=list(FIR_CODES), help="FIR length N; default: as now"
    )
    return parser


def _read_optional(link, key: int) -> dict[int, int]:
    """GET_CONFIG `key`, or {} from a gate whose firmware does not know it."""
    reply = link.request(protocol.CMD_GET_CONFIG, key)
    if reply.status == protocol.REPLY_REFUSED and reply.reason == protocol.REASON_UNKNOWN_KEY:
        return {}
    return reply.check().configs()


def _do_status(state, link) -> None:
    reply = link.status()
    version = _read_optional(link, protocol.KEY_FW_VERSION).get(protocol.KEY_FW_VERSION)
    clock = _read_optional(link, protocol.KEY_CLOCK_DAY)
    now = time.time()
    shown = reply.configs()
    _out(
        state,
        f"firmware: {'unknown (too old to say)' if version is None else version_text(version)}",
    )
    for k, v in shown.items():
        _out(state, _show(k, v))
    if clock:
        _out(state, clock_text(clock, now))
    else:
        _out(state, "gate clock: unknown (the firmware is too old to say)")
    shown = shown | clock
    for record in reply.of_type("status"):
        for name, value in record.fields.items():
            _out(state, f"{name} = {value}")
    _out(state, "settings in force:")
    for k, v in link.get_config(protocol.KEY_ALL).items():
        if k not in shown:
            _out(state, "  " + _show(k, v))


def _do_filter(state, link, args) -> None:
    iir, fir = args.iir, args.fir
    if iir is None or fir is None:
        now = link.get_config(protocol.KEY_SENSOR_FILTER)[protocol.KEY_SENSOR_FILTER]
        iir = _IIR_NAMES[now & 7] if iir is None else iir
        fir = 8 << (now >> 8 & 7) if fir is None else fir
    if fir not in FIR_CODES:
        raise FevergateError(f"FIR {fir} is not one of 128, 256, 512, 1024", EXIT_USAGE)
    bits = filter_bits(iir, fir)
    link.set_filter(bits)
    _out(state, f"sensor filter set: {describe_filter(bits)}")


def _confirm_reset(state, args) -> None:
    """reset-counters loses the day's counts: asked at a terminal, else --yes."""
    import sys

    if args.yes:
        return
    question = "set the gate's people, fever and re-measure counters to 0? [y/N] "
    if sys.stdin is not None and sys.stdin.isatty():
        err = getattr(state, "err", sys.stderr)
        err.write(question)
        err.flush()
        if input().strip().lower() in ("y", "yes"):
            return
        raise FevergateError("counters not reset", EXIT_USAGE)
    raise FevergateError(
        "reset-counters sets the people and fever counters to 0: confirm with --yes "
        "(nothing was reset)",
        EXIT_USAGE,
    )


def do_service(state, args) -> None:
    if args.action == "filter" and args.iir is None and args.fir is None:
        raise FevergateError(
            "filter needs --iir and/or --fir (nothing was written to the sensor's EEPROM)",
            EXIT_USAGE,
        )
    if args.action == "reset-counters":
        _confirm_reset(state, args)
    with connect(args.port, parse_pin(args)) as link:
        if args.action == "status":
            _do_status(state, link)
        elif args.action == "filter":
            _do_filter(state, link, args)
        elif args.action == "prime":
            link.pump_prime(args.seconds)
            _out(state, f"pump priming for {args.seconds} s")
        elif args.action == "buzzer-test":
            link.buzzer_test()
            _out(state, "buzzer test playing")
        elif args.action == "self-test":
            link.self_test()
            _out(state, "self-test passed")
        elif args.action == "stop":
            link.stop()
            _out(state, "gate stopped cleanly: everything is on flash; unplug it now")
        elif args.action == "reset-counters":
            link.reset_counters()
            _out(state, "counters reset")
        elif args.action == "emissivity":
            if not 0.1 <= args.value <= 1.0:
                raise FevergateError("emissivity is 0.10 .. 1.00", EXIT_USAGE)
            word = round(args.value * 65535)
            link.set_emissivity(word)
            _out(state, f"emissivity set to {args.value:.3f} (word {word})")


COMMANDS = {
    "config": (do_config, argparse_config),
    "time-sync": (do_time_sync, argparse_time_sync),
    "calibrate": (do_calibrate, argparse_calibrate),
    "service": (do_service, argparse_service),
}
