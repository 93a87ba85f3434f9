"""A whole fake gate board for Gate tests, on both interpreters, allocating nothing per tick.

The fake MLX90614 answers read-word commands with a correct SMBus PEC (computed here,
independently of the driver) and the temperature set in `object_raw`; pins call their IRQ
handler when `drive()` changes their level; the UART counts bytes and keeps the first
`capture` bytes.
"""

from fakes_i2c import crc8_byte, raw_from_cc

_ADDR = 0x5A


class FakeI2C:
    def __init__(self):
        self.object_raw = raw_from_cc(2200)
        self.ambient_raw = raw_from_cc(2200)
        self.config = 0x9FB4
        self.reads = 0
        self.failed_reads = 0  # reads that were tried and failed (NACK)
        self.ambient_reads = 0
        self.nack = False
        self._frame = bytearray(5)

    def _word(self, command):
        if command == 0x07:
            return self.object_raw
        if command == 0x06:
            self.ambient_reads += 1
            return self.ambient_raw
        if command == 0x25:
            return self.config
        if command == 0x24:
            return 0xFFFF
        return 0x1234 + command

    def readfrom_mem_into(self, addr, memaddr, buf):
        if self.nack or addr != _ADDR:
            self.failed_reads += 1
            raise OSError(5)
        self.reads += 1
        word = self._word(memaddr)
        lsb = word & 0xFF
        msb = word >> 8
        pec = 0
        frame = self._frame
        frame[0] = _ADDR << 1
        frame[1] = memaddr
        frame[2] = (_ADDR << 1) | 1
        frame[3] = lsb
        frame[4] = msb
        for byte in frame:
            pec = crc8_byte(pec, byte)
        buf[0] = lsb
        buf[1] = msb
        buf[2] = pec

    def writeto_mem(self, addr, memaddr, buf):
        raise AssertionError("the gate must never write the sensor's EEPROM in normal running")


class FakePin:
    def __init__(self, level=1):
        self.level = level
        self.handler = None

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = v

    def irq(self, handler=None, trigger=0, hard=False):
        self.handler = handler
        self.hard = hard

    def drive(self, level):
        if level != self.level:
            self.level = level
            if self.handler is not None:
                self.handler(self)


class FakeSignal:
    def __init__(self):
        self.state = 0
        self.switches = 0

    def value(self, v=None):
        if v is None:
            return self.state
        v = 1 if v else 0
        if v != self.state:
            self.switches += 1
        self.state = v

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class FakeUART:
    def __init__(self, capture=4096):
        self.written = 0
        self.data = bytearray(capture)
        self.rx = bytearray()  # bytes the host sent (feed), read by the gate's commands
        self.stalled = False  # True: write takes nothing (a UART whose FIFO stays full)
        self.short = 0  # > 0: the next `short` writes take one byte less than given

    def feed(self, data):
        self.rx.extend(data)

    def write(self, buf):
        if self.stalled:
            return 0
        n = len(buf)
        if self.short:
            self.short -= 1
            n -= 1
        room = len(self.data) - self.written
        if room > 0:
            self.data[self.written : self.written + min(n, room)] = buf[: min(n, room)]
        self.written += n
        return n

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=-1):
        n = min(len(self.rx), len(buf), nbytes if nbytes >= 0 else len(buf))
        if not n:
            return None
        for i in range(n):
            buf[i] = self.rx[i]
        self.rx = self.rx[n:]
        return n


class FakeBoard:
    NAME = "fake"
    UART_BAUD = 115200
    BEAM_BLOCKED = 0
    TANK_OK = 0
    IRQ_BOTH = 3
    IRQ_HARD = True

    def __init__(self, start_ms=0, two_beams=True, tank=True):
        self.now = start_ms
        self.irq_off = False  # inside the board's critical section
        self.critical_sections = 0
        self.unbalanced = 0
        self.i2c = FakeI2C()
        self.beam_a = FakePin(1)
        self.beam_b = FakePin(1) if two_beams else None
        self.tank_ok = FakePin(0) if tank else None
        self.pump = FakeSignal()
        self.buzzer = FakeSignal()
        self.uart = FakeUART()
        self.recovered = 0
        self.broken = False  # True: a bus recovery does not bring the sensor back

    def disable_irq(self):
        if self.irq_off:
            self.unbalanced += 1
        self.irq_off = True
        self.critical_sections += 1
        return 5

    def enable_irq(self, state):
        if not self.irq_off or state != 5:
            self.unbalanced += 1
        self.irq_off = False

    def recover_i2c(self):
        self.recovered += 1
        if not self.broken:
            self.i2c.nack = False
        return self.i2c

    def ticks_ms(self):
        return self.now

    def sleep_ms(self, ms):
        self.now = (self.now + ms) & ((1 << 30) - 1)

    def watchdog(self, timeout_ms):
        return None

    def reset_cause(self):
        return 1

    def mem_free(self):
        return 100000

    def device_id(self):
        return 0x00C0FFEE


class CommandUART(FakeUART):
    """A FakeUART that also receives: `send(frame)` queues command bytes in a preallocated
    buffer, which `any`/`readinto` hand over without allocating (for heap_lock tests)."""

    def __init__(self, capture=0, rx_bytes=256):
        super().__init__(capture)
        self._rx = bytearray(rx_bytes)
        self._rx_n = 0
        self._rx_i = 0
        self.rx_dropped = 0

    def send(self, frame):
        """Queue `frame`; dropped (counted in rx_dropped) when nobody reads and it is full."""
        n = len(frame)
        if self._rx_i == self._rx_n:
            self._rx_i = self._rx_n = 0
        if self._rx_n + n > len(self._rx):
            self.rx_dropped += 1
            return
        for i in range(n):
            self._rx[self._rx_n + i] = frame[i]
        self._rx_n += n

    def any(self):
        return self._rx_n - self._rx_i

    def readinto(self, buf, nbytes=-1):
        n = self._rx_n - self._rx_i
        if 0 <= nbytes < n:
            n = nbytes
        if n > len(buf):
            n = len(buf)
        if n <= 0:
            return None
        i0 = self._rx_i
        rx = self._rx
        for i in range(n):
            buf[i] = rx[i0 + i]
        self._rx_i = i0 + n
        return n
