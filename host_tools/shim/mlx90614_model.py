"""The simulator's MLX90614: register map, SMBus PEC, filter settling, noise, EEPROM and faults.

`MLX90614Model` answers SMBus word reads and writes at a virtual instant (`now_ms`). The object
reading follows what the sensor sees (a forehead, or the background at ambient) through a
first-order response whose settling time comes from the IIR/FIR bits of config 0x25, plus
Gaussian noise of the part's rms. With nobody there it sees the background: the air at ambient,
or `background_c` (a sunlit floor or wall warmer than a forehead). EEPROM cells behave like
the real ones: a write of a nonzero value over a cell that was not erased (0x0000) stores
value AND old; a write takes 5 ms and a transfer during it is not acknowledged. Faults (NACK,
corrupt PEC, error flag, a stuck bus) draw on the model's own seeded random.Random, so a seed
and a call sequence give the same bytes every time.

`SMBusAdapter` puts a model behind the MicroPython I2C API (the firmware driver under CPython);
`BusioAdapter` puts it behind the CircuitPython busio API (adafruit_mlx90614).
"""

from __future__ import annotations

import errno
import math
import random
from collections.abc import Callable

KELVIN = 273.15
TA_RAM = 0x06
TOBJ1_RAM = 0x07
TOBJ2_RAM = 0x08
EEPROM_BASE = 0x20
EMISSIVITY = 0x24
CONFIG = 0x25
ADDRESS_CELL = 0x2E
EMISSIVITY_COMPANION = 0x2F
IDENTITY = range(0x3C, 0x40)
UNLOCK = 0x60
LOCK = 0x61
SLEEP = 0xFF
EEPROM_WRITE_MS = 5
ERROR_FLAG = 0x8000

# Part: rms noise (C), factory config 0x25, companion 0x2F, dual zone, gradient compensated.
# BAA: 3 V, single zone, 0x9FB4 = IIR off, FIR 1024 (0.10 s). DCI: 3 V medical, gradient
# compensated, IIR 0.667 (0.65 s). BAB: dual zone (config bit 6).
PARTS = {
    "BAA": {"noise_c": 0.05, "config": 0x9FB4, "companion": 0x099A, "xcx": False},
    "BAB": {"noise_c": 0.05, "config": 0x9FF4, "companion": 0x099A, "xcx": False},
    "DCI": {"noise_c": 0.10, "config": 0x9FB6, "companion": 0x0733, "xcx": True},
}

# Settling time with the IIR off, by FIR length (seconds): datasheet anchors 0.04 s at 128
# and 0.10 s at 1024, a straight line between and below them.
FIR_SETTLE_S = {
    8: 0.032,
    16: 0.032,
    32: 0.033,
    64: 0.036,
    128: 0.040,
    256: 0.048,
    512: 0.066,
    1024: 0.100,
}
# IIR setting -> -3 dB bandwidth at FIR 1024 (Hz), from the Linux IIO driver (Melexis).
IIR_BANDWIDTH_HZ = {
    0b100: 7.23,
    0b101: 1.53,
    0b110: 1.10,
    0b111: 0.86,
    0b000: 0.77,
    0b001: 0.31,
    0b010: 0.20,
    0b011: 0.15,
}
SETTLE_TIME_CONSTANTS = 5  # settle_ms covers 5 time constants (99.3 % of a step)


def crc8(data, crc: int = 0) -> int:
    """SMBus PEC: CRC-8, polynomial 0x07, initial 0."""
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def settle_ms(config: int) -> int:
    """Settling time (ms) of the object reading for a config register value."""
    fir = 8 << ((config >> 8) & 7)
    bandwidth = IIR_BANDWIDTH_HZ[config & 7]
    return math.floor(1000 * FIR_SETTLE_S[fir] * IIR_BANDWIDTH_HZ[0b100] / bandwidth + 0.5)


def raw_from_c(temp_c: float) -> int:
    """RAM temperature word (0.02 K per bit), clamped to the 15 bits a reading has."""
    return max(0, min(0x7FFF, round((temp_c + KELVIN) * 50)))


def _factory_eeprom(rng: random.Random, part: dict, address: int) -> list[int]:
    cells = [rng.randrange(0x10000) for _ in range(32)]  # calibration constants
    cells[0x00] = 0x9993  # To max
    cells[0x01] = 0x62E3  # To min
    cells[0x02] = 0x0201  # PWM control
    cells[0x03] = 0xF71C  # Ta range
    cells[0x04] = 0xFFFF  # emissivity 1.0
    cells[0x05] = part["config"]
    cells[0x0E] = 0xBE00 | address
    cells[0x0F] = part["companion"]
    for k in range(4):  # identity: nonzero, not all ones
        cells[0x1C + k] = rng.randrange(1, 0xFFFF)
    return cells


