"""The technician's laptop in the simulator: plugged in at a virtual instant, it syncs and logs.

`SimHost(store, connect_ms, ...)` is given to `run_simulation(host=...)`. Before `connect_ms`
the gate's UART goes nowhere; from then on the host takes the bytes as they arrive on the wire
(after the wire faults), drives a `sync.SyncSession` with virtual time (status, time sync from
its clock, backlog download with gap filling, acknowledgement) and keeps storing the live
records afterwards; what it sends goes into the gate's UART rx. The same session code runs
`fevergate sync` on a real port. Deterministic: no wall clock, no threads. `disconnect_ms`
pulls the cable at that instant (an interrupted sync: the next one resumes).
"""

from host_tools.sync import SyncSession
from host_tools.wire import protocol


class SimHost:
    def __init__(
        self,
        store,
        connect_ms=0,
        pin=protocol.PIN_DEFAULT,
        start_unix=None,
        every_ms=50,
        disconnect_ms=None,
        session_factory=None,
    ):
        self.store = store
        self.connect_ms = connect_ms
        self.disconnect_ms = disconnect_ms  # the cable is pulled then (None: never)
        self.pin = pin
        self.start_unix = start_unix  # the laptop's clock at virtual time 0 (None: no sync)
        self.every_ms = every_ms
        self.session_factory = session_factory or SyncSession  # or a bridge (bridge.py)
        self.session = None
        self.connected_at = None
        self._world = None
        self._buffer = bytearray()
        self._next_ms = 0
        self._pulled = False

    def attach(self, world):
        self._world = world
        unix_time = None
        if self.start_unix is not None:
            start = self.start_unix
            unix_time = lambda: start + world.clock.elapsed / 1000.0  # noqa: E731
        self.session = self.session_factory(
            self.store, self.pin, unix_time=unix_time, reply_timeout_s=2.0, max_resends=20
        )
        world.uart.sinks.append(self._sink)

    @property
    def plugged(self):
        return self.connected_at is not None and self.session is not None and not self._pulled

    def _sink(self, data):
        if self.plugged:
            self._buffer += data

    def at(self, elapsed_ms):
        """Called as virtual time advances (the World's hook, or before a MicroPython slice)."""
        if elapsed_ms < self._next_ms:
            return
        self._next_ms = elapsed_ms + self.every_ms
        now = elapsed_ms / 1000.0
        session = self.session
        if self._pulled:
            return
        if self.disconnect_ms is not None and elapsed_ms >= self.disconnect_ms:
            self._pulled = True
            return
        if self.connected_at is None:
            if elapsed_ms < self.connect_ms:
                return
            self.connected_at = elapsed_ms
            out = session.start(now)
        else:
            data = bytes(self._buffer)
            self._buffer.clear()
            out = session.feed(data, now) + session.poll(now)
        if out:
            self._world.uart.inject_rx(out)

    def finish(self):
        """The run ended: store what is left; the SyncResult."""
        if self.session is None or self.connected_at is None:
            return None
        self.session.feed(bytes(self._buffer), self._world.clock.elapsed / 1000.0)
        self._buffer.clear()
        return self.session.finish()
