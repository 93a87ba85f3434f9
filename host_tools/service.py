"""CLI handlers for field service: configure, sync the clock, calibrate, maintenance.

Entries for the `fevergate` command table (host_tools/cli.py merges `COMMANDS`), each a pair
(do_x(state, args), argparse_x()) in mpremote's shape:

    fevergate config PORT [--get KEY | --all] [--set KEY=VALUE ...] [--pin PIN]
    fevergate time-sync PORT [--pin PIN]
    fevergate calibrate PORT --reference 37.0 [--pin PIN]
    fevergate service PORT {prime --seconds N | buzzer-test | self-test | reset-counters |
                            emissivity --value 0.98} [--pin PIN]

The PIN comes from --pin or the environment variable FEVERGATE_PIN. A refusal or failure
raises FevergateError with the device's reason and an exit code (host_tools/device.py
EXIT_*; docs/CLI.md lists them). `connect(port, pin)` opens the link (tests replace it).
"""

from __future__ import annotations

import argparse
import os
import time

from host_tools.device import (
    EXIT_USAGE,
    KEY_NAMES,
    DeviceLink,
    FevergateError,
    key_id,
)
from host_tools.wire import protocol

__all__ = ["COMMANDS", "connect", "parse_pin"]

PIN_ENV = "FEVERGATE_PIN"
_SECRET_KEYS = {protocol.KEY_PIN}


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
    elif name == "emissivity":
        text += f"  ({value / 65535:.3f})"
    return text


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
        "--set", metavar="KEY=VALUE", action="append", default=[], help="change a setting"
    )
    return parser


def _parse_assignment(text: str) -> tuple[int, int]:
    key, sep, value = text.partition("=")
    if not sep:
        raise FevergateError(f"--set wants KEY=VALUE, got {text!r}", EXIT_USAGE)
    try:
        number = int(value.strip(), 0)
    except ValueError:
        raise FevergateError(f"{key}: {value!r} is not an integer", EXIT_USAGE) from None
    return key_id(key.strip()), number


def do_config(state, args) -> None:
    assignments = [_parse_assignment(text) for text in args.set]
    with connect(args.port, parse_pin(args)) as link:
        for key, value in assignments:
            reply = link.set_config(key, value)
            if key in _SECRET_KEYS:
                _out(state, "pin changed")
            for k, v in reply.configs().items():
                _out(state, "set " + _show(k, v))
        if assignments and not args.get and not args.all:
            return
        values = link.get_config(args.get if args.get else protocol.KEY_ALL)
        for k, v in values.items():
            _out(state, _show(k, v))


# -- time-sync --


def argparse_time_sync() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate time-sync", description="set the gate's wall clock from this computer"
    )
    _add_port_pin(parser)
    return parser


def do_time_sync(state, args) -> None:
    with connect(args.port, parse_pin(args)) as link:
        unix_s = int(time.time())
        link.time_sync(unix_s)
        _out(
            state,
            "time set to {} UTC".format(time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(unix_s))),
        )


# -- calibrate --


def argparse_calibrate() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fevergate calibrate",
        description="calibrate against a reference source held in front of the sensor",
    )
    _add_port_pin(parser)
    parser.add_argument(
        "--reference", type=float, required=True, help="reference temperature in degrees C"
    )
    return parser


def do_calibrate(state, args) -> None:
    reference_cc = round(args.reference * 100)
    with connect(args.port, parse_pin(args)) as link:
        _out(
            state, f"calibrating against {args.reference:.2f} C: keep the reference still for 2 s"
        )
        reply = link.calibrate(reference_cc)
        for k, v in reply.configs().items():
            _out(state, _show(k, v))


# -- service --


def argparse_service() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fevergate service", description="maintenance")
    _add_port_pin(parser)
    pin = argparse.ArgumentParser(add_help=False)  # --pin after the action works too
    pin.add_argument("--pin", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    prime = actions.add_parser("prime", parents=[pin], help="run the pump for N seconds")
    prime.add_argument("--seconds", type=int, required=True)
    actions.add_parser("buzzer-test", parents=[pin], help="play every buzzer pattern")
    actions.add_parser(
        "self-test", parents=[pin], help="check the sensor: identity, config, ambient"
    )
    actions.add_parser(
        "reset-counters", parents=[pin], help="set the people and fever counters to 0"
    )
    emissivity = actions.add_parser(
        "emissivity", parents=[pin], help="write the sensor's emissivity"
    )
    emissivity.add_argument("--value", type=float, required=True, help="0.10 .. 1.00")
    return parser


def do_service(state, args) -> None:
    with connect(args.port, parse_pin(args)) as link:
        if args.action == "prime":
            link.pump_prime(args.seconds)
            _out(state, f"pump priming for {args.seconds} s")
        elif args.action == "buzzer-test":
            link.buzzer_test()
            _out(state, "buzzer test playing")
        elif args.action == "self-test":
            link.self_test()
            _out(state, "self-test passed")
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
