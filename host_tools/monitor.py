"""`fevergate monitor` and `fevergate log`: read a gate's record stream live and show or store it.

`monitor(port, ...)` opens the port (host_tools/serialport.py) or takes an open pyserial-like
object, feeds the bytes to StreamDecoder and hands every event to one view:

- "rich": a scrolling log of passages (time, temperature, verdict), fever alarms in red and
  faults in yellow; on a terminal a live header of running totals stays below the log, else
  (a pipe, a file, the simulator's demo) a totals line is printed now and then and at the end;
- "raw": every frame in hex, damaged ones marked with their status;
- "jsonl": one JSON object per event: record_to_dict plus "status" and "wall_time";
- "quiet": nothing (`fevergate log`).

With `db` every good record also goes to the SQLite store (host_tools/store.py), under the
gate's identity: on a port it opened itself the monitor asks the gate who it is (STATUS, free,
as `sync` does; again every IDENTIFY_EVERY_S until answered) and holds the records until the
answer or a BOOT record says which device and boot they are, so nothing is stored under an
unknown device and stored again by a later sync; records still unidentified at the end are not
stored (`unidentified` counts them: they stay in the gate's journal for `sync`). The wall time
of a record is the boot's TIME record if the device sent one, else the laptop clock at
reception. If GARBAGE_BYTES arrive without a single good frame the stream is not ours (wrong
baud rate, another device): FevergateError EXIT_GARBAGE. Returns the totals as a dict.

Clock times and "today" are in the site's zone: `tz` (`--tz`) when given, else the gate's own
once the stream carries its UTC offset (CONFIG KEY_UTC_OFFSET: sent with every time sync, and
in the answer to the clock request the monitor sends on a port it opened itself), else the
laptop's.
"""

from __future__ import annotations

import datetime
import json
import sys
import threading
import time

from host_tools.decoder import (
    DIRECTION_NAMES,
    FAULT_NAMES,
    RESET_NAMES,
    VERDICT_NAMES,
    Event,
    Record,
    Status,
    StreamDecoder,
    record_to_dict,
)
from host_tools.errors import EXIT_GARBAGE, FevergateError
from host_tools.serialport import guard, open_port
from host_tools.sitezone import local_date, offset_zone
from host_tools.store import (
    BAD_STATUSES,
    BOOT_UNKNOWN,
    DEVICE_UNKNOWN,
    IngestResult,
    RecordStore,
    Tracker,
    open_store,
)
from host_tools.wire import protocol

__all__ = ["monitor", "Totals", "describe", "event_to_dict", "GARBAGE_BYTES", "MODES"]

GARBAGE_BYTES = 512
DEFAULT_STATUS_PERIOD_S = 60.0  # the gate's status_interval_ms default, until STATUS shows it
SILENT_HINT_S = 2.0  # a port silent this long gets the wiring hint
IDENTIFY_EVERY_S = 2.0  # STATUS asked again this often until the gate says who it is
MODES = ("rich", "raw", "jsonl", "quiet")
_READ_TIMEOUT_S = 0.1
_TOTALS_EVERY_S = 30.0  # how often the plain (non-terminal) log prints the totals line
_REMEASURES = frozenset(v for v, name in VERDICT_NAMES.items() if name.startswith("remeasure"))


# -- one line per event --


def _clock(wall: float | None, record: Record | None, tz=None) -> str:
    if wall is not None:
        return datetime.datetime.fromtimestamp(wall, tz).strftime("%Y-%m-%d %H:%M:%S")
    if record is not None:
        return f"up {record.t_cs / 100:>14.2f} s"
    return " " * 19


def _temp(temp_cc: int) -> str:
    return f"{temp_cc / 100:5.2f} C"