class MLX90614Model:
    def __init__(self, seed=0, part="BAA", address=0x5A, ambient_c=22.0, noise_c=None):
        if part not in PARTS:
            raise ValueError(f"unknown part {part!r}: one of {', '.join(PARTS)}")
        spec = PARTS[part]
        self.part = part
        self.address = address
        self.ambient_c = ambient_c
        self.noise_c = spec["noise_c"] if noise_c is None else noise_c
        self.xcx = spec["xcx"]
        self._rng = random.Random(f"mlx90614/{seed}")
        self.eeprom = _factory_eeprom(random.Random(f"mlx90614-eeprom/{seed}"), spec, address)
        self._factory_product = self.eeprom[0x04] * self.eeprom[0x0F]
        self.nack_rate = 0.0
        self.pec_corrupt_rate = 0.0
        self.error_flag_rate = 0.0
        self.stuck = False
        self.unlocked = False
        self.busy_until = None  # ms: an EEPROM write in progress
        self.reads = 0
        self.object_reads = 0  # reads of Tobj1 (0x07) alone: the gate also reads Ta every 10 s
        self.writes = 0  # EEPROM cell writes (erase or program)
        self.rejected_writes = 0  # bad PEC or locked cell
        self._target = None  # None: the background
        self.background_c = None  # what the sensor sees with nobody there (None: ambient)
        self._y0 = None  # filtered object value at _t0 (None: at rest on the background)
        self._t0 = 0

    # -- the scene --

    @property
    def config(self) -> int:
        return self.eeprom[CONFIG - EEPROM_BASE]

    @property
    def dual_zone(self) -> bool:
        return bool(self.config & 0x40)

    def settle_ms(self) -> int:
        return settle_ms(self.config)

    def _goal(self) -> float:
        if self._target is not None:
            return self._target
        return self.ambient_c if self.background_c is None else self.background_c

    def object_c(self, now_ms: int) -> float:
        """The filtered object temperature at now_ms, before noise."""
        goal = self._goal()
        if self._y0 is None:
            return goal
        tau = max(self.settle_ms(), 1) / SETTLE_TIME_CONSTANTS
        dt = max(0, now_ms - self._t0)
        return goal + (self._y0 - goal) * math.exp(-dt / tau)

    def set_target(self, now_ms: int, object_c: float | None) -> None:
        """What the sensor sees from now_ms: a forehead at object_c, or None (background)."""
        self._y0 = self.object_c(now_ms)
        self._t0 = now_ms
        self._target = object_c

    def _reported_object_c(self, now_ms: int) -> float:
        value = self.object_c(now_ms)
        emissivity = self.eeprom[EMISSIVITY - EEPROM_BASE] / 65535
        if self.xcx:
            product = self.eeprom[EMISSIVITY - EEPROM_BASE] * self.eeprom[0x0F]
            if abs(product - self._factory_product) > 0.005 * self._factory_product:
                # 0x24 changed without rescaling 0x2F: the readings users report (about
                # -150 C below ambient) until the companion is put right.
                return self.ambient_c - 150.0
        if emissivity >= 1.0:
            return value
        if emissivity <= 0:
            return -KELVIN
        # The sensor divides the object's radiation above ambient by the emissivity.
        ta4 = (self.ambient_c + KELVIN) ** 4
        to4 = ta4 + ((value + KELVIN) ** 4 - ta4) / emissivity
        return math.copysign(abs(to4) ** 0.25, to4) - KELVIN

    # -- SMBus --

    def _check_bus(self, now_ms: int) -> None:
        if self.stuck:
            raise OSError(errno.ETIMEDOUT, "MLX90614 holds SDA low")
        if self.busy_until is not None and now_ms < self.busy_until:
            raise OSError(errno.EIO, "MLX90614 busy writing EEPROM (no ACK)")
        if self.nack_rate and self._rng.random() < self.nack_rate:
            raise OSError(errno.EIO, "no ACK from the MLX90614")

    def _word(self, now_ms: int, command: int) -> int:
        if command == TA_RAM:
            return raw_from_c(self.ambient_c)
        if command == TOBJ1_RAM or (command == TOBJ2_RAM and self.dual_zone):
            noise = self._rng.gauss(0.0, self.noise_c) if self.noise_c else 0.0
            return raw_from_c(self._reported_object_c(now_ms) + noise)
        if command == TOBJ2_RAM:
            return ERROR_FLAG  # single zone: no second object
        if command in (0x04, 0x05):  # raw IR: signed, proportional to To^4 - Ta^4
            signal = (self.object_c(now_ms) + KELVIN) ** 4 - (self.ambient_c + KELVIN) ** 4
            value = int(signal / 2e5)
            return value & 0xFFFF if value >= 0 else 0x8000 | min(-value, 0x7FFF)
        if EEPROM_BASE <= command < EEPROM_BASE + 32:
            return self.eeprom[command - EEPROM_BASE]
        raise OSError(errno.EIO, f"no ACK for command 0x{command:02x}")

    def read_word(self, now_ms: int, command: int) -> bytes:
        """One SMBus read word: LSB, MSB, PEC."""
        self._check_bus(now_ms)
        word = self._word(now_ms, command)
        self.reads += 1
        if command == TOBJ1_RAM:
            self.object_reads += 1
        if (
            command in (TA_RAM, TOBJ1_RAM, TOBJ2_RAM)
            and self.error_flag_rate
            and self._rng.random() < self.error_flag_rate
        ):
            word |= ERROR_FLAG
        lsb, msb = word & 0xFF, word >> 8
        w = self.address << 1
        pec = crc8((w, command, w | 1, lsb, msb))
        if self.pec_corrupt_rate and self._rng.random() < self.pec_corrupt_rate:
            pec ^= 1 << self._rng.randrange(8)
        return bytes((lsb, msb, pec))

    def write_word(self, now_ms: int, command: int, data) -> None:
        """One SMBus write: `data` is LSB, MSB, PEC (the PEC over addr+W, command, LSB, MSB
        is checked; a bad one drops the write as the sensor does), one PEC byte for a bare
        command (0x60 unlock, 0x61 lock), or an int word from a bus that kept the PEC."""
        self._check_bus(now_ms)
        w = self.address << 1
        if command in (UNLOCK, LOCK, SLEEP):
            if isinstance(data, int) or crc8((w, command)) == data[0]:
                self.unlocked = command == UNLOCK
            else:
                self.rejected_writes += 1
            return
        if not EEPROM_BASE <= command < EEPROM_BASE + 32:
            raise OSError(errno.EIO, f"no ACK: command 0x{command:02x} is not writable")
        if isinstance(data, int):
            value = data & 0xFFFF
        else:
            if len(data) < 3 or crc8((w, command, data[0], data[1])) != data[2]:
                self.rejected_writes += 1
                return
            value = data[0] | (data[1] << 8)
        if command in IDENTITY or (command == EMISSIVITY_COMPANION and not self.unlocked):
            self.rejected_writes += 1
            return
        if command == CONFIG:  # the filter changes from now on
            self._y0 = self.object_c(now_ms)
            self._t0 = now_ms
        cell = command - EEPROM_BASE
        old = self.eeprom[cell]
        self.eeprom[cell] = value if value == 0 or old == 0 else value & old
        self.writes += 1
        self.busy_until = now_ms + EEPROM_WRITE_MS

    def bus_recover(self) -> None:
        """Nine SCL clocks and a STOP: the sensor lets go of SDA."""
        self.stuck = False


