"""The emulated Raspberry Pi Pico, from Python: start it, talk to it, always stop it.

`PicoEmulator` runs `pico_emu.mjs` (node + rp2040js, installed by make into
tools/pico/node_modules) on a MicroPython image, in a folder of its own (flash file, UART0
capture, sockets; the images folder stays read-only). The USB REPL and UART0 each reach the host
as a pseudo-terminal opened here (`tty` for mpremote and `make deploy`, `uart0_tty` for
`fevergate monitor` / `sync`). The control socket drives the beams, the MLX90614 target and
resets (see pico_emu.mjs). Stopping it (the context manager, `stop`, `power_cut`) always ends the
node process; the emulator also ends by itself when the Python process that started it dies.

The images and the bootrom come from FEVERGATE_PICO_DIR (default: ../shared/pico beside the
repo). `python tools/pico/pico_rig.py --help` runs one by hand.
"""

import argparse
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import termios
import threading
import time
import tty
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HARNESS = HERE / "pico_emu.mjs"
NODE_MODULES = HERE / "node_modules"
IMAGE_1_29 = "rp2-pico-v1.29.0-preview.736.g7f59a8dc2a.uf2"
IMAGE_1_22 = "rp2-pico-20231227-v1.22.0.uf2"
BOOTROM = "rp2040-bootrom-b1.bin"
FS_BYTES = 0x200000 - 0xA0000  # the littlefs region the flash file holds
BEAM_A_PIN = 14
BEAM_B_PIN = 15
_BACKLOG_BYTES = 1 << 16  # what a pty keeps for a reader that is not reading, at most


def pico_dir():
    """The folder with the images and the bootrom: FEVERGATE_PICO_DIR, else ../shared/pico
    beside the repo (or ../../shared/pico, for a git worktree kept one folder deeper)."""
    named = os.environ.get("FEVERGATE_PICO_DIR")
    if named:
        return Path(named)
    for up in (ROOT.parent, ROOT.parent.parent):
        if (up / "shared" / "pico").is_dir():
            return up / "shared" / "pico"
    return ROOT.parent / "shared" / "pico"


def unavailable():
    """Why the Pico tier cannot run here (one line), or None when it can."""
    folder = pico_dir()
    missing = [n for n in (IMAGE_1_29, IMAGE_1_22, BOOTROM) if not (folder / n).is_file()]
    if missing:
        return (
            f"Pico tier skipped: {', '.join(missing)} not in {folder}; set FEVERGATE_PICO_DIR to "
            "a folder holding the MicroPython rp2 images and the RP2040 bootrom"
        )
    if shutil.which("node") is None:
        return "Pico tier skipped: no node on PATH; install Node.js 18+ and run make test"
    if not (NODE_MODULES / "rp2040js" / "package.json").is_file():
        return "Pico tier skipped: rp2040js not installed; run `make pico-rig` (npm ci)"
    return None


def image(name=IMAGE_1_29):
    return pico_dir() / name


