"""A live simulated gate on a pseudo-terminal whose cable can be pulled, and whose wire can
damage chosen frames every time: the technician's day in tests (tests/test_technician.py).

`CablePty(pull_after_commands=N)` closes the master side as the gate is about to get the
host's N-th command frame (the host then sees EIO, as when a USB adapter is unplugged);
`pull_after_replays=N` lets nothing through after N journal records went to the host and
closes it 0.3 s later (the host has read them by then); `damage_replays`
(a set of sequence numbers) flips a byte of every REPLAY frame carrying one of them.
`running_gate(pty, flash, people)` runs the firmware (CPython runtime, its flash journal in
`flash`) in a thread against that pty at 20x real time until the caller is done with it.
"""

import contextlib
import os
import threading
import time

from host_tools.decoder import Status, decode_frame
from host_tools.shim.pty_port import PtyPort
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.shim.world import SimulationOver


class CablePty(PtyPort):
    def __init__(self, pull_after_commands=None, pull_after_replays=None, damage_replays=()):
        super().__init__()
        self.pull_after_commands = pull_after_commands
        self.pull_after_replays = pull_after_replays
        self.damage_replays = set(damage_replays)
        self.commands = 0
        self.replays = 0
        self.damaged = 0
        self.pulled = False
        self._pending = b""
        self._lock = threading.RLock()  # pull() may come from another thread
        self._held = False
        self._timer = None

    def pull(self):
        """The cable out: the master side closed once (its fd number is never used again)."""
        with self._lock:
            if not self.pulled:
                self.pulled = True
                os.close(self.master)

    def pull_later(self, delay_s):
        """Pull the cable `delay_s` from now (while a command runs)."""
        timer = threading.Timer(delay_s, self.pull)
        timer.start()
        return timer

    def read_available(self, limit=4096):
        with self._lock:
            return self._read_available(limit)

    def _read_available(self, limit):
        if self.pulled:
            return b""
        data = super().read_available(limit)
        self.commands += data.count(b"\x00")  # command frames from the host, so far
        if data and self.pull_after_commands is not None:
            if self.commands >= self.pull_after_commands:
                self.pull()
                return b""
        return data

    def write(self, data):
        with self._lock:
            self._write(data)

    def _write(self, data):
        if self.pulled or self._held:
            self.lost += len(data)
            return
        data = self._pending + bytes(data)
        *frames, self._pending = data.split(b"\x00")
        for frame in frames:
            frame = self._damaged(frame)
            super().write(frame + b"\x00")
            if self.pulled:
                return
            if self.pull_after_replays is not None and self.replays >= self.pull_after_replays:
                # nothing more gets through; the host reads what did, then the cable goes
                self.lost += len(self._pending)
                self._pending = b""
                self._held = True
                if self._timer is None:
                    self._timer = self.pull_later(0.3)
                return

    def _damaged(self, frame):
        if not frame:
            return frame
        event = decode_frame(frame)
        if event.status is not Status.REPLAY:
            return frame
        self.replays += 1
        if event.record.seq in self.damage_replays:
            self.damaged += 1
            frame = bytearray(frame)
            frame[len(frame) // 2] ^= 0x10 if frame[len(frame) // 2] != 0x10 else 0x20
            return bytes(frame)
        return frame

    def close(self):
        if self._timer is not None:
            self._timer.cancel()
        fds = [self._slave] if self.pulled else [self.master, self._slave]
        for fd in fds:
            with contextlib.suppress(OSError):
                os.close(fd)


class _Stopper:
    """Ends the simulation when `stop` is set (a `host` for run_simulation that only listens)."""

    connect_ms = 0

    def __init__(self, stop):
        self.stop = stop
        self.world = None

    def attach(self, world):
        self.world = world

    def wait_until(self, elapsed_ms, timeout_s=30.0):
        """Block until the gate's virtual clock reached `elapsed_ms` (the machine may be slow)."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.world is not None and self.world.clock.elapsed >= elapsed_ms:
                return
            time.sleep(0.02)
        raise TimeoutError(f"the simulated gate did not reach {elapsed_ms} ms")

    def at(self, elapsed_ms):
        if self.stop.is_set():
            raise SimulationOver

    def finish(self):
        pass


@contextlib.contextmanager
def running_gate(pty, flash, people=(), duration_ms=600_000, factor=20.0, ambient_c=22.0):
    """The firmware on the CPython runtime in a thread, its UART on `pty`; yields once it has
    sent its first bytes, an object whose `wait_until(ms)` waits for the gate's clock; on the
    way out the simulation stops (or ends with its scenario)."""
    scenario = Scenario.scripted(list(people), duration_ms, ambient_c=ambient_c)
    stop = threading.Event()
    stopper = _Stopper(stop)

    def gate():
        run_simulation(
            scenario,
            runtime="cpython",
            pty=pty,
            realtime_factor=factor,
            flash=str(flash),
            host=stopper,
        )

    thread = threading.Thread(target=gate, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while pty.written == 0 and pty.lost == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    try:
        yield stopper
    finally:
        stop.set()
        thread.join(timeout=30)
