"""The MicroPython runtime: the firmware, unchanged, on the unix port, its board served by the
shim over two pipes (see boards/sim_gate.py for the wire format).

The shim hands the board time slices carrying the beam and tank edges and UART rx bytes, answers
I2C transfers from the World's MLX90614 model at the requested virtual instant, and takes back
the UART tx bytes (through the World's UART, so wire faults apply) and the pump and buzzer
switches with their times. One round trip per slice; I2C requests only while someone is being
measured.

Flash and power cuts: with `flash` (a directory) the board gets a littlefs flash image file
there (FLASH_BLOCKS blocks of 4096 bytes, created erased), mounted by boards/sim_gate.py; it
outlives the process. `power_cuts` (virtual instants, ms) end a slice at each instant and kill
the process there (SIGKILL: nothing more reaches the flash, the UART or the outputs; the pump
and buzzer drop to off), keep the board unpowered for REBOOT_MS (walkers pass uncounted), and
start the firmware again on the same flash. Board times are per boot; the shim adds the boot's
start to map them onto the World's clock.

Watchdog: the board says when it arms its watchdog ('G'). An I2C transfer that starts while the
World's bus hangs (fault bus-hang) never returns: the board is reset by its watchdog at the
transfer's instant plus the timeout (the outputs drop to off, as a reset leaves the pins), and
boots again with reset cause RESET_WATCHDOG. Without an armed watchdog that is a BridgeError.
"""

import errno
import os
import shutil
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

from host_tools.compat import BOARDS_DIR, FIRMWARE_DIR
from host_tools.shim.world import BEAM_A, BEAM_B, TANK

_MAX_EVENTS = 256
_RX_BYTES = 256
_DONE = struct.Struct("<IHHII")
_SWITCH = struct.Struct("<IBB")
_READ = struct.Struct("<BBBI")
FLASH_BLOCKS = 352  # 1.375 MiB: a Raspberry Pi Pico's filesystem
FLASH_IMAGE = "flash.img"
REBOOT_MS = 1500  # power back and the firmware booted again


RESET_POWER_ON = 1  # protocol.RESET_* told to the board at boot
RESET_WATCHDOG = 2


class _PowerCut(Exception):
    """The virtual instant of a power cut was reached."""


class _WatchdogReset(Exception):
    """An I2C transfer hung (fault bus-hang): the board's watchdog resets it at args[0]."""


class BridgeError(RuntimeError):
    """The MicroPython side failed or broke the protocol; carries its stderr."""


def find_micropython():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent))
    if found is None:
        found = shutil.which("micropython")
    if found is None:
        raise BridgeError("the micropython unix port is not installed (.venv/bin/micropython)")
    return found