class PtyBridge:
    """A pseudo-terminal (symlinked at `link`) joined to a Unix stream socket.

    What the host writes to the terminal goes to the socket; what the socket says is written
    for the terminal's reader. With no reader, at most 64 KiB wait (the oldest are dropped),
    like a serial adapter's buffer, so the emulator never blocks on an absent host.
    """

    def __init__(self, sock_path, link):
        self.link = Path(link)
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(str(sock_path))
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self._master, False)
        self.path = os.ttyname(self._slave)
        if self.link.is_symlink() or self.link.exists():
            self.link.unlink()
        self.link.symlink_to(self.path)
        self._pending = bytearray()
        self._wake_r, self._wake_w = os.pipe()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"pty {self.link}", daemon=True)
        self._thread.start()

    def _run(self):
        sock = self._sock.fileno()
        while not self._stop:
            wants = [self._master] if self._pending else []
            try:
                readable, writable, _ = select.select(
                    [sock, self._master, self._wake_r], wants, [], 0.5
                )
            except (OSError, ValueError):
                return
            if sock in readable:
                try:
                    data = self._sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return  # the emulator is gone
                self._pending += data
                if len(self._pending) > _BACKLOG_BYTES:
                    del self._pending[: len(self._pending) - _BACKLOG_BYTES]
            if self._master in readable:
                try:
                    data = os.read(self._master, 65536)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    try:
                        self._sock.sendall(data)
                    except OSError:
                        return
            if self._pending and (self._master in writable or sock in readable):
                try:
                    n = os.write(self._master, self._pending)
                    del self._pending[:n]
                except (BlockingIOError, OSError):
                    pass

    def close(self):
        self._stop = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        self._thread.join(timeout=5)
        for fd in (self._master, self._slave, self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass
        self._sock.close()
        try:
            self.link.unlink()
        except OSError:
            pass


class EmulatorError(RuntimeError):
    """The emulator did not start or did not answer."""


class PicoEmulator:
    """One emulated Pico in `workdir`: `flash` (the littlefs region, kept across runs and
    written through, so a kill is a power cut), `uart0.bin` (every byte UART0 sent), `tty`
    (the USB REPL, for mpremote), `uart0_tty` (UART0, for fevergate), `ctl.sock`."""

    def __init__(
        self,
        workdir,
        image_name=IMAGE_1_29,
        flash=None,
        realtime=False,
        i2c_timing=False,
        flash_timing=False,
        log=None,
    ):
        self.workdir = Path(workdir).resolve()
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.image = image(image_name)
        self.flash = Path(flash).resolve() if flash else self.workdir / "flash.bin"
        self.uart0_out = self.workdir / "uart0.bin"
        self.tty = self.workdir / "tty"
        self.uart0_tty = self.workdir / "uart0"
        self.ctl_sock = self.workdir / "ctl.sock"
        self._cdc_sock = self.workdir / "cdc.sock"
        self._uart_sock = self.workdir / "uart0.sock"
        self.log_path = Path(log).resolve() if log else self.workdir / "emu.log"
        self.options = {
            "realtime": realtime,
            "i2c-timing": i2c_timing,
            "flash-timing": flash_timing,
        }
        self.proc = None
        self._bridges = []
        self._ctl = None
        self._ctl_buf = b""
        self.starts = 0

    # ---- life ----
    def start(self, timeout_s=30.0):
        """Power on (the flash file is loaded if it exists) and wait for the control socket."""
        if self.proc is not None:
            raise EmulatorError("already running")
        for path in (self.ctl_sock, self._cdc_sock, self._uart_sock):
            if path.exists():
                path.unlink()
        cmd = [
            shutil.which("node") or "node",
            str(HARNESS),
            "--image",
            str(self.image),
            "--bootrom",
            str(pico_dir() / BOOTROM),
            "--flash-file",
            str(self.flash),
            "--uart0-out",
            str(self.uart0_out),
            "--ctl",
            str(self.ctl_sock),
            "--cdc-sock",
            str(self._cdc_sock),
            "--uart0-sock",
            str(self._uart_sock),
            "--exit-with-stdin",
        ]
        for name, on in self.options.items():
            if on:
                cmd += [f"--{name}", "1"]
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            cwd=str(HERE),
            start_new_session=True,
        )
        log.close()
        self.starts += 1
        deadline = time.monotonic() + timeout_s
        while not all(p.exists() for p in (self.ctl_sock, self._cdc_sock, self._uart_sock)):
            if self.proc.poll() is not None:
                self.proc = None
                raise EmulatorError(f"emulator exited at start; see {self.log_path}")
            if time.monotonic() > deadline:
                self.stop()
                raise EmulatorError(f"emulator did not start; see {self.log_path}")
            time.sleep(0.05)
        self._bridges = [
            PtyBridge(self._cdc_sock, self.tty),
            PtyBridge(self._uart_sock, self.uart0_tty),
        ]
        return self

    def stop(self):
        """Quit cleanly (the flash file is saved), or kill; always leaves no process."""
        if self.proc is None:
            return
        try:
            self.ctl("quit", timeout_s=5)
        except (OSError, EmulatorError):
            pass
        self._end(wait_s=5)

    def power_cut(self):
        """Kill the emulator at once: the flash file keeps exactly what the flash held."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._end(wait_s=5)

    def _end(self, wait_s):
        proc, self.proc = self.proc, None
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(timeout=10)
        if proc.stdin:
            try:
                proc.stdin.close()
            except OSError:
                pass
        if self._ctl is not None:
            self._ctl.close()
            self._ctl = None
            self._ctl_buf = b""
        for bridge in self._bridges:
            bridge.close()
        self._bridges = []

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    # ---- control socket ----
    def ctl(self, command, timeout_s=60.0):
        """Send one control command (pico_emu.mjs handleCommand) and return its reply."""
        if self.proc is None:
            raise EmulatorError("not running")
        if self._ctl is None:
            self._ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._ctl.connect(str(self.ctl_sock))
        self._ctl.settimeout(timeout_s)
        self._ctl.sendall(command.encode() + b"\n")
        try:
            while b"\n" not in self._ctl_buf:
                data = self._ctl.recv(65536)
                if not data:
                    raise EmulatorError(f"emulator closed the control socket on {command!r}")
                self._ctl_buf += data
        except TimeoutError as exc:
            self._ctl.close()
            self._ctl = None
            self._ctl_buf = b""
            raise EmulatorError(f"no answer to {command.split()[0]!r} in {timeout_s} s") from exc
        line, _, self._ctl_buf = self._ctl_buf.partition(b"\n")
        return line.decode()

    def now_ms(self):
        """Emulated ms since this emulator process started (across chip resets)."""
        return int(self.ctl("time")) / 1e6

    def wait_ms(self, ms, timeout_s=None):
        """Let `ms` of emulated time pass (the wall time depends on how busy the chip is)."""
        if timeout_s is None:
            timeout_s = 60.0 + ms / 1000.0 * 12
        return self.ctl(f"wait-ms {ms}", timeout_s=timeout_s)

    def stats(self):
        return json.loads(self.ctl("stats"))

    def events(self):
        return json.loads(self.ctl("events"))

    def reset(self):
        """The RUN pin: a hard reset (flash kept, reset cause HARD)."""
        return self.ctl("reset")

    def timeline(self, items):
        """Schedule [(t_ms, 'pin', n, 0|1) | (t_ms, 'tobj'|'ambient', c)] from now on."""
        return self.ctl("timeline " + json.dumps([list(i) for i in items]))

    def run_script(self, source, on_line=None, timeout_s=600.0):
        """Runs `source` on the board's REPL (mpremote's raw REPL, after a soft reset) and
        returns what it printed; `on_line(line)` sees each output line as it comes (to drive
        the emulator while the script runs). TransportError if the script raised."""
        from mpremote.transport import TransportError
        from mpremote.transport_serial import SerialTransport

        out = []
        line = bytearray()

        def consume(data):
            for byte in data:
                if byte == 4:  # the raw REPL's end of output
                    continue
                if byte == 10:
                    text = line.decode(errors="replace").rstrip("\r")
                    out.append(text)
                    line.clear()
                    if on_line is not None:
                        on_line(text)
                else:
                    line.append(byte)

        transport = SerialTransport(str(self.tty), baudrate=115200)
        try:
            transport.enter_raw_repl(soft_reset=True)
            transport.exec_raw_no_follow(source)
            _, err = transport.follow(timeout_s, consume)
            transport.exit_raw_repl()
        finally:
            transport.close()
        if line:
            consume(b"\n")
        if err:
            raise TransportError("script failed", err.decode(errors="replace"))
        return out

    def uart_bytes(self):
        """Every byte UART0 sent since this folder's first start."""
        try:
            return self.uart0_out.read_bytes()
        except FileNotFoundError:
            return b""


