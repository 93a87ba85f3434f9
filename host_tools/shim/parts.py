"""Simulated board parts: I2C bus, input pins with IRQs, output signals, UART, watchdog.

Each part follows the MicroPython API the firmware uses (docs/ARCHITECTURE.md, "The board
object") and keeps a log for the tests. Times are the virtual clock's `elapsed` ms. Faults are
injected per part: a stuck bus (OSError ETIMEDOUT until `recover()`), NACKs from absent devices
(OSError EIO), and UART bytes dropped or corrupted on the wire by a seeded random stream.
"""

import errno

IRQ_FALLING = 1
IRQ_RISING = 2
IRQ_BOTH = IRQ_FALLING | IRQ_RISING


class SimI2C:
    """An SMBus at 100 kHz dispatching register reads and writes to devices by address.

    A device has `read_word(now_ms, command) -> bytes` (LSB, MSB, PEC) and
    `write_word(now_ms, command, data)` with the bytes as sent (LSB, MSB, PEC); either may
    raise OSError (a NACK). `stuck` models a
    slave holding SDA low: every transfer times out until `recover()` clocks it free.
    """

    def __init__(self, clock, devices=None, freq=100_000):
        self.clock = clock
        self.devices = dict(devices or {})
        self.freq = freq
        self.stuck = False
        self.transfers = 0
        self.errors = 0
        self.recoveries = 0
        self.lockups = 0

    def attach(self, address, device):
        self.devices[address] = device

    def lock_up(self):
        """A slave grabs the bus (SDA low) until the next bus recovery."""
        if not self.stuck:
            self.lockups += 1
        self.stuck = True

    def scan(self):
        return [] if self.stuck else sorted(self.devices)

    def _device(self, addr):
        self.transfers += 1
        if self.stuck:
            self.errors += 1
            raise OSError(errno.ETIMEDOUT, "I2C bus stuck (SDA held low)")
        device = self.devices.get(addr)
        if device is None:
            self.errors += 1
            raise OSError(errno.EIO, f"no ACK from address 0x{addr:02x}")
        return device

    def readfrom_mem_into(self, addr, memaddr, buf):
        device = self._device(addr)
        try:
            data = device.read_word(self.clock.elapsed, memaddr)
        except OSError:
            self.errors += 1
            raise
        n = min(len(buf), len(data))
        buf[:n] = data[:n]

    def readfrom_mem(self, addr, memaddr, nbytes):
        buf = bytearray(nbytes)
        self.readfrom_mem_into(addr, memaddr, buf)
        return bytes(buf)

    def writeto_mem(self, addr, memaddr, buf):
        device = self._device(addr)
        try:
            device.write_word(self.clock.elapsed, memaddr, bytes(buf))
        except OSError:
            self.errors += 1
            raise

    def recover(self):
        """Nine SCL clocks and a STOP: every slave lets go of SDA."""
        self.recoveries += 1
        self.stuck = False
        for device in self.devices.values():
            bus_recover = getattr(device, "bus_recover", None)
            if bus_recover is not None:
                bus_recover()
        return self


class SimPin:
    """An input pin: `value()` reads the level; the simulation drives it and fires the IRQ."""

    IRQ_FALLING = IRQ_FALLING
    IRQ_RISING = IRQ_RISING

    def __init__(self, name, level=1):
        self.name = name
        self.level = level
        self.handler = None
        self.trigger = 0
        self.edges = 0
        self.irqs = 0

    def value(self, v=None):
        if v is None:
            return self.level
        self.level = 1 if v else 0
        return None

    def irq(self, handler=None, trigger=IRQ_BOTH, hard=False):
        self.handler = handler
        self.trigger = trigger

    def drive(self, level):
        """Set the level from outside (the scenario); an edge fires the handler if enabled."""
        level = 1 if level else 0
        if level == self.level:
            return
        self.level = level
        self.edges += 1
        wanted = IRQ_RISING if level else IRQ_FALLING
        if self.handler is not None and self.trigger & wanted:
            self.irqs += 1
            self.handler(self)