class MicroPythonRuntime:
    def __init__(
        self,
        world,
        slice_ms=100,
        heapsize="2M",
        micropython=None,
        pacer=None,
        path=None,
        flash=None,
        power_cuts=(),
    ):
        if not 1 <= slice_ms <= 60_000:
            raise ValueError("slice_ms must be 1 .. 60000")
        self.world = world
        self.slice_ms = slice_ms
        self.heapsize = heapsize
        self.micropython = micropython or find_micropython()
        self.pacer = pacer  # callable(elapsed_ms) before every slice (realtime pacing, pty rx)
        # module search path: firmware/ and boards/ unless a test gives its own (a fake main)
        self.path = list(path) if path else [str(FIRMWARE_DIR), str(BOARDS_DIR)]
        self.hello = ""
        self.slices = 0
        self.i2c_requests = 0
        self.mem_free_min = None
        self.mem_free_last = None
        self.watchdog_longest_gap_ms = 0
        self.stderr = ""
        self.returncode = None
        self.flash = flash
        self.slice_for = None  # callable(t) -> the slice length from virtual time t
        self.power_cuts_planned = sorted(power_cuts)
        self.power_cuts = []  # virtual instants the power was actually cut
        self.boots = 0
        self.boot_starts = []  # World time of each boot's board time 0
        self._offset = 0  # World time of this boot's board time 0
        self._cut_at = None
        self._reset_cause = RESET_POWER_ON
        self.watchdog_ms = 0  # armed timeout of this boot's watchdog (0: none)
        self.watchdog_resets = []  # virtual instants the watchdog reset the board

    def flash_image(self):
        """The flash image path (created erased the first time), or None without flash."""
        if self.flash is None:
            return None
        path = Path(self.flash) / FLASH_IMAGE
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(b"\xff" * (FLASH_BLOCKS * 4096))
        return path

    # process --------------------------------------------------------------------------
    def run(self):
        """Boots the firmware, and again after every power cut, until the World ends."""
        world = self.world
        while True:
            now = world.clock.elapsed
            self._cut_at = next((t for t in self.power_cuts_planned if t > now), None)
            if self._cut_at is not None and self._cut_at >= world.end_ms:
                self._cut_at = None
            self._offset = now
            self.boot_starts.append(now)
            self.boots += 1
            self.watchdog_ms = 0
            ended = self._run_once()
            if ended == "end":
                return self
            if ended == "watchdog":
                self.watchdog_resets.append(world.clock.elapsed)
                self._reset_cause = RESET_WATCHDOG
            else:
                self.power_cuts.append(world.clock.elapsed)
                self._reset_cause = RESET_POWER_ON
            world.pump.record(world.clock.elapsed, 0)
            world.buzzer.record(world.clock.elapsed, 0)
            back = min(world.clock.elapsed + REBOOT_MS, world.end_ms)
            world.take_pin_events(back)  # nobody counts them: the gate is off
            world.advance_to(back)
            if back >= world.end_ms:
                return self

    def _run_once(self):
        """One boot of the board: how it ended, "end", "cut" or "watchdog"."""
        ended = "end"
        to_board_r, to_board_w = os.pipe()
        from_board_r, from_board_w = os.pipe()
        env = dict(os.environ)
        env["MICROPYPATH"] = os.pathsep.join(self.path + [".frozen"])
        env["FEVERGATE_SIM_FDS"] = f"{to_board_r},{from_board_w}"
        image = self.flash_image()
        if image is not None:
            env["FEVERGATE_SIM_FLASH"] = f"{image},{FLASH_BLOCKS}"
        errors = tempfile.TemporaryFile()
        cmd = [
            self.micropython,
            "-X",
            f"heapsize={self.heapsize}",
            "-c",
            "import sim_gate; sim_gate.main()",
        ]
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=errors,
            stderr=errors,
            env=env,
            pass_fds=(to_board_r, from_board_w),
            start_new_session=True,  # Ctrl-C stops the shim; the board then sees its pipe close
            cwd=self.path[0],
        )
        os.close(to_board_r)
        os.close(from_board_w)
        self._to = os.fdopen(to_board_w, "wb", buffering=0)
        self._from = os.fdopen(from_board_r, "rb", buffering=1 << 16)
        try:
            self._serve()
        except _PowerCut:
            ended = "cut"
            proc.kill()
        except _WatchdogReset as reset:
            ended = "watchdog"
            proc.kill()
            self.world.take_pin_events(reset.args[0])  # nobody saw them: the loop hung
            self.world.advance_to(min(reset.args[0], self.world.end_ms))
        except (BrokenPipeError, BridgeError) as exc:
            try:
                proc.wait(timeout=2)
            except subprocess.TimeoutExpired:
                proc.kill()  # alive and waiting for an answer that will not come
                proc.wait()
            errors.seek(0)
            self.stderr = errors.read().decode(errors="replace")
            raise BridgeError(f"{exc}\nmicropython said:\n{self.stderr}") from None
        finally:
            for stream in (self._to, self._from):
                try:
                    stream.close()
                except OSError:
                    pass
            if proc.poll() is None:
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            self.returncode = proc.returncode
            errors.seek(0)
            self.stderr = errors.read().decode(errors="replace")
            errors.close()
        return ended

    def _read(self, n):
        data = self._from.read(n)
        if len(data) != n:
            raise BridgeError("the MicroPython board closed its pipe")
        return data

    # protocol -------------------------------------------------------------------------
    def _serve(self):
        world = self.world
        kind = self._read(1)
        if kind != b"H":
            raise BridgeError(f"expected the board's hello, got {kind!r}")
        self.hello = self._read(self._read(1)[0]).decode()
        self._to.write(
            struct.pack(
                "<BIBBBB",
                ord("I"),
                world.clock.start_ticks if self.boots == 1 else 0,
                world.beam_a.value(),
                world.beam_b.value(),
                world.tank.value(),
                self._reset_cause,
            )
        )
        self._slice_end = 0
        handlers = {
            b"R": self._on_read,
            b"W": self._on_write,
            b"C": self._on_recover,
            b"T": self._on_tx,
            b"O": self._on_switches,
            b"D": self._on_done,
            b"G": self._on_watchdog,
        }
        while True:
            kind = self._read(1)
            if kind == b"F":
                self._on_report()
                return
            handler = handlers.get(kind)
            if handler is None:
                raise BridgeError(f"unknown message {kind!r} from the board")
            handler()

    def _at(self, t_ms):
        """Board time `t_ms` of this boot, as World time (advanced to it)."""
        t_ms += self._offset
        if t_ms > self.world.clock.elapsed:
            self.world.advance_to(t_ms)
        return t_ms

    def _on_watchdog(self):
        (self.watchdog_ms,) = struct.unpack("<I", self._read(4))

    def _check_hang(self, t):
        if self.world.bus_hangs_at(t):
            if not self.watchdog_ms:
                raise BridgeError("an I2C transfer hung and the board has no watchdog")
            raise _WatchdogReset(t + self.watchdog_ms)

    def _on_read(self):
        addr, mem, n, t = _READ.unpack(self._read(7))
        t = self._at(t)
        self._check_hang(t)
        self.i2c_requests += 1
        buf = bytearray(n)
        try:
            self.world.i2c.readfrom_mem_into(addr, mem, buf)
        except OSError as exc:
            code = exc.errno if isinstance(exc.errno, int) and 0 < exc.errno < 256 else errno.EIO
            self._to.write(bytes((code,)) + bytes(n))
            return
        self._to.write(b"\x00" + bytes(buf))

    def _on_write(self):
        addr, mem, n, t = _READ.unpack(self._read(7))
        data = self._read(n)
        t = self._at(t)
        self._check_hang(t)
        self.i2c_requests += 1
        try:
            self.world.i2c.writeto_mem(addr, mem, data)
        except OSError as exc:
            code = exc.errno if isinstance(exc.errno, int) and 0 < exc.errno < 256 else errno.EIO
            self._to.write(bytes((code,)))
            return
        self._to.write(b"\x00")

    def _on_recover(self):
        (t,) = struct.unpack("<I", self._read(4))
        self._at(t)
        self.world.i2c.recover()
        self._to.write(b"\x00")

    def _on_tx(self):
        (n,) = struct.unpack("<H", self._read(2))
        self.world.uart.write(self._read(n))

    def _apply_switches(self, n):
        data = self._read(n * _SWITCH.size)
        outputs = (self.world.pump, self.world.buzzer)
        for t, which, level in _SWITCH.iter_unpack(data):
            outputs[which].record(t + self._offset, level)

    def _on_switches(self):
        (n,) = struct.unpack("<H", self._read(2))
        self._apply_switches(n)

    def _on_report(self):
        t, ntx, nout, mem_free, wdt_gap = _DONE.unpack(self._read(_DONE.size))
        t = self._at(t)
        if ntx:
            self.world.uart.write(self._read(ntx))
        self._apply_switches(nout)
        self.mem_free_last = mem_free
        if self.mem_free_min is None or mem_free < self.mem_free_min:
            self.mem_free_min = mem_free
        self.watchdog_longest_gap_ms = max(self.watchdog_longest_gap_ms, wdt_gap)
        return t

    def _on_done(self):
        t = self._on_report()
        world = self.world
        if t >= world.end_ms:
            self._to.write(b"E" + bytes(6))
            return
        if self._cut_at is not None and t >= self._cut_at:
            raise _PowerCut()
        if self.pacer is not None:
            self.pacer(t)
        slice_ms = self.slice_ms if self.slice_for is None else self.slice_for(t)
        end = min(t + slice_ms, world.end_ms)
        if self._cut_at is not None:
            end = min(end, self._cut_at)
        events, end = world.take_pin_events(end, limit=_MAX_EVENTS)
        rx = world.uart.rx[:_RX_BYTES]
        del world.uart.rx[: len(rx)]
        msg = bytearray(struct.pack("<BHHH", ord("S"), end - t, len(events), len(rx)))
        for when, kind, level in events:
            msg += struct.pack("<HBB", when - t, _PIN_INDEX[kind], level)
        msg += rx
        self._to.write(bytes(msg))
        self.slices += 1


_PIN_INDEX = {BEAM_A: 0, BEAM_B: 1, TANK: 2}