def scenario_timeline(scenario, with_ambient=True):
    """A shim Scenario (host_tools/shim/scenario.py) as the emulator's timeline: the beam pins
    (active low) and what the MLX90614 sees (a forehead or the background), in scenario ms."""
    items = []
    for beam, pin in (("A", BEAM_A_PIN), ("B", BEAM_B_PIN)):
        for start, end in _merged(scenario.beam_intervals(beam)):
            items.append((start, "pin", pin, 0))
            items.append((end, "pin", pin, 1))
    for t, forehead in scenario.target_changes():
        value = forehead if forehead is not None else scenario.ambient_at(t)
        items.append((t, "tobj", round(value, 3)))
    if with_ambient:
        items.append((0, "ambient", round(scenario.ambient_at(0), 3)))
    items.sort(key=lambda i: i[0])
    return items


def _merged(intervals):
    """Overlapping blocked intervals of one beam (people abreast) as one shadow."""
    out = []
    for start, end in intervals:
        if out and start <= out[-1][1]:
            out[-1][1] = max(out[-1][1], end)
        else:
            out.append([start, end])
    return [tuple(i) for i in out]


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="pico_rig.py",
        description="Run an emulated Pico until Ctrl-C: prints the REPL and UART0 ptys "
        "(mpremote / make deploy PORT=..., fevergate monitor ...) and the control socket.",
    )
    parser.add_argument("--dir", default="build/pico-rig", help="working folder (flash, ptys)")
    parser.add_argument("--image", default=IMAGE_1_29, help=f"image in {pico_dir()}")
    parser.add_argument(
        "--fast",
        action="store_true",
        help="let an idle chip run ahead of the clock (the default keeps to real time)",
    )
    parser.add_argument("--timing", action="store_true", help="I2C and flash timing on")
    parser.add_argument(
        "--walk", type=float, metavar="MINUTES", help="after 5 s, a Poisson scenario this long"
    )
    parser.add_argument("--rate", type=float, default=20.0, help="people a minute (--walk)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    why = unavailable()
    if why:
        print(why)
        return 2
    emu = PicoEmulator(
        args.dir,
        args.image,
        realtime=not args.fast,
        i2c_timing=args.timing,
        flash_timing=args.timing,
    )
    with emu:
        print(f"REPL   {emu.tty}   (make deploy PORT={emu.tty} BOARD=rp2_pico)")
        print(f"UART0  {emu.uart0_tty}   (fevergate monitor {emu.uart0_tty})")
        print(f"ctl    {emu.ctl_sock}   (python tools/pico/ctl.py --sock {emu.ctl_sock} stats)")
        if args.walk:
            sys.path.insert(0, str(ROOT))
            from host_tools.shim.scenario import Scenario

            scenario = Scenario.poisson(args.seed, args.walk, args.rate, min_gap_s=1.0)
            emu.wait_ms(5000)
            emu.timeline(scenario_timeline(scenario))
            print(f"walking {len(scenario.people)} people over {args.walk} min")
        print("Ctrl-C stops it (the flash file stays for the next run)")
        try:
            while emu.proc.poll() is None:
                time.sleep(0.5)
        except KeyboardInterrupt:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
