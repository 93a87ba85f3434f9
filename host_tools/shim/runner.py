"""Runs the firmware against a simulated gate, in either runtime, and returns what happened.

`run_simulation(scenario, runtime="micropython" | "cpython", ...)` builds the World, wires the
UART to its sinks (a capture, the pty), paces virtual time against the wall clock when asked
(`realtime_factor` > 0: that many simulated seconds per wall second; 0: as fast as possible),
feeds bytes the host wrote to the pty into the firmware's UART rx, and runs the firmware until
the scenario ends. The result holds the World (parts, logs, ground truth) and the timings.
`flash` (a directory) gives the board a flash filesystem that outlives the run (a littlefs
image on MicroPython, a plain directory on CPython); `power_cuts` (virtual ms, MicroPython
only) cut the power at those instants and boot again (see bridge.py). `host` (a SimHost) is
the laptop: it plugs in when it wants and syncs the gate's journal into its store.
`settings` ({name: value} of firmware/config.py) are the site's defaults for this run: a
site_config.py on the MicroPython module path (main.py applies it as on a board), applied to
the Config on CPython; `result.settings` is every setting the run had (defaults included).
"""

import shutil
import sys
import tempfile
import time
from pathlib import Path

from host_tools.shim.board import SimBoard
from host_tools.shim.bridge import MicroPythonRuntime
from host_tools.shim.world import SimulationOver, World

RUNTIMES = ("micropython", "cpython")
FAST_SLICE_MS = 1000
WATCH_SLICE_MS = 100


class Pacer:
    """Keeps virtual time at most `factor` times faster than the wall clock and moves host
    bytes from the pty to the firmware's UART rx; called as virtual time advances."""

    def __init__(self, world, factor=0.0, pty=None, every_ms=50):
        self.world = world
        self.factor = factor
        self.pty = pty
        self.every_ms = every_ms
        self.host = None  # a SimHost (host_tools/shim/host.py) that runs as time advances
        self._next_ms = 0
        self._wall0 = time.perf_counter()

    def at(self, elapsed_ms):
        if self.host is not None:
            self.host.at(elapsed_ms)
        if elapsed_ms < self._next_ms:
            return
        self._next_ms = elapsed_ms + self.every_ms
        if self.pty is not None:
            data = self.pty.read_available()
            if data:
                self.world.uart.inject_rx(data)
        if self.factor > 0:
            due = self._wall0 + elapsed_ms / 1000.0 / self.factor
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)

    def hook(self, world):
        self.at(world.clock.elapsed)


class SimulationResult:
    def __init__(self, runtime, world, wall_s, interpreter, gate=None, bridge=None):
        self.runtime = runtime
        self.world = world
        self.scenario = world.scenario
        self.wall_s = wall_s
        self.interpreter = interpreter
        self.gate = gate  # the Gate object (cpython runtime only)
        self.bridge = bridge  # the MicroPythonRuntime (micropython runtime only)
        self.settings = {}  # every firmware setting the run had, by name

    @property
    def boot_starts(self):
        """World ms of each boot's uptime 0 (one boot on CPython)."""
        return self.bridge.boot_starts if self.bridge is not None else [0]

    @property
    def simulated_s(self):
        return self.world.clock.elapsed / 1000.0

    @property
    def uart_bytes(self):
        """The UART stream as a receiver sees it (after wire faults)."""
        return bytes(self.world.uart.wire)

    @property
    def watchdog_longest_gap_ms(self):
        if self.bridge is not None:
            return self.bridge.watchdog_longest_gap_ms
        return max((w.longest_gap_ms for w in self._board.watchdogs), default=0)


def run_simulation(
    scenario,
    *,
    runtime="micropython",
    seed=0,
    faults=None,
    start_ticks=0,
    realtime_factor=0.0,
    sinks=(),
    pty=None,
    sensor=None,
    slice_ms=None,
    config=None,
    micropython_path=None,
    flash=None,
    power_cuts=(),
    host=None,
    settings=None,
    device_id=None,
):
    from host_tools.screening import effective_settings

    effective = effective_settings(settings)
    if runtime not in RUNTIMES:
        raise ValueError("runtime must be one of {}".format(", ".join(RUNTIMES)))
    world = World(scenario, faults, seed=seed, start_ticks=start_ticks, sensor=sensor)
    for sink in sinks:
        world.uart.sinks.append(sink)
    if pty is not None:
        world.uart.sinks.append(pty.write)
    pacer = Pacer(world, realtime_factor, pty)
    if host is not None:
        host.attach(world)
        pacer.host = host
    wall0 = time.perf_counter()
    if runtime == "cpython":
        if power_cuts:
            raise ValueError("power cuts need the micropython runtime (a process to kill)")
        board = SimBoard(world)
        if device_id is not None:  # several gates of one site: each its own id
            board.device_id = lambda: device_id
        if flash is not None:
            board.use_flash(flash)
        world.hooks.append(pacer.hook)
        if settings:
            config = _config_with(config, settings)
        gate = _run_cpython(board, config)
        if host is not None:
            host.finish()
        result = SimulationResult(
            runtime,
            world,
            time.perf_counter() - wall0,
            "cpython {}.{}.{}".format(*sys.version_info[:3]),
            gate=gate,
        )
        result._board = board
        result.settings = effective
        return result
    if slice_ms is None:
        # Slices never change what the firmware sees (edges fire at their own instants, I2C is
        # synchronous): long slices when racing, short ones when a human watches or types.
        slice_ms = FAST_SLICE_MS if realtime_factor == 0 and pty is None else WATCH_SLICE_MS
    site_dir = None
    path = micropython_path
    if settings:
        from host_tools.compat import BOARDS_DIR, FIRMWARE_DIR

        site_dir = tempfile.mkdtemp(prefix="fevergate-site-")
        write_site_config(Path(site_dir) / "site_config.py", settings)
        path = list(micropython_path or (str(FIRMWARE_DIR), str(BOARDS_DIR))) + [site_dir]
    try:
        bridge = MicroPythonRuntime(
            world,
            slice_ms=slice_ms,
            pacer=pacer.at,
            path=path,
            flash=flash,
            power_cuts=power_cuts,
        )
        if host is not None:
            # the laptop answers within a slice: short slices while it is plugged in
            bridge.slice_for = lambda t: WATCH_SLICE_MS if t >= host.connect_ms else slice_ms
        bridge.run()
    finally:
        if site_dir is not None:
            shutil.rmtree(site_dir, ignore_errors=True)
    if host is not None:
        host.finish()
    result = SimulationResult(
        runtime, world, time.perf_counter() - wall0, bridge.hello, bridge=bridge
    )
    result.settings = effective
    return result


def write_site_config(path, settings):
    """A site_config.py (as config/site_config.py) holding `settings`."""
    lines = ["SETTINGS = {"]
    lines += [f"    {name!r}: {int(value)}," for name, value in sorted(settings.items())]
    lines += ["}", "PIN = None", ""]
    Path(path).write_text("\n".join(lines))


def _config_with(config, settings):
    """`config` (a new Config if None) with `settings` applied as main.py applies a site's."""
    from host_tools import compat

    compat.install()
    from config import Config

    config = config if config is not None else Config()
    for name, value in settings.items():
        config.set(name, value)
    return config


def _run_cpython(board, config):
    """What firmware/main.py's run(board) does, keeping the Gate for the caller."""
    from host_tools import compat

    compat.install()
    from gate import Gate
    from main import open_storage

    board.pump.off()
    gate = None
    try:
        gate = Gate(board, config, storage=open_storage(board))
        gate.run()
    except SimulationOver:
        pass
    return gate
