"""The host side of the service link: command frames out, the matching REPLY back.

`DeviceLink(port_or_serial, pin=None)` opens a port through `serialport.open_port` (a device
path, `loop://`, `socket://host:port`, a simulator pty; exclusively, with the CLI's exit codes:
EXIT_NO_PORT when it is missing, EXIT_PORT_BUSY when another program holds it, EXIT_USAGE for
a malformed URL) or takes an open pyserial-like object (with `read(n)`, `write(data)`, and
optionally `in_waiting`, `flush()` and `close()`; wrapped in serialport.GuardedPort, so a port
that goes away mid-command is EXIT_NO_PORT with one line). `request()` sends one
COMMAND frame with a fresh 16-bit tag, reads the record stream through StreamDecoder and
returns a `Reply`: the REPLY whose `arg` is the tag, plus every good record that came before
it (the STATUS, CONFIG or TIME records a command answers with). CALIBRATE is answered with
REPLY_STARTED first; `request(..., until_final=True)` waits on for the final REPLY.

No answer within `timeout` seconds raises FevergateError with a message that says what was
sent and what (if anything) came back. The wire format is firmware/protocol.py's COMMAND
section; docs/PROTOCOL.md ("Commands") is the specification.
"""

from __future__ import annotations

import random
import struct
import time
from binascii import crc_hqx
from dataclasses import dataclass, field

from cobs import cobs

from host_tools.decoder import Record, Status, StreamDecoder
from host_tools.errors import EXIT_NO_PORT, EXIT_PORT_BUSY, EXIT_USAGE, FevergateError
from host_tools.serialport import guard, open_port
from host_tools.wire import protocol

__all__ = [
    "DeviceLink",
    "Reply",
    "encode_command",
    "FevergateError",
    "COMMAND_NAMES",
    "command_text",
    "STATUS_NAMES",
    "REASON_NAMES",
    "KEY_NAMES",
    "STATUS_TEXT",
    "reason_text",
    "duration_text",
    "SETTINGS",
    "key_id",
    "EXIT_REFUSED",
    "EXIT_FAILED",
    "EXIT_NO_ANSWER",
    "EXIT_BAD_FRAME",
    "EXIT_USAGE",
    "EXIT_NO_PORT",
    "EXIT_PORT_BUSY",
]

import config as _config  # noqa: E402  (firmware/config.py, importable once wire ran compat)

# Exit codes of service commands (docs/CLI.md), after the CLI's own 0..6 (host_tools/errors.py:
# 2 usage or a PIN missing, 3 port missing, 4 port busy), so a script can tell them apart.
EXIT_REFUSED = 7  # the device refused (reason printed)
EXIT_FAILED = 8  # accepted, but a check or the hardware failed (self-test, sensor, storage)
EXIT_NO_ANSWER = 9  # no REPLY within the timeout
EXIT_BAD_FRAME = 10  # the device received a damaged frame twice


def _names(prefix: str) -> dict[int, str]:
    return {
        value: name[len(prefix) :].lower()
        for name, value in vars(protocol).items()
        if name.startswith(prefix) and isinstance(value, int)
    }


COMMAND_NAMES = _names("CMD_")
# What a person reads for each command (internal names like set_config never reach them)
_COMMAND_TEXT = {
    "status": "status",
    "get_config": "reading the settings",
    "set_config": "changing the setting",
    "time_sync": "setting the clock",
    "calibrate": "calibration",
    "pump_prime": "pump prime",
    "buzzer_test": "buzzer test",
    "self_test": "self-test",
    "reset_counters": "counter reset",
    "set_emissivity": "writing the emissivity",
    "set_filter": "writing the sensor filter",
    "backlog": "journal download",
    "ack": "acknowledging the download",
}
BUSY_RETRY_S = 5.0  # calibrate and sensor writes refused busy (someone in the gate, a
# calibration running) are asked again so long
BUSY_EVERY_S = 0.5


def command_text(command: int) -> str:
    """A command as a person reads it: `setting the clock`, not time_sync."""
    name = COMMAND_NAMES.get(command)
    if name is None:
        return f"command {command}"
    return _COMMAND_TEXT.get(name, name.replace("_", " "))


