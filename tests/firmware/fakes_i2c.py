"""A fake SMBus with one MLX90614 on it, for the driver's tests on both interpreters.

Reads answer from `words` (command -> 16-bit word) with a correct PEC computed here with a
bitwise CRC-8 (independently of the driver's table); `pec_xor`, `nack` and `timeout` inject
faults. Writes check their PEC (a bad one is ignored, as the sensor does) and follow the
EEPROM cell's rule: 0x0000 erases, a value over an erased cell is stored, a value over a cell
that was not erased stores value AND old. With `record=True` every transfer and every wait of
`sleep_ms` goes into `log` as a tuple; reads allocate nothing when `record` is False.
"""

import errno

ADDR = 0x5A

FACTORY = {
    0x20: 0x9993,  # To max
    0x21: 0x62E3,  # To min
    0x22: 0x0201,  # PWM control
    0x23: 0xF71C,  # Ta range
    0x24: 0xFFFF,  # emissivity 1.0
    0x25: 0x9FB4,  # config: IIR off, FIR 1024, single zone
    0x2E: 0xBE5A,  # SMBus address 0x5A
    0x2F: 0x0733,  # emissivity companion (xCx parts)
    0x3C: 0x6001,
    0x3D: 0xEBA8,
    0x3E: 0x8213,
    0x3F: 0xE0D2,
}


def crc8_byte(crc, byte):
    crc ^= byte
    for _ in range(8):
        crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def crc8(data, crc=0):
    for byte in data:
        crc = crc8_byte(crc, byte)
    return crc


def raw_from_cc(temp_cc):
    """RAM word for a temperature in hundredths of a degree C (0.02 K per bit); the readable
    temperatures are odd in hundredths (raw * 2 - 27315), so use odd ones."""
    return (temp_cc + 27315) // 2


class FakeI2C:
    def __init__(self, record=False, address=ADDR):
        self.address = address
        self.words = dict(FACTORY)
        self.words[0x06] = raw_from_cc(2201)  # Ta
        self.words[0x07] = raw_from_cc(3401)  # Tobj1
        self.words[0x08] = raw_from_cc(3401)  # Tobj2
        self.record = record
        self.log = []
        self.reads = 0
        self.writes = 0
        self.nack = False
        self.timeout = False
        self.pec_xor = 0
        self.ignore_writes = False  # a cell that does not take the value (worn out)
        self.unlocked = False

    def _fault(self, addr):
        if self.timeout:
            raise OSError(errno.ETIMEDOUT)
        if self.nack or addr != self.address:
            raise OSError(errno.EIO)

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._fault(addr)
        self.reads += 1
        word = self.words.get(memaddr, 0)
        lsb = word & 0xFF
        msb = word >> 8
        w = addr << 1
        pec = crc8_byte(crc8_byte(crc8_byte(crc8_byte(crc8_byte(0, w), memaddr), w | 1), lsb), msb)
        buf[0] = lsb
        buf[1] = msb
        buf[2] = pec ^ self.pec_xor
        if self.record:
            self.log.append(("read", memaddr))

    def writeto_mem(self, addr, memaddr, buf):
        self._fault(addr)
        self.writes += 1
        w = addr << 1
        if len(buf) == 1:  # a bare command: unlock 0x60 / lock 0x61, PEC over addr+W, cmd
            if self.record:
                self.log.append(("command", memaddr, crc8((w, memaddr)) == buf[0]))
            if crc8((w, memaddr)) == buf[0]:
                self.unlocked = memaddr == 0x60
            return
        value = buf[0] | (buf[1] << 8)
        pec_ok = len(buf) == 3 and crc8((w, memaddr, buf[0], buf[1])) == buf[2]
        if self.record:
            self.log.append(("write", memaddr, value, pec_ok))
        if not pec_ok or self.ignore_writes:
            return
        old = self.words.get(memaddr, 0)
        if value == 0 or old == 0:
            self.words[memaddr] = value
        else:
            self.words[memaddr] = value & old

    def eeprom_log(self):
        """The EEPROM writes (command, value) in the log, waits left out."""
        return [(e[1], e[2]) for e in self.log if e[0] == "write"]


class Sleeper:
    """An injected sleep_ms that records each wait into the bus's log."""

    def __init__(self, bus):
        self.bus = bus
        self.total_ms = 0

    def __call__(self, ms):
        self.total_ms += ms
        if self.bus.record:
            self.bus.log.append(("sleep", ms))