def describe(record: Record, wall: float | None = None, tz=None) -> tuple[str, str]:
    """A record as one line of text (the clock in the zone `tz`, None: the laptop's), and the
    rich style it is shown in."""
    f = record.fields
    t = record.type
    style = ""
    if t == "passage":
        verdict = VERDICT_NAMES.get(f["verdict"], f"verdict {f['verdict']}")
        direction = DIRECTION_NAMES.get(f["direction"], f"dir {f['direction']}")
        temp = _temp(f["temp_cc"]) if f["temp_cc"] else "   -- C"
        text = f"passage {direction:<7} {temp}  {verdict.upper()}"
        text += f"  (transit {f['transit_cs'] / 100:.2f} s)"
        if f["verdict"] == protocol.VERDICT_FEVER:
            style = "bold red"
        elif f["verdict"] in _REMEASURES:
            style = "magenta"
    elif t == "alarm":
        kind = "FEVER" if f["kind"] == protocol.ALARM_FEVER else f"kind {f['kind']}"
        text = f"ALARM   {kind} {_temp(f['temp_cc'])}"
        style = "bold white on red"
    elif t == "fault":
        name = FAULT_NAMES.get(f["code"], f"code {f['code']}")
        state = "raised" if f["active"] else "cleared"
        text = f"FAULT   {name} {state} (detail {f['detail']})"
        style = "bold yellow" if f["active"] else "yellow"
    elif t == "boot":
        d = record_to_dict(record)
        reset = RESET_NAMES.get(f["reset_cause"], f"cause {f['reset_cause']}")
        text = (
            f"BOOT    device {f['device_id']:#010x} boot {f['boot_count']} "
            f"firmware {d['fw_version_str']} reset {reset}"
        )
        style = "bold cyan"
    elif t == "status":
        text = (
            f"status  in {f['people_in']} (today {f['people_in_today']}) out "
            f"{f['people_out']} fevers {f['fevers']} remeasures {f['remeasures']} uptime "
            f"{f['uptime_s']} s mem {f['mem_free']} sensor errors {f['sensor_errors']} "
            f"dropped {f['tx_dropped']} short writes {f['tx_short']} beam irq overflows "
            f"{f['irq_overflows']} beam events dropped {f['events_dropped']}"
        )
        style = "dim"
    elif t == "time":
        utc = datetime.datetime.fromtimestamp(f["unix_s"], datetime.timezone.utc)
        text = f"time    set to {utc:%Y-%m-%d %H:%M:%S} UTC"
        style = "cyan"
    else:
        text = f"{t:<7} " + " ".join(f"{k} {v}" for k, v in f.items())
        style = "dim"
    return f"{_clock(wall, record, tz)}  #{record.seq:<5} {text}", style


def describe_event(event: Event, wall: float | None = None, tz=None) -> tuple[str, str]:
    """Any event (good record, damaged frame, gap, new boot) as a line and a style."""
    if event.status is Status.OK:
        return describe(event.record, wall, tz)
    pad = " " * 19
    if event.status is Status.GAP:
        return f"{pad}  ! {event.lost} record(s) lost ({event.detail})", "yellow"
    if event.status is Status.NEW_BOOT:
        return f"{pad}  --- new boot ({event.detail})", "cyan"
    if event.status is Status.REPLAY:
        line, _ = describe(event.record, wall, tz)
        return f"{line}  (from the journal, boot {event.boot})", "dim"
    return (
        f"{pad}  ! bad frame {event.status.value}: {event.detail} ({len(event.raw)} bytes)",
        "yellow",
    )


def event_to_dict(event: Event, wall: float | None = None) -> dict:
    """The JSON form of an event: record_to_dict plus status (and wall_time), or the error."""
    if event.status is Status.OK:
        out = record_to_dict(event.record)
        out["status"] = "OK"
        out["wall_time"] = wall
        return out
    out = {"status": event.status.value}
    if event.status is Status.REPLAY:
        out.update(record_to_dict(event.record))
        out["boot"] = event.boot
    if event.status is Status.GAP:
        out["lost"] = event.lost
    if event.raw:
        out["raw"] = event.raw.hex()
    if event.detail:
        out["detail"] = event.detail
    return out


def raw_line(event: Event) -> str:
    """A frame in hex (with its 00 delimiter); damaged frames carry their status."""
    if event.status is Status.OK:
        return event.raw.hex(" ") + " 00"
    if event.status in BAD_STATUSES:
        return f"{event.raw.hex(' ')} 00  ! {event.status.value}: {event.detail}"
    if event.status is Status.GAP:
        return f"# {event.lost} record(s) lost ({event.detail})"
    if event.status is Status.REPLAY:
        return f"{event.raw.hex(' ')} 00  # replayed from the journal, boot {event.boot}"
    return f"# new boot ({event.detail})"


# -- running totals --