class SMBusAdapter:
    """The MicroPython I2C API over a model: `readfrom_mem_into`, `writeto_mem` (PEC kept)."""

    def __init__(self, model: MLX90614Model, now: Callable[[], int] = lambda: 0):
        self.model = model
        self.now = now

    def _device(self, addr: int) -> MLX90614Model:
        if addr != self.model.address:
            raise OSError(errno.EIO, f"no ACK from 0x{addr:02x}")
        return self.model

    def readfrom_mem_into(self, addr: int, memaddr: int, buf) -> None:
        data = self._device(addr).read_word(self.now(), memaddr)
        n = min(len(buf), 3)
        buf[:n] = data[:n]

    def writeto_mem(self, addr: int, memaddr: int, buf) -> None:
        self._device(addr).write_word(self.now(), memaddr, bytes(buf))


class BusioAdapter:
    """The CircuitPython busio.I2C API over a model, for adafruit_mlx90614 (reads only)."""

    def __init__(self, model: MLX90614Model, now: Callable[[], int] = lambda: 0):
        self.model = model
        self.now = now
        self._locked = False

    def try_lock(self) -> bool:
        if self._locked:
            return False
        self._locked = True
        return True

    def unlock(self) -> None:
        self._locked = False

    def writeto(self, address, buffer, *, start=0, end=None) -> None:
        if address != self.model.address:
            raise OSError(errno.EIO, "no ACK")

    def readfrom_into(self, address, buffer, *, start=0, end=None) -> None:
        if address != self.model.address:
            raise OSError(errno.EIO, "no ACK")

    def writeto_then_readfrom(
        self,
        address,
        buffer_out,
        buffer_in,
        *,
        out_start=0,
        out_end=None,
        in_start=0,
        in_end=None,
    ) -> None:
        if address != self.model.address:
            raise OSError(errno.EIO, "no ACK")
        out_end = len(buffer_out) if out_end is None else out_end
        in_end = len(buffer_in) if in_end is None else in_end
        if out_end - out_start != 1:
            raise OSError(errno.EIO, "the MLX90614 takes a one-byte command before a read")
        data = self.model.read_word(self.now(), buffer_out[out_start])
        n = min(in_end - in_start, len(data))
        buffer_in[in_start : in_start + n] = data[:n]