class SimOutput:
    """An output Signal (pump, buzzer): logs every switch with its time, totals the on time."""

    def __init__(self, clock, name):
        self.clock = clock
        self.name = name
        self.state = 0
        self.log = []  # (elapsed_ms, level) for every change
        self._on_since = None
        self.on_ms_total = 0

    def record(self, t_ms, level):
        level = 1 if level else 0
        if level == self.state:
            return
        self.state = level
        self.log.append((t_ms, level))
        if level:
            self._on_since = t_ms
        else:
            self.on_ms_total += t_ms - self._on_since
            self._on_since = None

    def value(self, v=None):
        if v is None:
            return self.state
        self.record(self.clock.elapsed, v)
        return None

    def on(self):
        self.record(self.clock.elapsed, 1)

    def off(self):
        self.record(self.clock.elapsed, 0)

    @property
    def switches(self):
        return len(self.log)

    def is_on_at(self, t_ms):
        """The level from the last switch at or before `t_ms` (off before any)."""
        level = 0
        for t, switched in self.log:
            if t > t_ms:
                break
            level = switched
        return bool(level)

    def on_ms(self, until_ms=None):
        """Total on time up to `until_ms` (default: now), counting a run still in progress."""
        total = self.on_ms_total
        if self._on_since is not None:
            end = self.clock.elapsed if until_ms is None else until_ms
            total += max(0, end - self._on_since)
        return total

    def longest_on_ms(self, until_ms=None):
        longest = 0
        since = None
        for t, level in self.log:
            if level:
                since = t
            elif since is not None:
                longest = max(longest, t - since)
                since = None
        if since is not None:
            end = self.clock.elapsed if until_ms is None else until_ms
            longest = max(longest, end - since)
        return longest


class SimUART:
    """The firmware's UART at 115200 8N1: tx bytes kept as sent (`tx`) and as they arrive after
    wire faults (`wire`, also handed to every sink); rx bytes injected by the host side."""

    def __init__(self, clock, rng=None, drop_rate=0.0, corrupt_rate=0.0, baud=115200):
        self.clock = clock
        self.rng = rng
        self.drop_rate = drop_rate
        self.corrupt_rate = corrupt_rate
        self.baud = baud
        self.tx = bytearray()
        self.wire = bytearray()
        self.rx = bytearray()
        self.sinks = []
        self.bytes_dropped = 0
        self.bytes_corrupted = 0

    def _through_wire(self, data):
        if not (self.drop_rate or self.corrupt_rate) or self.rng is None:
            return bytes(data)
        out = bytearray()
        rng = self.rng
        for byte in data:
            if self.drop_rate and rng.random() < self.drop_rate:
                self.bytes_dropped += 1
                continue
            if self.corrupt_rate and rng.random() < self.corrupt_rate:
                self.bytes_corrupted += 1
                byte ^= 1 << rng.randrange(8)
            out.append(byte)
        return bytes(out)

    def write(self, buf):
        data = bytes(buf)
        self.tx += data
        out = self._through_wire(data)
        self.wire += out
        for sink in self.sinks:
            sink(out)
        return len(data)

    def inject_rx(self, data):
        self.rx += data

    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=None):
        n = min(len(buf), len(self.rx))
        if nbytes is not None:
            n = min(n, nbytes)
        if n == 0:
            return None
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    def read(self, nbytes=None):
        n = len(self.rx) if nbytes is None else min(nbytes, len(self.rx))
        if n == 0:
            return None
        data = bytes(self.rx[:n])
        del self.rx[:n]
        return data


class SimWatchdog:
    """A watchdog in virtual time: counts the times it would have reset the board."""

    def __init__(self, clock, timeout_ms):
        self.clock = clock
        self.timeout_ms = timeout_ms
        self.last_feed = clock.elapsed
        self.feeds = 0
        self.expiries = 0
        self.longest_gap_ms = 0

    def feed(self):
        self.check()
        self.last_feed = self.clock.elapsed
        self.feeds += 1

    def check(self):
        gap = self.clock.elapsed - self.last_feed
        self.longest_gap_ms = max(self.longest_gap_ms, gap)
        if gap > self.timeout_ms:
            self.expiries += 1
            self.last_feed = self.clock.elapsed