class Totals:
    """Counters over a stream. people_in, fevers and remeasures count today's passages (local
    date of their wall time; a record without a wall time counts for today)."""

    def __init__(self, now=time.time, tz=None, tz_given=None) -> None:
        self._now = now
        self.tz = tz  # the site's zone (None: the laptop's): "today" is its date
        # --tz given: kept; else the gate's own offset replaces it once the stream says it
        self.tz_given = tz is not None if tz_given is None else tz_given
        self.started = now()
        self.day = local_date(self.started, tz)
        self.people_in = self.people_out = self.fevers = self.remeasures = 0
        self.alarms = self.faults = self.boots = 0
        self.good = self.bad = self.lost = self.bytes = 0
        self.last_good: float | None = None
        self.stored = 0
        self.status_period_s = DEFAULT_STATUS_PERIOD_S  # learned from the STATUS records
        self._last_status: float | None = None

    def add(self, event: Event, wall: float | None) -> None:
        status = event.status
        if status in BAD_STATUSES:
            self.bad += 1
            return
        if status is Status.GAP:
            self.lost += event.lost
            return
        if status is not Status.OK:
            return
        self.good += 1
        self.last_good = self._now()
        record = event.record
        t = record.type
        if t == "passage":
            day = local_date(wall, self.tz) if wall is not None else self.day
            if day > self.day:
                self.day = day
                self.people_in = self.people_out = self.fevers = self.remeasures = 0
            elif day < self.day:
                return  # an old record (journal backlog): not today's
            f = record.fields
            if f["direction"] == protocol.DIR_IN:
                self.people_in += 1
            elif f["direction"] == protocol.DIR_OUT:
                self.people_out += 1
            if f["verdict"] == protocol.VERDICT_FEVER:
                self.fevers += 1
            elif f["verdict"] in _REMEASURES:
                self.remeasures += 1
        elif t == "alarm":
            self.alarms += 1
        elif t == "fault" and record.fields["active"]:
            self.faults += 1
        elif t == "boot":
            self.boots += 1
        elif t == "config" and record.fields["key"] == protocol.KEY_UTC_OFFSET:
            if not self.tz_given:  # the gate's clock is set for this site: its zone
                self.tz = offset_zone(record.fields["value"])
                self.day = local_date(self._now(), self.tz)
        elif t == "status":
            now = self._now()
            if self._last_status is not None and now - self._last_status > 0.05:
                self.status_period_s = now - self._last_status
            self._last_status = now

    def since_good(self) -> float | None:
        return None if self.last_good is None else self._now() - self.last_good

    def bad_rate(self) -> float:
        frames = self.good + self.bad
        return self.bad / frames if frames else 0.0

    def as_dict(self) -> dict:
        return {
            "people_in_today": self.people_in,
            "people_out_today": self.people_out,
            "fevers_today": self.fevers,
            "remeasures_today": self.remeasures,
            "alarms": self.alarms,
            "faults": self.faults,
            "boots": self.boots,
            "good_frames": self.good,
            "bad_frames": self.bad,
            "records_lost": self.lost,
            "bytes": self.bytes,
            "bad_frame_rate": round(self.bad_rate(), 4),
            "seconds_since_good": self.since_good(),
            "stored": self.stored,
        }

    def link_dead(self) -> bool:
        """Nothing at all, or no good frame for two status periods: check the cable."""
        since = self.since_good()
        if since is None:
            return self.bytes == 0 and self._now() - self.started >= SILENT_HINT_S
        return since > 2 * self.status_period_s

    def link_text(self) -> str:
        since = self.since_good()
        if since is None:
            if self.bytes == 0 and self._now() - self.started >= SILENT_HINT_S:
                return "0 bytes received: check wiring and baud rate"
            return "no good frame yet"
        if since > 2 * self.status_period_s:
            return (
                f"DEAD? no good frame for {since:.0f} s, two status periods "
                f"({self.status_period_s:.3g} s each) missed: check the cable"
            )
        return f"last good frame {since:.0f} s ago"

    def line(self) -> str:
        link = self.link_text()
        return (
            f"today: {self.people_in} in, {self.fevers} fevers, {self.remeasures} re-measures"
            f" | {self.lost} lost, {self.bad} bad frames ({self.bad_rate():.1%})"
            f" | link: {link}"
        )


# -- views --


