"""MLX90614 infrared thermometer driver: PEC-checked SMBus reads in integer centi-degrees C.

Hardware facts (datasheet Rev 13, melexis/i2c-stick reference driver):
- SMBus at 10..100 kHz (not 400 kHz); default 7-bit address 0x5A (EEPROM 0x2E holds it).
- Read word: START, addr+W, command, repeated START, addr+R, LSB, MSB, PEC, STOP. The word is
  little-endian (LSB first). Command = 0x00 | RAM address or 0x20 | EEPROM address.
- PEC: CRC-8, polynomial 0x07, initial 0, over addr+W, command, addr+R, LSB, MSB on a read and
  over addr+W, command, LSB, MSB on a write. The sensor ignores a write with a bad PEC.
- Temperatures (RAM 0x06 Ta, 0x07 Tobj1, 0x08 Tobj2) are 0.02 K per bit; bit 15 set is the
  error flag. In hundredths of a degree C: raw * 2 - 27315, exact. Object range -70.01 C ..
  +382.19 C, ambient -40.01 .. +125.01 C (the datasheet's -40 .. 125 C, one LSB of
  margin each side as the nearest raw words read); 0x0000 and 0xFFFF are never readings.
- EEPROM (0x20..0x3F) is written only by maintenance calls (`write_eeprom`, `set_emissivity`):
  erase (write 0x0000), wait >= 10 ms, write, wait, read back. Nothing here writes it at
  construction or on a read. 0x24 emissivity (65535 = 1.0), 0x25 config (IIR bits 2..0,
  dual zone bit 6, FIR bits 10..8), 0x2F emissivity companion of the gradient-compensated
  (xCx) parts, 0x3C..0x3F identity.

Every failure raises SensorError(code, message) with a protocol.FAULT_SENSOR_* code; a failed
read never returns a number. The read path allocates nothing: one bytearray(3) filled by
`readfrom_mem_into`, the PEC from a 256-byte table built at import.
"""

from errno import ETIMEDOUT

from micropython import const

try:
    from protocol import (
        FAULT_BUS_STUCK,
        FAULT_SENSOR_FLAG,
        FAULT_SENSOR_NACK,
        FAULT_SENSOR_PEC,
        FAULT_SENSOR_RANGE,
    )
except ImportError:  # protocol.py not present (a stand-alone copy of the driver)
    FAULT_SENSOR_NACK = const(1)
    FAULT_SENSOR_PEC = const(2)
    FAULT_SENSOR_FLAG = const(3)
    FAULT_SENSOR_RANGE = const(4)
    FAULT_BUS_STUCK = const(5)

_ADDRESS = const(0x5A)
_RAW_IR1 = const(0x04)
_TA = const(0x06)
_TOBJ1 = const(0x07)
_TOBJ2 = const(0x08)
_EEPROM_FIRST = const(0x20)
_EEPROM_LAST = const(0x3F)
_EMISSIVITY = const(0x24)
_CONFIG = const(0x25)
_EMISSIVITY_COMPANION = const(0x2F)
_ID_FIRST = const(0x3C)
_UNLOCK = const(0x60)  # melexis: unlock the emissivity companion cell
_LOCK = const(0x61)

_ERROR_FLAG = const(0x8000)
_KELVIN_CC = const(27315)
_OBJECT_MIN_CC = const(-7001)
_OBJECT_MAX_CC = const(38219)
_AMBIENT_MIN_CC = const(-4001)  # raw 0x2D89: -40.00 C, one LSB of margin as for the object
_AMBIENT_MAX_CC = const(12501)  # raw 0x4DC4: 125.00 C
_EEPROM_WAIT_MS = const(10)
_COMPANION_MAX = const(0x7FFF)
_DUAL_ZONE_BIT = const(0x40)


def _make_table():
    table = bytearray(256)
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table[i] = crc
    return table


_PEC = _make_table()

# Settling time of the object reading by config 0x25 (see settle_ms for the derivation).
# FIR bits 10..8 -> N = 8 << bits; settling with the IIR off, in ms (anchors: 40 ms at
# N=128 and 100 ms at N=1024 from the datasheet; a line through them, 31.4 + N * 0.067 ms).
_FIR_MS = b"\x20\x20\x21\x24\x28\x30\x42\x64"  # 32 32 33 36 40 48 66 100
# IIR bits 2..0 -> -3 dB bandwidth at FIR 1024, centi-Hz (Linux IIO driver mlx90614.c, from
# Melexis): 000 a=0.5, 001 0.25, 010 0.167, 011 0.125, 100 off, 101 0.8, 110 0.667, 111 0.571.
_IIR_BW_CHZ = (77, 31, 20, 15, 723, 153, 110, 86)
_BW_IIR_OFF_CHZ = const(723)


