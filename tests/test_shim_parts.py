"""The simulated board parts: clock, I2C bus, pins, outputs, UART, watchdog, fault plan."""

import errno
import random

import pytest

from host_tools.shim.clock import TICKS_PERIOD, VirtualClock
from host_tools.shim.faults import DEFAULTS, parse_faults
from host_tools.shim.parts import (
    IRQ_BOTH,
    IRQ_FALLING,
    SimI2C,
    SimOutput,
    SimPin,
    SimUART,
    SimWatchdog,
)


class Device:
    """A register device answering read_word with (LSB, MSB, PEC=0)."""

    def __init__(self, word=0x3AD2, fail=False):
        self.word = word
        self.fail = fail
        self.reads = []
        self.writes = []
        self.recovered = 0

    def read_word(self, now_ms, command):
        if self.fail:
            raise OSError(errno.EIO, "nack")
        self.reads.append((now_ms, command))
        return bytes((self.word & 0xFF, self.word >> 8, 0x30))

    def write_word(self, now_ms, command, word):
        self.writes.append((now_ms, command, word))

    def bus_recover(self):
        self.recovered += 1


def test_clock_ticks_wrap_at_2_pow_30():
    clock = VirtualClock(start_ticks=TICKS_PERIOD - 5)
    clock.advance(10)
    assert clock.ticks_ms() == 5
    assert clock.elapsed == 10


def test_clock_refuses_to_go_back():
    clock = VirtualClock()
    clock.advance_to(100)
    with pytest.raises(ValueError):
        clock.advance_to(99)


def test_i2c_read_dispatches_to_the_device_at_the_address_with_the_virtual_time():
    clock = VirtualClock()
    device = Device()
    bus = SimI2C(clock, {0x5A: device})
    clock.advance(1234)
    buf = bytearray(3)
    bus.readfrom_mem_into(0x5A, 0x07, buf)
    assert bytes(buf) == b"\xd2\x3a\x30"
    assert device.reads == [(1234, 0x07)]


def test_i2c_absent_device_is_a_nack_eio():
    bus = SimI2C(VirtualClock(), {0x5A: Device()})
    with pytest.raises(OSError) as info:
        bus.readfrom_mem_into(0x5B, 0x07, bytearray(3))
    assert info.value.errno == errno.EIO
    assert bus.errors == 1


def test_i2c_device_error_propagates_and_is_counted():
    bus = SimI2C(VirtualClock(), {0x5A: Device(fail=True)})
    with pytest.raises(OSError):
        bus.readfrom_mem_into(0x5A, 0x07, bytearray(3))
    assert bus.errors == 1


def test_i2c_write_passes_the_bytes_as_sent_pec_included():
    device = Device()
    bus = SimI2C(VirtualClock(), {0x5A: device})
    bus.writeto_mem(0x5A, 0x24, bytearray((0x34, 0x12, 0x9C)))
    assert device.writes == [(0, 0x24, b"\x34\x12\x9c")]


def test_stuck_bus_times_out_until_recovered():
    device = Device()
    bus = SimI2C(VirtualClock(), {0x5A: device})
    bus.lock_up()
    with pytest.raises(OSError) as info:
        bus.readfrom_mem_into(0x5A, 0x07, bytearray(3))
    assert info.value.errno == errno.ETIMEDOUT
    assert bus.recover() is bus
    bus.readfrom_mem_into(0x5A, 0x07, bytearray(3))
    assert device.recovered == 1 and bus.lockups == 1


def test_pin_fires_handler_on_each_edge_with_both_trigger():
    pin = SimPin("a", 1)
    seen = []
    pin.irq(lambda p: seen.append(p.value()), IRQ_BOTH)
    pin.drive(0)
    pin.drive(0)
    pin.drive(1)
    assert seen == [0, 1]
    assert pin.edges == 2


def test_pin_falling_trigger_ignores_rising_edges():
    pin = SimPin("a", 1)
    seen = []
    pin.irq(handler=lambda p: seen.append(p.value()), trigger=IRQ_FALLING)
    pin.drive(0)
    pin.drive(1)
    assert seen == [0]


def test_output_logs_switches_and_totals_on_time():
    clock = VirtualClock()
    pump = SimOutput(clock, "pump")
    clock.advance(100)
    pump.on()
    clock.advance(250)
    pump.value(0)
    pump.record(1000, 1)
    clock.advance_to(1100)
    assert pump.log == [(100, 1), (350, 0), (1000, 1)]
    assert pump.on_ms() == 350
    assert pump.longest_on_ms() == 250


def test_uart_keeps_sent_bytes_and_hands_wire_bytes_to_sinks():
    uart = SimUART(VirtualClock())
    got = []
    uart.sinks.append(got.append)
    assert uart.write(b"\x01\x02\x00") == 3
    assert bytes(uart.tx) == bytes(uart.wire) == b"\x01\x02\x00"
    assert got == [b"\x01\x02\x00"]


def test_uart_rx_injected_bytes_are_read_back_in_order():
    uart = SimUART(VirtualClock())
    assert uart.any() == 0 and uart.readinto(bytearray(4)) is None
    uart.inject_rx(b"abcdef")
    buf = bytearray(4)
    assert uart.readinto(buf) == 4 and buf == b"abcd"
    assert uart.any() == 2


def test_uart_wire_faults_drop_and_corrupt_bytes_deterministically():
    def wire(seed):
        uart = SimUART(VirtualClock(), random.Random(seed), drop_rate=0.05, corrupt_rate=0.05)
        uart.write(bytes(range(256)) * 8)
        return uart

    a, b = wire(7), wire(7)
    assert a.wire == b.wire
    assert a.bytes_dropped > 0 and a.bytes_corrupted > 0
    assert len(a.wire) == len(a.tx) - a.bytes_dropped
    assert a.wire != a.tx


def test_watchdog_counts_a_feed_gap_longer_than_its_timeout():
    clock = VirtualClock()
    wdt = SimWatchdog(clock, 1000)
    clock.advance(900)
    wdt.feed()
    assert wdt.expiries == 0
    clock.advance(1500)
    wdt.feed()
    assert wdt.expiries == 1 and wdt.longest_gap_ms == 1500


def test_parse_faults_takes_defaults_and_overrides():
    plan = parse_faults("nack, pec=0.2,bounce")
    assert plan.rate("nack") == DEFAULTS["nack"]
    assert plan.rate("pec") == 0.2
    assert plan.rate("flag") == 0.0
    assert plan.names() == ["bounce", "nack", "pec"]


def test_parse_faults_rejects_unknown_names():
    with pytest.raises(ValueError, match="unknown fault"):
        parse_faults("nack,gremlins")


def test_parse_faults_empty_means_no_faults():
    assert not parse_faults("")
    assert not parse_faults(None)
