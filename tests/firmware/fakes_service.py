"""Fakes for the service-command tests (commands.py, calibrate.py), on both interpreters.

`command_frame` builds a command frame with the firmware's own CRC and COBS (the host side,
host_tools/device.py, is checked against the same bytes by a CPython test). `RxUART` queues
received bytes; `RecordingWriter` keeps every record call in lists (it allocates: do not use
it inside heap_lock sections that send records); `FakeSensor` is an MLX90614 driver stand-in.
"""

import struct

import protocol
from frame import cobs_encode_into, crc16


def command_frame(command, pin=0, key=0, value=0, tag=1, version=1, kind=None):
    """The wire bytes (with the 0x00 delimiter) of one command."""
    kind = protocol.COMMAND if kind is None else kind
    payload = bytearray(protocol.COMMAND_SIZE + 2)
    struct.pack_into(
        protocol.COMMAND_FORMAT, payload, 0, version << 5 | kind, tag, 0, command, pin, key, value
    )
    crc = crc16(payload, protocol.COMMAND_SIZE, 0)
    payload[protocol.COMMAND_SIZE] = crc >> 8
    payload[protocol.COMMAND_SIZE + 1] = crc & 0xFF
    out = bytearray(len(payload) + 2)
    n = cobs_encode_into(payload, len(payload), out, 0)
    out[n] = 0
    return bytes(out[: n + 1])


class RxUART:
    def __init__(self):
        self.rx = bytearray()
        self.reads = 0

    def feed(self, data):
        self.rx.extend(data)

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=-1):
        n = len(self.rx)
        if nbytes >= 0 and nbytes < n:
            n = nbytes
        if n > len(buf):
            n = len(buf)
        if n == 0:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        self.reads += 1
        return n

    def write(self, buf):
        return len(buf)


class RecordingWriter:
    def __init__(self):
        self.t_cs = 0
        self.replies = []  # (command, status, reason, arg)
        self.configs = []  # (key, value)
        self.times = []
        self.statuses = 0
        self.faults = []

    def reply(self, command, status, reason, arg):
        self.replies.append((command, status, reason, arg))
        return 0

    def config(self, key, value):
        self.configs.append((key, value))
        return 0

    def time_sync(self, unix_s):
        self.times.append(unix_s)
        return 0

    def status(self, *args):
        self.statuses += 1
        return 0

    def fault(self, code, active, detail):
        self.faults.append((code, active, detail))
        return 0

    def last(self):
        return self.replies[-1]


class FakeSensor:
    def __init__(self, object_cc=3650):
        self.readings = None  # a list of object readings to return in turn, or None
        self.object_cc = object_cc
        self.ambient_cc = 2200
        self.identity_words = (0x1234, 0x5678, 0x9ABC, 0xDEF0)
        self.config_word = 0x9FB4
        self.emissivity_word = 0xFFFF
        self.writes = []
        self.emissivity_calls = []
        self.fail = False
        self.reads = 0

    def _check(self):
        if self.fail:
            raise OSError(protocol.FAULT_SENSOR_NACK, "nack")

    def object_temp_cc(self):
        self._check()
        self.reads += 1
        if self.readings:
            return self.readings.pop(0)
        return self.object_cc

    def ambient_temp_cc(self):
        self._check()
        return self.ambient_cc

    def identity(self):
        self._check()
        return self.identity_words

    def config(self):
        self._check()
        return self.config_word

    def emissivity(self):
        self._check()
        return self.emissivity_word

    def write_eeprom(self, address, value):
        self._check()
        self.writes.append((address, value))
        if address == 0x24:
            self.emissivity_word = value
        elif address == 0x25:
            self.config_word = value

    def set_emissivity(self, value):
        """As the driver: nothing written when the value is there already; the companion
        cell 0x2F it rescales is left to the driver's own tests."""
        self._check()
        self.emissivity_calls.append(value)
        if value != self.emissivity_word:
            self.write_eeprom(0x24, value)


class FakeControl:
    def __init__(self):
        from config import Config
        from pump import PumpGuard

        self.guard = PumpGuard(Config())  # a prime is handed to it (never run here)
        self.inside = 0
        self.tank_empty = False
        self.faulted = False
        self.resting = False
        self.settle_ms = 100
        self.pump = 0
        self.buzzer = 0
        self.people_in = 5
        self.people_out = 4
        self.fevers = 3
        self.remeasures = 2
        self.sensor_errors = 1


class FakeBeam:
    def __init__(self):
        self.people_in = 5
        self.people_out = 4
        self.debounce_ms = 30
        self.stuck_ms = 10000
        self.vacate_ms = 5000


class MemoryStore:
    """A settings_store kept in RAM; `fail` makes every save raise OSError."""

    def __init__(self):
        self.settings = {}
        self.service = None
        self.lockout = None
        self.fail = False
        self.saves = 0

    def load_config(self, config):
        import config as config_module

        for key, value in self.settings.items():
            config.set(config_module.setting_by_key(key)[1], value)

    def save_config(self, config):
        import config as config_module

        if self.fail:
            raise OSError(28, "no space")
        self.saves += 1
        for row in config_module.SETTINGS:
            self.settings[row[0]] = getattr(config, row[1])

    def load_service(self, values):
        if self.service is None:
            return False
        for i in range(len(values)):
            values[i] = self.service[i]
        return True

    def save_service(self, values):
        if self.fail:
            raise OSError(28, "no space")
        self.saves += 1
        self.service = list(values)

    def load_lockout(self, values):
        if self.lockout is None:
            return False
        for i in range(len(values)):
            values[i] = self.lockout[i]
        return True

    def save_lockout(self, values):
        if self.fail:
            raise OSError(28, "no space")
        self.lockout = list(values)


class DuplexUART:
    """A board UART for whole-gate tests: keeps what the gate wrote (`data[:written]`) and
    `feed` queues bytes for the gate to read."""

    def __init__(self, capture=65536):
        self.written = 0
        self.data = bytearray(capture)
        self.rx = bytearray()

    def write(self, buf):
        n = len(buf)
        room = len(self.data) - self.written
        if room > 0:
            self.data[self.written : self.written + min(n, room)] = buf[: min(n, room)]
        self.written += n
        return n

    def feed(self, data):
        self.rx.extend(data)

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf), len(self.rx), nbytes if nbytes >= 0 else len(buf))
        if n <= 0:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n