STATUS_NAMES = {
    k: v for k, v in _names("REPLY_").items() if v not in ("no_tag", "size") and k >= 0
}
REASON_NAMES = _names("REASON_")
SETTINGS = _config.SETTINGS  # (key, name, minimum, maximum, default, unit) per setting
KEY_NAMES = {row[0]: row[1] for row in SETTINGS}
KEY_NAMES.update(
    {
        protocol.KEY_PIN: "pin",
        protocol.KEY_CAL_OFFSET: "calibration_offset_cc",
        protocol.KEY_CAL_REFERENCE: "calibration_reference_cc",
        protocol.KEY_CAL_DAY: "calibration_day",
        protocol.KEY_EMISSIVITY: "emissivity",
        protocol.KEY_BAD_PINS: "bad_pins",
        protocol.KEY_SENSOR_FILTER: "sensor_filter",
        protocol.KEY_BACKLOG_SENT: "backlog_sent",
        protocol.KEY_JOURNAL_DROPPED: "journal_dropped",
        protocol.KEY_BOOT_COUNT: "boot_count",
        protocol.KEY_DEVICE_ID: "device_id",
        protocol.KEY_UTC_OFFSET: "utc_offset_min",
        protocol.KEY_JOURNAL_END: "journal_end",
        protocol.KEY_COUNTERS_RESET: "counters_reset",
        protocol.KEY_CHATTER: "chatter_not_journaled",
        protocol.KEY_FW_VERSION: "fw_version",
        protocol.KEY_CLOCK_DAY: "clock_day",
        protocol.KEY_CLOCK_SECOND: "clock_second",
        protocol.KEY_LOCK_LEFT_S: "lock_left_s",
        protocol.KEY_CAL_MEDIAN: "calibration_median_cc",
        protocol.KEY_CAL_SPREAD: "calibration_spread_cc",
    }
)
_KEY_IDS = {name: key for key, name in KEY_NAMES.items()}

REASON_TEXT = {
    protocol.REASON_BAD_PIN: "wrong PIN (counted; 5 wrong in a row lock changes for 60 s)",
    protocol.REASON_RANGE: "value out of range",
    protocol.REASON_UNKNOWN_KEY: "no such setting",
    protocol.REASON_UNKNOWN_COMMAND: "the device does not know this command",
    protocol.REASON_BUSY: "busy (the operation runs already, or someone is in the gate)",
    protocol.REASON_UNSTABLE: "readings unstable: hold the reference still and retry",
    protocol.REASON_LOCKED: "locked after too many wrong PINs: wait 60 s",
    protocol.REASON_CRC: "the device received a damaged frame (CRC)",
    protocol.REASON_LENGTH: "the device received a damaged frame (length)",
    protocol.REASON_VERSION: "the device speaks another protocol version",
    protocol.REASON_TYPE: "the device received a frame that is not a command",
    protocol.REASON_SENSOR: "the sensor did not answer",
    protocol.REASON_IDENTITY: "sensor identity blank",
    protocol.REASON_SENSOR_CONFIG: "sensor config register blank",
    protocol.REASON_AMBIENT: "sensor ambient reading implausible",
    protocol.REASON_STORAGE: "the setting could not be saved (change undone)",
    protocol.REASON_TANK_EMPTY: "the tank is empty",
    protocol.REASON_RESTING: "the pump is resting after a run",
    protocol.REASON_WRITE_ONLY: "the PIN is never shown",
    protocol.REASON_READ_ONLY: "the device sets this value itself, or it has its own command",
    protocol.REASON_RATE_LIMITED: "too many requests without the PIN: wait a second and retry",
}

# a REPLY status as a person reads it
STATUS_TEXT = {
    protocol.REPLY_OK: "done",
    protocol.REPLY_REFUSED: "refused",
    protocol.REPLY_BAD_FRAME: "not understood",
    protocol.REPLY_FAILED: "failed",
    protocol.REPLY_STARTED: "started",
}