class _View:
    def start(self, name: str) -> None: ...
    def event(self, event: Event, wall: float | None) -> None: ...
    def tick(self) -> None: ...
    def stop(self) -> None: ...


class _QuietView(_View):
    pass


class _JsonlView(_View):
    def __init__(self, out) -> None:
        self.out = out

    def event(self, event, wall) -> None:
        self.out.write(json.dumps(event_to_dict(event, wall)) + "\n")

    def tick(self) -> None:
        self.out.flush()


class _RawView(_JsonlView):
    def event(self, event, wall) -> None:
        self.out.write(raw_line(event) + "\n")


class _RichView(_View):
    """A scrolling log; on a terminal a live totals panel stays at the bottom."""

    def __init__(self, out, totals: Totals) -> None:
        from rich.console import Console

        self.totals = totals
        self.console = Console(file=out, highlight=False, soft_wrap=True)
        self.live = None  # a rich.live.Live while the panel is shown
        self._next_line = 0.0

    def _panel(self):
        from rich.panel import Panel
        from rich.text import Text

        *figures, link = self.totals.line().split(" | ")
        text = Text("\n".join(figures) + "\n")
        text.append(link, style="bold white on red" if self.totals.link_dead() else "green")
        return Panel(text, title="fevergate monitor", expand=False)

    def start(self, name: str) -> None:
        from rich.live import Live

        if self.console.is_terminal:
            self.live = Live(
                self._panel(), console=self.console, refresh_per_second=4, transient=False
            )
            self.live.start()
        else:
            self.console.print(f"fevergate monitor on {name}")
            self._next_line = time.monotonic() + _TOTALS_EVERY_S

    def event(self, event, wall) -> None:
        from rich.text import Text

        text, style = describe_event(event, wall, self.totals.tz)
        self.console.print(Text(text, style=style))

    def tick(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())
        elif time.monotonic() >= self._next_line:
            self._next_line = time.monotonic() + _TOTALS_EVERY_S
            self.console.print("== " + self.totals.line(), style=self._style())
        self.console.file.flush()

    def _style(self) -> str:
        return "bold red" if self.totals.link_dead() else ""

    def stop(self) -> None:
        if self.live is not None:
            self.live.update(self._panel())
            self.live.stop()
        else:
            self.console.print("== " + self.totals.line(), style=self._style())
        self.console.file.flush()


def _view(mode: str, out, totals: Totals) -> _View:
    if mode == "rich":
        return _RichView(out, totals)
    if mode == "raw":
        return _RawView(out)
    if mode == "jsonl":
        return _JsonlView(out)
    if mode == "quiet":
        return _QuietView()
    raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


# -- the loop --


def monitor(
    port,
    *,
    baud: int = 115200,
    mode: str = "rich",
    out=None,
    stop: threading.Event | None = None,
    duration_s: float | None = None,
    db=None,
    garbage_bytes: int = GARBAGE_BYTES,
    tz=None,
) -> dict:
    """Read `port` (a path or URL, or an open pyserial-like object) until `stop` is set,
    `duration_s` has passed, or Ctrl-C (then the totals say "interrupted": True).

    `db` is a path or a Store; good records are stored as they arrive. Raises FevergateError
    for a port that cannot be opened or goes away, and for a garbage stream. Returns the totals
    (Totals.as_dict, plus "interrupted" and, with a db, "stored" rows).
    """
    if out is None:
        out = sys.stdout
    totals = Totals(tz=tz)
    view = _view(mode, out, totals)
    own_port = isinstance(port, str)
    if own_port:
        name = port
        serial_port = open_port(port, baud, timeout=_READ_TIMEOUT_S)
        if tz is None:  # ask the gate its clock: its answer carries the site's offset once set
            _ask_clock(serial_port)
    else:
        name = getattr(port, "port", None) or getattr(port, "name", None) or repr(port)
        serial_port = guard(port, name)
    store = None
    own_store = False
    try:
        keeper = None
        if db is not None:
            own_store = not isinstance(db, RecordStore)
            store = open_store(db) if own_store else db
            store.new_stream()
            keeper = _Keeper(store, _asker(serial_port) if own_port else None)
        result = _loop(serial_port, name, view, totals, keeper, stop, duration_s, garbage_bytes)
    finally:
        if store is not None and own_store:
            store.close()
        if own_port:
            serial_port.close()
    return result


