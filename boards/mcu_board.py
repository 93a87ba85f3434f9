"""The parts every microcontroller gate board shares, built from machine.Pin, I2C, UART, WDT.

A board file (rp2_pico.py, esp32_devkit.py) gives only its pins, buses and polarities in a
`Pins` class and builds `McuBoard(Pins)`. The MLX90614 wants SMBus at 100 kHz, not 400.
Beam edges are hard interrupts (IRQ_HARD): time-stamped as they happen, even while the loop
is late; the edge log is drained inside machine.disable_irq()/enable_irq() (`disable_irq`,
`enable_irq` below, handed to the BeamCounter). `ticks_ms` is time.ticks_ms itself, so the
interrupt handler calls C directly.
The gate's flash state (counters, settings, record journal) lives under FS_ROOT on the board's
own littlefs root filesystem, beside the firmware files.
"""

import gc
import os
import time

import machine
from machine import I2C, UART, WDT, Pin, Signal
from micropython import const

import protocol

_I2C_HZ = const(100_000)
_UART_BAUD = const(115200)


class McuBoard:
    UART_BAUD = _UART_BAUD
    BEAM_BLOCKED = 0
    TANK_OK = 0
    IRQ_BOTH = Pin.IRQ_RISING | Pin.IRQ_FALLING
    IRQ_HARD = True
    FS_ROOT = "/data"

    def __init__(self, pins):
        self.NAME = pins.NAME
        self._pins = pins
        self.BEAM_BLOCKED = pins.BEAM_BLOCKED
        self.TANK_OK = pins.TANK_OK
        # the critical section for the beam edge log, and the clock its handlers stamp with
        self.disable_irq = machine.disable_irq
        self.enable_irq = machine.enable_irq
        self.ticks_ms = time.ticks_ms
        # Outputs first, driven to their off level, so the pump cannot run while the rest boots.
        pump_pin = Pin(pins.PUMP, Pin.OUT, value=1 if pins.PUMP_ACTIVE_LOW else 0)
        self.pump = Signal(pump_pin, invert=bool(pins.PUMP_ACTIVE_LOW))
        self.buzzer = Signal(Pin(pins.BUZZER, Pin.OUT, value=0), invert=False)
        self.beam_a = self._beam_pin(pins.BEAM_A)
        self.beam_b = self._beam_pin(pins.BEAM_B) if pins.BEAM_B is not None else None
        self.tank_ok = Pin(pins.TANK, Pin.IN, Pin.PULL_UP) if pins.TANK is not None else None
        self.i2c = self._make_i2c()
        self.uart = UART(
            pins.UART_ID,
            baudrate=_UART_BAUD,
            tx=Pin(pins.UART_TX),
            rx=Pin(pins.UART_RX),
            txbuf=1024,
            rxbuf=256,
        )

    def _beam_pin(self, number):
        if self._pins.BEAM_PULL_UP:
            return Pin(number, Pin.IN, Pin.PULL_UP)
        return Pin(number, Pin.IN)

    def _make_i2c(self):
        pins = self._pins
        return I2C(pins.I2C_ID, sda=Pin(pins.SDA), scl=Pin(pins.SCL), freq=_I2C_HZ)

    def recover_i2c(self):
        """Free a bus held by a slave: clock SCL until SDA is released, send a STOP, rebuild."""
        scl = Pin(self._pins.SCL, Pin.OPEN_DRAIN, value=1)
        sda = Pin(self._pins.SDA, Pin.OPEN_DRAIN, value=1)
        for _ in range(9):
            if sda.value():
                break
            scl.value(0)
            time.sleep_us(5)
            scl.value(1)
            time.sleep_us(5)
        sda.value(0)
        time.sleep_us(5)
        sda.value(1)
        self.i2c = self._make_i2c()
        return self.i2c

    def sleep_ms(self, ms):
        time.sleep_ms(ms)

    def watchdog(self, timeout_ms):
        return WDT(timeout=min(timeout_ms, self._pins.WDT_MAX_MS))

    def reset_cause(self):
        cause = machine.reset_cause()
        if cause == machine.PWRON_RESET:
            return protocol.RESET_POWER_ON
        if cause == machine.WDT_RESET:
            return protocol.RESET_WATCHDOG
        if cause == getattr(machine, "SOFT_RESET", -1):
            return protocol.RESET_SOFT
        if cause == getattr(machine, "HARD_RESET", -1):
            return protocol.RESET_HARD
        return protocol.RESET_UNKNOWN

    def mem_free(self):
        return gc.mem_free()

    def fs_bytes(self):
        """Size of the filesystem holding FS_ROOT (the journal ring is sized from it)."""
        st = os.statvfs("/")
        return st[0] * st[2]

    def device_id(self):
        uid = machine.unique_id()
        return (uid[-4] << 24 | uid[-3] << 16 | uid[-2] << 8 | uid[-1]) & 0xFFFFFFFF