def duration_text(seconds: int) -> str:
    """`42 s`, `1 min`, `4 min 10 s`."""
    minutes, seconds = divmod(max(0, int(seconds)), 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min" + (f" {seconds} s" if seconds else "")


def reason_text(reason: int, configs: dict[int, int] | None = None) -> str:
    """Why the gate refused, as a person reads it, with what the gate sent along (the time
    left in a wrong-PIN lock: CONFIG KEY_LOCK_LEFT_S)."""
    from cmdauth import BAD_PIN_LIMIT  # the firmware's own figure

    left = (configs or {}).get(protocol.KEY_LOCK_LEFT_S)
    if left is not None and reason in (protocol.REASON_LOCKED, protocol.REASON_BAD_PIN):
        wait = f"try again in {duration_text(left)}"
        if reason == protocol.REASON_LOCKED:
            return f"locked after {BAD_PIN_LIMIT} wrong PINs in a row: {wait}"
        return f"wrong PIN, the {BAD_PIN_LIMIT}th in a row: PIN commands are locked: {wait}"
    return REASON_TEXT.get(reason, f"reason {reason}")


_PIN_FREE = {protocol.CMD_STATUS, protocol.CMD_GET_CONFIG, protocol.CMD_SELF_TEST}
_COMMAND = struct.Struct(protocol.COMMAND_FORMAT)


def time_sync_arguments(unix_s: int, utc_offset_min: int = 0) -> tuple[int, int]:
    """TIME_SYNC's (key, value): the site's UTC offset in quarter hours as an i8 and the unix
    time as a u32 in its i32 bit pattern (docs/PROTOCOL.md); FevergateError if either does not
    fit."""
    if utc_offset_min % 15 or not -12 * 60 <= utc_offset_min <= 14 * 60:
        raise FevergateError(
            f"UTC offset {utc_offset_min} min is not a time zone (UTC-12:00..+14:00, "
            "in quarter hours)",
            EXIT_USAGE,
        )
    if not 0 < unix_s < 1 << 32:
        raise FevergateError(f"unix time {unix_s} is not a u32 above 0", EXIT_USAGE)
    return (utc_offset_min // 15) & 0xFF, unix_s - (1 << 32) if unix_s >= 1 << 31 else unix_s


def key_id(key: str | int) -> int:
    """A setting's key id from its name or number; FevergateError if there is no such key."""
    if isinstance(key, int):
        return key
    if key.isdigit():
        return int(key)
    try:
        return _KEY_IDS[key]
    except KeyError:
        known = ", ".join(sorted(name for name in _KEY_IDS if name != "pin"))
        raise FevergateError(f"unknown setting {key!r}; known: {known}", EXIT_USAGE) from None


def encode_command(command: int, tag: int, pin: int = 0, key: int = 0, value: int = 0) -> bytes:
    """The wire bytes of one command: COBS(payload + CRC16 big-endian) and the 0x00."""
    byte0 = protocol.VERSION << protocol.VERSION_SHIFT | protocol.COMMAND
    try:
        payload = _COMMAND.pack(byte0, tag & 0xFFFF, 0, command, pin, key, value)
    except struct.error as exc:
        raise FevergateError(f"command arguments out of range: {exc}", EXIT_USAGE) from None
    return cobs.encode(payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "big")) + b"\x00"


@dataclass
class Reply:
    command: int
    status: int
    reason: int
    tag: int
    records: list[Record] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == protocol.REPLY_OK

    @property
    def status_name(self) -> str:
        return STATUS_NAMES.get(self.status, f"status {self.status}")

    @property
    def status_text(self) -> str:
        return STATUS_TEXT.get(self.status, f"status {self.status}")

    @property
    def reason_name(self) -> str:
        return REASON_NAMES.get(self.reason, f"reason {self.reason}")

    @property
    def reason_text(self) -> str:
        return reason_text(self.reason, self.configs())

    def configs(self) -> dict[int, int]:
        """{key: value} of the CONFIG records that came with the reply."""
        return {r.fields["key"]: r.fields["value"] for r in self.records if r.type == "config"}

    def of_type(self, type_name: str) -> list[Record]:
        return [r for r in self.records if r.type == type_name]

    def check(self) -> Reply:
        """Self if OK; otherwise FevergateError with the reason and the exit code for it."""
        if self.ok:
            return self
        name = command_text(self.command)
        if self.status == protocol.REPLY_REFUSED:
            code = EXIT_REFUSED
        elif self.status == protocol.REPLY_BAD_FRAME:
            code = EXIT_BAD_FRAME
        else:
            code = EXIT_FAILED
        raise FevergateError(f"{name} {self.status_text}: {self.reason_text}", code)


class DeviceLink:
    """One service connection to a gate."""

    def __init__(
        self,
        port_or_serial,
        pin: int | None = None,
        timeout: float = 2.0,
        baudrate: int = 115200,
    ) -> None:
        if isinstance(port_or_serial, str):
            self.serial = open_port(port_or_serial, baudrate, timeout=0.05)
            self.port = self.serial.name  # `auto` resolved
        else:
            self.port = getattr(port_or_serial, "port", None) or repr(port_or_serial)
            self.serial = guard(port_or_serial, self.port)
        self.pin = pin
        self.timeout = timeout
        self.decoder = StreamDecoder()
        self._tag = random.randrange(0x10000)
        self.damaged = 0  # damaged frames seen from the device
        self.busy_retry_s = BUSY_RETRY_S

    def close(self) -> None:
        self.serial.close()

    def __enter__(self) -> DeviceLink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) & 0xFFFF
        return self._tag

    def _read(self) -> bytes:
        return self.serial.read(self.serial.in_waiting or 1)

    def request(
        self,
        command: int,
        key: int = 0,
        value: int = 0,
        *,
        timeout: float | None = None,
        until_final: bool = False,
        retries: int = 1,
        busy_wait: bool = False,
    ) -> Reply:
        """Send one command and return its Reply (not checked: see Reply.check)."""
        pin = 0
        if command not in _PIN_FREE:
            if self.pin is None:
                raise FevergateError(
                    f"{command_text(command)} needs the PIN: give --pin or set FEVERGATE_PIN",
                    EXIT_USAGE,
                )
            pin = self.pin
        timeout = self.timeout if timeout is None else timeout
        busy_until = time.monotonic() + (self.busy_retry_s if busy_wait else 0.0)
        while True:
            reply = self._request(command, pin, key, value, timeout, until_final, retries)
            busy = reply.status == protocol.REPLY_REFUSED and reply.reason == protocol.REASON_BUSY
            if not busy or time.monotonic() + BUSY_EVERY_S > busy_until:
                return reply
            time.sleep(BUSY_EVERY_S)  # someone is in the gate: ask again in a moment

    def _request(self, command, pin, key, value, timeout, until_final, retries) -> Reply:
        for attempt in range(retries + 1):
            tag = self._next_tag()
            self.serial.write(encode_command(command, tag, pin, key, value))
            self.serial.flush()
            reply = self._wait(command, tag, timeout, until_final)
            damaged = (
                reply.status == protocol.REPLY_BAD_FRAME and reply.tag == protocol.REPLY_NO_TAG
            )
            if not damaged or attempt == retries:
                return reply
        return reply  # pragma: no cover  (the loop always returns)

    def _wait(self, command: int, tag: int, timeout: float, until_final: bool) -> Reply:
        records: list[Record] = []
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            data = self._read()
            seen += len(data)
            for event in self.decoder.feed(data):
                if event.status is not Status.OK:
                    if event.record is None and event.status not in (Status.GAP, Status.NEW_BOOT):
                        self.damaged += 1
                    continue
                record = event.record
                if record.type != "reply":
                    if record.type != "config" or record.fields["key"] != protocol.KEY_CHATTER:
                        records.append(record)  # not the gate's chatter marker: an answer
                    continue
                f = record.fields
                untagged = (
                    f["status"] == protocol.REPLY_BAD_FRAME and f["arg"] == protocol.REPLY_NO_TAG
                )
                if f["arg"] != tag and not untagged:
                    continue  # an answer to an earlier request
                reply = Reply(f["command"], f["status"], f["reason"], f["arg"], records)
                if until_final and reply.status == protocol.REPLY_STARTED:
                    records = []
                    deadline = time.monotonic() + timeout
                    continue
                return reply
            if time.monotonic() >= deadline:
                name = command_text(command)
                if seen:
                    detail = f"{seen} bytes came back but no reply with tag {tag}"
                else:
                    detail = "nothing came back: is the gate powered and the port right?"
                raise FevergateError(
                    f"no answer to {name} from {self.port} within {timeout:.1f} s ({detail})",
                    EXIT_NO_ANSWER,
                )

    # -- one method per command (each returns the checked Reply) --

    def status(self) -> Reply:
        return self.request(protocol.CMD_STATUS).check()

    def get_config(self, key: str | int = protocol.KEY_ALL) -> dict[int, int]:
        return self.request(protocol.CMD_GET_CONFIG, key_id(key)).check().configs()

    def set_config(self, key: str | int, value: int) -> Reply:
        return self.request(protocol.CMD_SET_CONFIG, key_id(key), value).check()

    def time_sync(self, unix_s: int | None = None, utc_offset_min: int = 0) -> Reply:
        """The wall clock (default: this computer's) and the site's UTC offset in minutes."""
        unix_s = int(time.time()) if unix_s is None else unix_s
        key, value = time_sync_arguments(unix_s, utc_offset_min)
        return self.request(protocol.CMD_TIME_SYNC, key, value).check()

    def calibrate(self, reference_cc: int, timeout: float = 30.0) -> Reply:
        # 3 readings at least, one per settle time: up to 15 s with the slowest IIR filter
        return self.request(
            protocol.CMD_CALIBRATE, 0, reference_cc, timeout=timeout, until_final=True,
            busy_wait=True,
        ).check()  # fmt: skip

    def stop(self, timeout: float = 10.0) -> Reply:
        """A clean stop before unplugging: the final REPLY says everything is on flash."""
        return self.request(protocol.CMD_STOP, timeout=timeout, until_final=True).check()

    def pump_prime(self, seconds: int) -> Reply:
        return self.request(protocol.CMD_PUMP_PRIME, 0, seconds).check()

    def buzzer_test(self) -> Reply:
        return self.request(protocol.CMD_BUZZER_TEST).check()

    def self_test(self) -> Reply:
        return self.request(protocol.CMD_SELF_TEST).check()

    def reset_counters(self) -> Reply:
        return self.request(protocol.CMD_RESET_COUNTERS).check()

    def set_emissivity(self, word: int) -> Reply:
        return self.request(protocol.CMD_SET_EMISSIVITY, 0, word, busy_wait=True).check()

    def set_filter(self, bits: int) -> Reply:
        """The IIR (bits 2..0) and FIR (bits 10..8) bits of the sensor's config 0x25."""
        return self.request(protocol.CMD_SET_FILTER, 0, bits, busy_wait=True).check()