def _ask_clock(port) -> None:
    """GET_CONFIG KEY_CLOCK_DAY (free): a gate whose clock was set answers with its site's UTC
    offset (CONFIG KEY_UTC_OFFSET), which Totals then takes as the zone."""
    from host_tools.device import encode_command

    port.write(encode_command(protocol.CMD_GET_CONFIG, 0x4CFF, key=protocol.KEY_CLOCK_DAY))


def _asker(port):
    """A function that asks the gate who it is (a STATUS command: no PIN)."""
    from host_tools.device import encode_command

    tag = [0x4C00]

    def ask() -> None:
        tag[0] = (tag[0] + 1) & 0xFFFF
        port.write(encode_command(protocol.CMD_STATUS, tag[0]))

    return ask


class _Keeper:
    """Stores records under the gate's identity: holds them until the stream (a BOOT record, or
    the CONFIG records of a STATUS answer) says which device and boot they are."""

    def __init__(self, store: RecordStore, ask=None) -> None:
        self.store = store
        self.ask = ask
        self.stored = IngestResult()
        self._pending: list[tuple[list[Event], float]] = []
        self._known = False
        self._asked_at: float | None = None

    def poll(self, now: float) -> None:
        if self._known or self.ask is None:
            return
        if self._asked_at is None or now - self._asked_at >= IDENTIFY_EVERY_S:
            self._asked_at = now
            self.ask()

    def add(self, events: list[Event], received: float, tracker: Tracker) -> None:
        if self._known:
            self.stored.add(self.store.ingest(events, received))
            return
        self._pending.append((events, received))
        if tracker.device_id == DEVICE_UNKNOWN or tracker.boot == BOOT_UNKNOWN:
            return
        self._known = True
        booted = any(
            e.status is Status.OK and e.record.type == "boot" for batch, _ in self._pending
            for e in batch
        )  # fmt: skip
        if not booted:  # the STATUS answer named the boot these records belong to
            self.store.tracker.learn(tracker.device_id, tracker.boot)
        pending, self._pending = self._pending, []
        for batch, at in pending:
            self.stored.add(self.store.ingest(batch, at))

    @property
    def unidentified(self) -> int:
        """Good records held because the gate never said who it is."""
        return sum(e.status is Status.OK for batch, _ in self._pending for e in batch)


def _loop(port, name, view, totals, keeper, stop, duration_s, garbage_bytes) -> dict:
    decoder = StreamDecoder()
    tracker = Tracker()
    deadline = None if duration_s is None else time.monotonic() + duration_s
    interrupted = False
    view.start(name)
    try:
        while True:
            if keeper is not None:
                keeper.poll(time.monotonic())
            if stop is not None and stop.is_set():
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            data = port.read(max(1, port.in_waiting))
            if data:
                totals.bytes += len(data)
                received = time.time()
                events = decoder.feed(data)
                _handle(events, tracker, totals, view, received)
                if keeper is not None and events:
                    keeper.add(events, received, tracker)
                    totals.stored = keeper.stored.inserted
                if totals.good == 0 and totals.bytes >= garbage_bytes:
                    raise FevergateError(
                        f"{name}: no valid frames: wrong baud rate or not a fevergate port? "
                        f"({totals.bytes} bytes, {totals.bad} bad frames)",
                        EXIT_GARBAGE,
                    )
            view.tick()
    except KeyboardInterrupt:
        interrupted = True
    except FevergateError as exc:  # the port went away, a full disk: the caller says what got in
        exc.totals = _result(totals, keeper, interrupted)
        raise
    finally:
        view.stop()
    return _result(totals, keeper, interrupted)


def _result(totals: Totals, keeper, interrupted: bool) -> dict:
    result = totals.as_dict()
    result["interrupted"] = interrupted
    result["unidentified"] = keeper.unidentified if keeper is not None else 0
    if keeper is not None:  # a full disk can stop keeper.add half-way, before totals catch up
        result["stored"] = keeper.stored.inserted
    return result


def _handle(events, tracker, totals, view, received) -> None:
    for event in events:
        tracker.update(event)
        wall = tracker.wall_time(event.record, received) if event.record is not None else None
        totals.add(event, wall)
        view.event(event, wall)
