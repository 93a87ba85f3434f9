"""The in-process CPython runtime: a board object (docs/ARCHITECTURE.md, "The board object")
whose parts are the World's, so firmware/gate.py runs unchanged under CPython, fast.

`sleep_ms(n)` is where simulated time passes: the World applies every scenario event up to
now + n at its own instant (beam edges fire the firmware's IRQ handlers there), and raises
SimulationOver once the end of the scenario is reached.
"""

import os
import sys

from host_tools.shim.parts import IRQ_BOTH, SimWatchdog
from host_tools.shim.world import BEAM_BLOCKED, TANK_OK, SimulationOver


def _reset_power_on():
    from host_tools.wire import protocol

    return getattr(protocol, "RESET_POWER_ON", 1)


class SimBoard:
    NAME = "sim_gate_cpython"
    BEAM_BLOCKED = BEAM_BLOCKED
    TANK_OK = TANK_OK
    IRQ_BOTH = IRQ_BOTH
    UART_BAUD = 115200
    MEM_FREE = 96_000  # a stand-in; the MicroPython runtime reports its real gc.mem_free()

    def __init__(self, world, end_ms=None):
        self.world = world
        self.clock = world.clock
        self.end_ms = world.end_ms if end_ms is None else end_ms
        self.i2c = world.i2c
        self.beam_a = world.beam_a
        self.beam_b = world.beam_b
        self.tank_ok = world.tank
        self.pump = world.pump
        self.buzzer = world.buzzer
        self.uart = world.uart
        self.watchdogs = []
        self.sleeps = 0
        self.FS_ROOT = None  # no filesystem unless use_flash() gives one
        self._fs_bytes = 0

    def use_flash(self, directory, fs_bytes=1_441_792):
        """A filesystem for the gate's state: `directory` on the host (a Pico's 1.375 MiB)."""
        os.makedirs(directory, exist_ok=True)
        self.FS_ROOT = str(directory)
        self._fs_bytes = fs_bytes

    def fs_bytes(self):
        return self._fs_bytes

    def ticks_ms(self):
        return self.clock.ticks_ms()

    def sleep_ms(self, ms):
        self.sleeps += 1
        target = self.clock.elapsed + max(0, int(ms))
        for wdt in self.watchdogs:
            wdt.check()
        if target >= self.end_ms:
            self.world.advance_to(self.end_ms)
            raise SimulationOver()
        self.world.advance_to(target)

    def recover_i2c(self):
        self.i2c = self.i2c.recover()
        return self.i2c

    def watchdog(self, timeout_ms):
        wdt = SimWatchdog(self.clock, timeout_ms)
        self.watchdogs.append(wdt)
        return wdt

    def reset_cause(self):
        return _reset_power_on()

    def mem_free(self):
        return self.MEM_FREE

    def device_id(self):
        """'CP' and the CPython version: the boot record says which runtime ran the firmware."""
        return 0x43500000 | (sys.version_info[0] << 8) | sys.version_info[1]