def pec8(crc, byte):
    """One byte into an SMBus PEC (CRC-8, polynomial 0x07)."""
    return _PEC[crc ^ byte]


def settle_ms_for(config):
    """Settling time in ms of the object reading for a config register (0x25) value."""
    fir_ms = _FIR_MS[(config >> 8) & 7]
    bandwidth = _IIR_BW_CHZ[config & 7]
    return (fir_ms * _BW_IIR_OFF_CHZ + bandwidth // 2) // bandwidth


def _muldiv(a, b, c):
    """round(a * b / c) for 0 <= a, c <= 65535 (c > 0), 0 <= b <= 32767, every intermediate
    within 2**30 (a * b itself would not be on a 32-bit port)."""
    q, r = divmod(a, c)
    hi = b >> 8
    lo = b & 0xFF
    q1, r1 = divmod(r * hi, c)
    return q * b + q1 * 256 + (r1 * 256 + r * lo + c // 2) // c


class SensorError(OSError):
    """A failed MLX90614 transfer: args[0] is a protocol.FAULT_* code, args[1] a message."""


class MLX90614:
    """The sensor on an I2C bus with the MicroPython API (`readfrom_mem_into`, `writeto_mem`)."""

    def __init__(self, i2c, address=_ADDRESS, sleep_ms=None):
        self._i2c = i2c
        self.address = address
        self._sleep_ms = sleep_ms  # the board's wait, for EEPROM writes only
        self._buf = bytearray(3)  # LSB, MSB, PEC of the last read
        self._wbuf = bytearray(3)  # LSB, MSB, PEC of a write
        self._cbuf = bytearray(1)  # PEC of a bare command (unlock/lock)
        self.eeprom_writes = 0  # erase+write cycles done (each one wears a cell)
        self.recoveries = 0

    # -- reads --

    def read_word(self, command):
        """The 16-bit word at `command`, PEC checked. SensorError on NACK or bad PEC."""
        buf = self._buf
        try:
            self._i2c.readfrom_mem_into(self.address, command, buf)
        except OSError as exc:
            if exc.args and exc.args[0] == ETIMEDOUT:
                raise SensorError(FAULT_BUS_STUCK, "I2C bus stuck (timeout)") from None
            raise SensorError(FAULT_SENSOR_NACK, "no ACK from the MLX90614") from None
        w = self.address << 1
        pec = _PEC[_PEC[_PEC[_PEC[_PEC[w] ^ command] ^ (w | 1)] ^ buf[0]] ^ buf[1]]
        if pec != buf[2]:
            raise SensorError(FAULT_SENSOR_PEC, "PEC mismatch")
        return buf[0] | (buf[1] << 8)

    def _temp_cc(self, command, low_cc, high_cc):
        word = self.read_word(command)
        if word == 0xFFFF or word == 0:
            raise SensorError(FAULT_SENSOR_RANGE, "implausible temperature word")
        if word & _ERROR_FLAG:
            raise SensorError(FAULT_SENSOR_FLAG, "error flag set")
        cc = word * 2 - _KELVIN_CC
        if cc < low_cc or cc > high_cc:
            raise SensorError(FAULT_SENSOR_RANGE, "temperature out of range")
        return cc

    def object_temp_cc(self):
        """Object temperature (Tobj1) in hundredths of a degree C."""
        return self._temp_cc(_TOBJ1, _OBJECT_MIN_CC, _OBJECT_MAX_CC)

    def object2_temp_cc(self):
        """Second zone (Tobj2) of a dual-zone part, in hundredths of a degree C."""
        return self._temp_cc(_TOBJ2, _OBJECT_MIN_CC, _OBJECT_MAX_CC)

    def ambient_temp_cc(self):
        """Ambient (die) temperature in hundredths of a degree C."""
        return self._temp_cc(_TA, _AMBIENT_MIN_CC, _AMBIENT_MAX_CC)

    def identity(self):
        """The four identity words (EEPROM 0x3C..0x3F)."""
        rw = self.read_word
        return (rw(_ID_FIRST), rw(_ID_FIRST + 1), rw(_ID_FIRST + 2), rw(_ID_FIRST + 3))

    def config(self):
        return self.read_word(_CONFIG)

    def emissivity(self):
        """Emissivity register: 65535 = 1.0."""
        return self.read_word(_EMISSIVITY)

    def dual_zone(self):
        return bool(self.read_word(_CONFIG) & _DUAL_ZONE_BIT)

    def settle_ms(self):
        """Settling time of the object reading in ms, from the IIR and FIR bits of 0x25.

        The datasheet gives 0.04 s for IIR off with FIR 128 and 0.10 s for the standard
        factory setting (0x9FB4: IIR off, FIR 1024); its full IIR table is not at hand. The
        FIR part is the line through those two points; the IIR part scales that time by the
        ratio of the -3 dB bandwidths (Linux IIO driver, Melexis figures): IIR 0.667 with FIR
        1024 gives 657 ms, the 0.65 s of the medical DCH/DCI parts.
        """
        return settle_ms_for(self.read_word(_CONFIG))

    # -- maintenance: EEPROM --

    def _write(self, command, value):
        buf = self._wbuf
        buf[0] = value & 0xFF
        buf[1] = (value >> 8) & 0xFF
        w = self.address << 1
        buf[2] = _PEC[_PEC[_PEC[_PEC[w] ^ command] ^ buf[0]] ^ buf[1]]
        try:
            self._i2c.writeto_mem(self.address, command, buf)
        except OSError as exc:
            if exc.args and exc.args[0] == ETIMEDOUT:
                raise SensorError(FAULT_BUS_STUCK, "I2C bus stuck (timeout)") from None
            raise SensorError(FAULT_SENSOR_NACK, "no ACK on write") from None

    def _command(self, command):
        self._cbuf[0] = _PEC[_PEC[self.address << 1] ^ command]
        try:
            self._i2c.writeto_mem(self.address, command, self._cbuf)
        except OSError:
            raise SensorError(FAULT_SENSOR_NACK, "no ACK on command") from None

    def _sleeper(self, sleep_ms):
        if sleep_ms is None:
            sleep_ms = self._sleep_ms
        if sleep_ms is None:  # not injected: a board's own blocking wait (MicroPython only)
            import time

            sleep_ms = getattr(time, "sleep_ms", None)
            if sleep_ms is None:
                raise ValueError("EEPROM writes need sleep_ms")
        return sleep_ms

    def write_eeprom(self, address, value, sleep_ms=None):
        """Maintenance only: erase the cell, wait, write `value`, wait, read back.

        `address` is the EEPROM command 0x20..0x3B (identity is factory data); `sleep_ms(ms)`
        is the board's wait (default: the one given to the constructor). SensorError
        (FAULT_SENSOR_PEC) if the read-back differs (the sensor drops a write whose PEC it
        rejects, and a write over a cell that was not erased stores garbage)."""
        if address < _EEPROM_FIRST or address >= _ID_FIRST or not 0 <= value <= 0xFFFF:
            raise ValueError("EEPROM address or value out of range")
        sleep_ms = self._sleeper(sleep_ms)
        self.eeprom_writes += 1
        self._write(address, 0)
        sleep_ms(_EEPROM_WAIT_MS)
        self._write(address, value)
        sleep_ms(_EEPROM_WAIT_MS)
        if self.read_word(address) != value:
            raise SensorError(FAULT_SENSOR_PEC, "EEPROM read-back differs")

    def set_emissivity(self, value, sleep_ms=None, companion=True):
        """Maintenance only: write emissivity (65535 = 1.0) the way melexis/i2c-stick does.

        The gradient-compensated parts (xCx: DCC, DCH, DCI) keep the product of 0x24 and 0x2F
        constant: 0x2F becomes round(old_0x24 * old_0x2F / new_0x24) (must stay <= 0x7FFF),
        written between the unlock (0x60) and lock (0x61) commands. Melexis' driver does this
        on every part; `companion=False` writes 0x24 alone (enough on xAx parts such as BAA).
        Nothing is written when the value is already there."""
        if not 1 <= value <= 0xFFFF:
            raise ValueError("emissivity out of range")
        sleep_ms = self._sleeper(sleep_ms)
        current = self.read_word(_EMISSIVITY)
        if current == value:
            return
        if not companion:
            self.write_eeprom(_EMISSIVITY, value, sleep_ms)
            return
        new_companion = _muldiv(current, self.read_word(_EMISSIVITY_COMPANION), value)
        if new_companion > _COMPANION_MAX:
            raise SensorError(FAULT_SENSOR_RANGE, "emissivity companion out of range")
        self._command(_UNLOCK)
        try:
            self.write_eeprom(_EMISSIVITY, value, sleep_ms)
            self.write_eeprom(_EMISSIVITY_COMPANION, new_companion, sleep_ms)
        finally:
            self._command(_LOCK)

    # -- bus recovery --

    def recover(self, recover_i2c):
        """Run the board's bus recovery (SCL clocks, STOP, new bus) and use the bus it returns.
        Returns True, or False when the recovery itself failed (the old bus is kept)."""
        self.recoveries += 1
        try:
            self._i2c = recover_i2c()
        except OSError:
            return False
        return True
