"""Downloading a gate's journal backlog into the SQLite store: the sync session, no I/O.

`SyncSession(store, pin)` is a state machine fed with the bytes the gate sends and the time;
it returns the bytes to send back. `fevergate sync PORT` drives it over a serial port with the
wall clock (host_tools/cli.py); the simulator drives it over the simulated UART with virtual
time (`fevergate simulate --connect-after`). The steps, each command resent after
`reply_timeout_s` without its REPLY (the command or the answer was damaged on the wire):

1. STATUS (free): the answer's CONFIG KEY_BOOT_COUNT and KEY_DEVICE_ID tell which device and
   boot the live records belong to; the live records received before it (since the last BOOT)
   are stored under that identity too (the answer itself is link chatter, which the gate's
   journal does not keep: a CONFIG KEY_CHATTER record accounts for it, docs/PROTOCOL.md).
2. TIME_SYNC (PIN) when the session has a clock (`unix_time`), with the site's UTC offset
   (`utc_offset_min`: the gate's day starts at local midnight): the gate's records get wall
   time, the ones before it in the same boot too (Store.fill_wall_times). Then GET_CONFIG
   (free) of the fever threshold: its answer is stored, the setting in force for the report.
3. BACKLOG (free) from where the last sync of this device stopped (the store's `sync_state`
   table), else from the gate's acknowledged position. REPLAY records and live ones are stored
   as they come; the final REPLY ends the download.
4. Gaps: the sequence numbers missing in each boot downloaded. When the gate replays past
   missing numbers cleanly (no damaged frame in between), those records are not in its journal:
   they never reached it (a full transmit ring) or the ring deleted them before anyone
   downloaded them (FAULT_JOURNAL_LOSS records say how many); they are reported as lost. Any
   other gap is still open: the records are in the journal but were damaged on the wire, and a
   further BACKLOG from its first missing record (up to `passes` downloads in all) asks again.
5. ACK (PIN) up to the last record before the first gap still open (all downloaded when there
   is none): the gate's next download starts after it, so a record that is still on the gate
   unread is never acknowledged, and the saved sync state never passes it either.

Afterwards the session stays LIVE: live records go on into the store, and when the live stream
shows a gap (bytes lost on the wire) the session downloads the missing records again from the
journal once the gate has flushed it (LIVE_REPAIR_DELAY_S later), then acknowledges again.
`result` counts what happened; `progress` is the number of records downloaded so far.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from host_tools.decoder import Status, StreamDecoder
from host_tools.device import (
    EXIT_BAD_FRAME,
    EXIT_FAILED,
    EXIT_NO_ANSWER,
    EXIT_REFUSED,
    encode_command,
    time_sync_arguments,
)
from host_tools.store import BAD_STATUSES, BOOT_UNKNOWN, DEVICE_UNKNOWN, RecordStore, open_store
from host_tools.wire import protocol

IDENTIFY = "identify"
TIME_SYNC = "time-sync"
SETTINGS = "settings"
DOWNLOAD = "download"
ACK = "ack"
LIVE = "live"
FAILED = "failed"

_BATCH = 256  # events stored per transaction while downloading
THRESHOLD_KEY = 1  # firmware/config.py SETTINGS: fever_threshold_cc, read by every sync
LIVE_REPAIR_DELAY_S = 7.0  # the gate flushes its journal at least every 5 s


def pack_key(boot: int, seq: int) -> int:
    """(boot, seq) as the i32 command value boot << 16 | seq."""
    return struct.unpack("<i", struct.pack("<I", (boot & 0xFFFF) << 16 | seq & 0xFFFF))[0]


@dataclass
class SyncResult:
    downloaded: int = 0  # REPLAY records received (duplicates included)
    inserted: int = 0  # rows new in the store (live ones included)
    inserted_replayed: int = 0  # of those, records downloaded from the journal
    inserted_live: int = 0  # of those, live records and the gate's answers (config, reply)
    passes: int = 0  # BACKLOG downloads made
    resends: int = 0  # commands sent again after no answer
    journal_dropped: int = 0  # what the gate's journal says it deleted since its boot
    gaps: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # boot -> missing
    open_gaps: dict[int, list[tuple[int, int]]] = field(default_factory=dict)  # still on the gate
    acknowledged: tuple[int, int] | None = None  # (boot, seq) the last ACK covered
    error: str = ""
    exit_code: int = 0  # with `error`: the CLI's code for it (7 refused, 9 no answer, ...)

    @property
    def missing(self) -> int:
        return sum(
            (last - first) % 65536 + 1 for gaps in self.gaps.values() for first, last in gaps
        )


class SyncSession:
    ACK_AFTER_DOWNLOAD = True  # False: the caller acknowledges (host_tools/bridge.py)

    def __init__(
        self,
        store: RecordStore,
        pin: int,
        *,
        unix_time=None,
        utc_offset_min: int = 0,
        passes: int = 4,
        reply_timeout_s: float = 5.0,
        max_resends: int = 5,
    ) -> None:
        self.store = store
        self.pin = pin
        self.unix_time = unix_time  # callable() -> unix seconds, or None: no time sync
        self.utc_offset_min = utc_offset_min  # the site's, sent with the time
        self.passes = passes
        self.reply_timeout_s = reply_timeout_s
        self.max_resends = max_resends
        self.decoder = StreamDecoder()
        self.state = IDENTIFY
        self.result = SyncResult()
        self.device_id = DEVICE_UNKNOWN
        self.boot = BOOT_UNKNOWN
        self._tag = 0x5100
        self._command = 0
        self._frame = b""
        self._sent_at = 0.0
        self._resends = 0
        self._lock_left_s: int | None = None  # a wrong-PIN lock's time left, when the gate said
        self._events: list = []
        self._early: list = []  # live events before the identity: stored once it is known
        self._boots: set[int] = set()
        self._last_key: tuple[int, int] | None = None  # the last record downloaded
        self._contiguous: tuple[int, int] | None = None  # end of the first pass's unbroken run
        self._broken = False
        self._saved: tuple[int, int] | None = None
        self._tried: dict[tuple[int, int], int] = {}  # passes started at each gap
        self._round_passes = 0  # downloads in this round (the sync, or one live repair)
        self._bytes_ahead = 0  # journal bytes the current download announced
        self._bytes_got = 0
        self._live_gap_at: float | None = None
        self._absent: set[tuple[int, int]] = set()  # (boot, seq) the journal replayed past
        self._replay_prev: tuple[int, int] | None = None  # the last (boot, seq) replayed
        self._damaged_since_prev = False

    @property
    def done(self) -> bool:
        return self.state in (LIVE, FAILED)

    @property
    def progress(self) -> int:
        return self.result.downloaded

    @property
    def progress_fraction(self) -> float | None:
        """How far the current download is, 0..1 (None before the gate said its size)."""
        if not self._bytes_ahead:
            return None
        return min(1.0, self._bytes_got / self._bytes_ahead)

    # -- driving -------------------------------------------------------------------------
    def start(self, now: float) -> bytes:
        self.store.new_stream()
        return self._send(protocol.CMD_STATUS, 0, 0, now)

    def feed(self, data: bytes, now: float) -> bytes:
        """Bytes from the gate at `now`; returns the bytes to send it (b"" for none)."""
        out = b""
        for event in self.decoder.feed(data):
            out += self._on_event(event, now)
        if len(self._events) >= _BATCH or self.state == LIVE:
            self._store_events()
        return out

    def poll(self, now: float) -> bytes:
        """Call now and then: resends a command whose answer is overdue, repairs live gaps."""
        if self.state == LIVE and self._live_gap_at is not None:
            if now - self._live_gap_at >= LIVE_REPAIR_DELAY_S:
                return self._repair(now)
            return b""
        if self.done or now - self._sent_at < self.reply_timeout_s:
            return b""
        if self._resends >= self.max_resends:
            self._fail(
                f"no answer from the gate after {self._resends} resends: is the gate powered "
                "and the port right?",
                EXIT_NO_ANSWER,
            )
            return b""
        self._resends += 1
        self.result.resends += 1
        self._sent_at = now
        self._replay_prev = None  # the answer may come from the command sent before
        return self._frame

    def finish(self) -> SyncResult:
        """Stores what is still buffered and gives wall times; returns the result. Also what to
        call when the session ends early (the cable pulled, Ctrl-C): nothing received is lost."""
        self._store_events()
        self.store.fill_wall_times()
        return self.result

    # -- internals -----------------------------------------------------------------------
    def _send(self, command: int, key: int, value: int, now: float) -> bytes:
        self._tag = (self._tag + 1) & 0xFFFF
        self._command = command
        free = (protocol.CMD_STATUS, protocol.CMD_BACKLOG, protocol.CMD_GET_CONFIG)
        pin = 0 if command in free else self.pin
        self._frame = encode_command(command, self._tag, pin, key, value)
        self._sent_at = now
        self._resends = 0
        return self._frame

    def _fail(self, message: str, exit_code: int) -> None:
        self.state = FAILED
        self.result.error = message
        self.result.exit_code = exit_code

    def _on_event(self, event, now: float) -> bytes:
        status = event.status
        record = event.record
        if status is Status.REPLAY:
            if self.state == DOWNLOAD:
                self._sent_at = now  # the download is alive: its final REPLY may take long
                self._bytes_got += len(event.raw) + 3  # its journal entry: COBS frame - 6 + 9
                self._downloaded(event.boot, record)
                self._note_skipped(event.boot, record.seq)
            self._events.append(event)
            return b""
        if status in BAD_STATUSES:
            self._damaged_since_prev = True
        if self.state != IDENTIFY:
            self._events.append(event)
        elif status is Status.NEW_BOOT:
            self._early = []  # what came before is another boot's
        elif status is Status.OK and record.type == "boot":
            self._early = [event]
        else:
            self._early.append(event)
        if status is Status.GAP and self.state == LIVE and self._live_gap_at is None:
            self._live_gap_at = now
        if status is not Status.OK:
            return b""
        if record.type == "config":
            key, value = record.fields["key"], record.fields["value"]
            if key == protocol.KEY_BOOT_COUNT:
                self.boot = value
            elif key == protocol.KEY_DEVICE_ID:
                self.device_id = value & 0xFFFFFFFF
            elif key == protocol.KEY_JOURNAL_DROPPED:
                self.result.journal_dropped = value
            elif key == protocol.KEY_LOCK_LEFT_S:
                self._lock_left_s = value
            elif key == protocol.KEY_BACKLOG_BYTES and self.state == DOWNLOAD:
                self._bytes_ahead = value
                self._bytes_got = 0
            return b""
        if record.type != "reply":
            return b""
        fields = record.fields
        if fields["arg"] != self._tag or fields["command"] != self._command:
            return b""
        if fields["status"] == protocol.REPLY_STARTED:
            self._sent_at = now
            return b""
        if fields["status"] != protocol.REPLY_OK:
            self._fail(*_refusal(fields, self._lock_left_s))
            return b""
        return self._next(now)

    def _next(self, now: float) -> bytes:
        """The current command got its REPLY_OK: the next step."""
        if self.state == IDENTIFY:
            if self.device_id == DEVICE_UNKNOWN or self.boot == BOOT_UNKNOWN:
                # an identity record was damaged on the way (or the firmware is too old)
                if self.result.resends >= self.max_resends:
                    self._fail("the gate did not say which device and boot it is", EXIT_NO_ANSWER)
                    return b""
                self.result.resends += 1
                return self._send(protocol.CMD_STATUS, 0, 0, now)
            self.store.tracker.learn(self.device_id, self.boot)
            self._events.extend(self._early)  # this boot's live records from before the answer
            self._early = []
            if self.unix_time is not None:
                self.state = TIME_SYNC
                key, value = time_sync_arguments(int(self.unix_time()), self.utc_offset_min)
                return self._send(protocol.CMD_TIME_SYNC, key, value, now)
            return self._read_settings(now)
        if self.state == TIME_SYNC:
            return self._read_settings(now)
        if self.state == SETTINGS:
            return self._download(now)
        if self.state == DOWNLOAD:
            self._store_events()
            gap = self._first_gap()
            if gap is not None and self._round_passes < self.passes:
                self._tried[gap] = self._tried.get(gap, 0) + 1
                return self._backlog(protocol.BACKLOG_FROM, gap, now)
            self.result.gaps = {
                boot: gaps
                for boot in sorted(self._boots)
                if (gaps := self.store.gaps(self.device_id, boot))
            }
            self.result.open_gaps = {
                boot: opened
                for boot, gaps in self.result.gaps.items()
                if (opened := [g for g in gaps if not self._is_absent(boot, g)])
            }
            if gap is not None:
                # a record lost while this round ended (its own closing records, say) is on
                # flash only after the gate's next flush: try again as a live repair
                self._live_gap_at = now
            upto = self._acknowledgeable()
            if upto is None:
                self.state = LIVE
                return b""
            self.state = ACK
            self.store.set_sync_state(self.device_id, *upto)
            self._saved = self._contiguous = upto
            if not self.ACK_AFTER_DOWNLOAD:  # a bridge acknowledges what its broker took
                self.state = LIVE
                return b""
            self.result.acknowledged = upto
            return self._send(protocol.CMD_ACK, 0, pack_key(*upto), now)
        if self.state == ACK:
            self.state = LIVE
        return b""

    def _note_skipped(self, boot: int, seq: int) -> None:
        """A replayed record: numbers it skips since the previous one, with no damaged frame
        in between, are not in the gate's journal."""
        prev = self._replay_prev
        if prev is not None and not self._damaged_since_prev:
            if prev[0] == boot:
                first = (prev[1] + 1) & 0xFFFF
                skipped = (seq - first) & 0xFFFF
            else:
                first, skipped = 0, seq  # a new boot starts at its BOOT record, seq 0
            if skipped < 0x8000:
                self._absent.update((boot, (first + i) & 0xFFFF) for i in range(skipped))
        self._replay_prev = (boot, seq)
        self._damaged_since_prev = False

    def _is_absent(self, boot: int, gap: tuple[int, int]) -> bool:
        first, last = gap
        return all(
            (boot, (first + i) & 0xFFFF) in self._absent for i in range((last - first) % 65536 + 1)
        )

    def _acknowledgeable(self) -> tuple[int, int] | None:
        """The last record downloaded before the first gap still open (None: nothing new)."""
        if self._last_key is None:
            return None
        previous = None
        for boot in sorted(self._boots):
            opened = self.result.open_gaps.get(boot)
            if opened:
                first = opened[0][0]
                if first != 0:
                    return min((boot, (first - 1) & 0xFFFF), self._last_key)
                return min(previous, self._last_key) if previous is not None else None
            last = self._last_of(boot)
            if last is not None:
                previous = (boot, last)
        return self._last_key

    def still_on_gate(self) -> list[str]:
        """Lines naming the records the gate still holds unread (the open gaps)."""
        lines = []
        for boot, gaps in self.result.open_gaps.items():
            spans = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in gaps)
            lines.append(
                f"boot {boot}: records {spans} are still on the gate (damaged on the way "
                f"{self.passes} times): not acknowledged, the next sync asks for them again"
            )
        return lines

    def _last_of(self, boot: int) -> int | None:
        return self.store.last_seq(self.device_id, boot)

    def _read_settings(self, now: float) -> bytes:
        """GET_CONFIG of the fever threshold: the answer is stored, so a report knows the
        threshold in force even where nobody changed it (host_tools/report.py)."""
        self.state = SETTINGS
        return self._send(protocol.CMD_GET_CONFIG, THRESHOLD_KEY, 0, now)

    def _download(self, now: float) -> bytes:
        self.state = DOWNLOAD
        resume = self.store.sync_state(self.device_id)
        if resume is None:
            return self._backlog(protocol.BACKLOG_UNACKNOWLEDGED, None, now)
        boot, seq = resume
        self._contiguous = resume
        return self._backlog(protocol.BACKLOG_FROM, (boot, (seq + 1) & 0xFFFF), now)

    def _repair(self, now: float) -> bytes:
        """A live gap: download the current boot again from its first missing record."""
        self._live_gap_at = None
        self._store_events()
        self._boots = {self.boot}
        self._round_passes = 0
        gap = self._first_gap()
        if gap is None:
            return b""
        self._tried[gap] = self._tried.get(gap, 0) + 1
        self.state = DOWNLOAD
        return self._backlog(protocol.BACKLOG_FROM, gap, now)

    def _backlog(self, key: int, start: tuple[int, int] | None, now: float) -> bytes:
        self.result.passes += 1
        self._round_passes += 1
        value = 0 if start is None else pack_key(*start)
        # the first record this download replays skips what the journal lacks from `start`
        self._replay_prev = None if start is None else (start[0], (start[1] - 1) & 0xFFFF)
        self._damaged_since_prev = False
        return self._send(protocol.CMD_BACKLOG, key, value, now)

    def _downloaded(self, boot: int, record) -> None:
        """Counts a replayed record and follows the first pass's unbroken run of them, the
        point an interrupted sync resumes from."""
        self.result.downloaded += 1
        self._boots.add(boot)
        self._last_key = (boot, record.seq)
        if self._broken or self.result.passes > 1:
            return
        run = self._contiguous
        first = _covered_from(record)  # a chatter marker: the numbers before it are not lost
        if (
            run is None
            or record.type == "boot"
            or (boot == run[0] and record.seq == (run[1] + 1) & 0xFFFF)
            or (
                boot == run[0]
                and first is not None
                and (run[1] + 1 - first) & 0xFFFF < 0x8000
                and (record.seq - run[1]) & 0xFFFF < 0x8000
            )
        ):
            self._contiguous = (boot, record.seq)
        else:
            self._broken = True

    def _first_gap(self) -> tuple[int, int] | None:
        """The first gap still open that was not asked for `passes` times yet."""
        for boot in sorted(self._boots):
            for gap in self.store.gaps(self.device_id, boot):
                if self._is_absent(boot, gap):
                    continue
                if self._tried.get((boot, gap[0]), 0) < self.passes:
                    return boot, gap[0]
        return None

    def _store_events(self) -> None:
        if self._events:
            live = [e for e in self._events if e.status is not Status.REPLAY]
            replayed = [e for e in self._events if e.status is Status.REPLAY]
            self._events = []
            n_live = self.store.ingest(live).inserted if live else 0
            n_replayed = self.store.ingest(replayed).inserted if replayed else 0
            self.result.inserted_live += n_live
            self.result.inserted_replayed += n_replayed
            self.result.inserted += n_live + n_replayed
        run = self._contiguous
        if run is not None and run != self._saved and self.device_id != DEVICE_UNKNOWN:
            self.store.set_sync_state(self.device_id, *run)
            self._saved = run


def _covered_from(record) -> int | None:
    """The first sequence number a CONFIG KEY_CHATTER record accounts for (the link chatter
    right before it, not journaled), or None for any other record."""
    if record.type != "config" or record.fields["key"] != protocol.KEY_CHATTER:
        return None
    value = record.fields["value"]
    if not 0 < value < 0x8000:
        return None
    return (record.seq - value) & 0xFFFF


def _refusal(fields: dict, lock_left_s: int | None = None) -> tuple[str, int]:
    """The line for a refused command and the exit code service commands give it."""
    from host_tools.device import command_text, reason_text

    name = command_text(fields["command"])
    configs = {} if lock_left_s is None else {protocol.KEY_LOCK_LEFT_S: lock_left_s}
    reason = reason_text(fields["reason"], configs)
    if fields["status"] == protocol.REPLY_REFUSED:
        code = EXIT_REFUSED
    elif fields["status"] == protocol.REPLY_BAD_FRAME:
        code = EXIT_BAD_FRAME
    else:
        code = EXIT_FAILED
    return f"{name} was not done: {reason}", code


# -- `fevergate sync PORT` --------------------------------------------------------------------


def argparse_sync(parser) -> None:
    import textwrap

    parser.description = textwrap.fill(
        "Download everything the gate kept in its flash journal since the last sync into the "
        "SQLite store, with progress (on a terminal); fill gaps by asking again; acknowledge "
        "what was stored, so the next sync starts after it (an interrupted sync resumes where "
        "it stopped; records still missing are not acknowledged and stay on the gate). Also "
        "sets the gate's clock from this computer. Exit 1 if gaps remain.",
        79,
    )
    parser.epilog = (
        "examples:\n  fevergate sync /dev/ttyUSB0 --store gate.db --pin 1234\n"
        "  FEVERGATE_PIN=1234 fevergate sync /dev/ttyACM0 --store gate.db -q"
    )
    parser.add_argument("port", metavar="PORT", help="serial port or pyserial URL")
    parser.add_argument("--store", required=True, metavar="FILE", help="SQLite store to fill")
    parser.add_argument("--pin", help="service PIN (default: $FEVERGATE_PIN)")
    parser.add_argument(
        "--timeout", type=float, default=5.0, help="seconds to wait for an answer (5)"
    )
    parser.add_argument(
        "--no-time-sync", action="store_true", help="leave the gate's clock as it is"
    )
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress line (scripts, cron)"
    )
    parser.add_argument(
        "--utc-offset",
        type=_utc_offset,
        default=None,
        help="the site's UTC offset sent with the time, e.g. +08:00 (default: this computer's)",
    )


def _utc_offset(text):
    from host_tools.service import utc_offset

    return utc_offset(text)


def do_sync(state, args) -> int:
    import os
    import time

    from host_tools.errors import EXIT_DATA, EXIT_INTERRUPTED, EXIT_USAGE, FevergateError
    from host_tools.serialport import open_port
    from host_tools.service import local_utc_offset_min, parse_pin

    pin = parse_pin(args)
    if pin is None:
        raise FevergateError(
            "sync acknowledges what it stored: give --pin or set FEVERGATE_PIN", EXIT_USAGE
        )
    port = open_port(args.port, timeout=0.05)
    local = "://" not in args.store  # an SQLite file (not a site's PostgreSQL URL)
    fresh = local and not os.path.exists(args.store)
    try:
        store = open_store(args.store)
    except FevergateError:
        port.close()
        raise
    session = SyncSession(
        store,
        pin,
        unix_time=None if args.no_time_sync else time.time,
        utc_offset_min=local_utc_offset_min() if args.utc_offset is None else args.utc_offset,
        reply_timeout_s=args.timeout,
    )
    shown = not args.quiet and _is_terminal(state.err)
    progress = _Progress(state.err if shown else None)
    stopped: BaseException | None = None
    try:
        try:
            port.write(session.start(time.monotonic()))
            while not session.done:
                now = time.monotonic()
                data = port.read(port.in_waiting or 1)
                out = session.feed(data, now) + session.poll(now)
                if out:
                    port.write(out)
                progress.show(session.progress, now, session.progress_fraction)
            progress.show(
                session.progress, time.monotonic(), session.progress_fraction, force=True
            )
        except (FevergateError, KeyboardInterrupt) as exc:
            stopped = exc  # the cable pulled, a full disk, Ctrl-C: keep what came first
        try:
            result = session.finish()
        except FevergateError as exc:
            result = session.result
            stopped = stopped or exc
    finally:
        progress.end()
        port.close()
        failed = stopped is not None or bool(session.result.error)
        empty = fresh and failed and _only_answers(store)
        store.close()
        if empty:  # a failed first sync leaves no empty store behind
            os.remove(args.store)
    where = "nothing stored" if empty else f"{result.inserted} new records stored in {args.store}"
    if isinstance(stopped, KeyboardInterrupt):
        state.err.write(f"fevergate sync: interrupted; {where}; run sync again to resume\n")
        return EXIT_INTERRUPTED
    if isinstance(stopped, FevergateError):
        raise FevergateError(
            f"{stopped.message}; {where}; run sync again to resume", stopped.exit_code
        )
    if result.error:
        raise FevergateError(f"sync failed: {result.error}; {where}", result.exit_code)
    passes = "1 pass" if result.passes == 1 else f"{result.passes} passes"
    state.print(
        f"sync: {result.downloaded} records downloaded from the journal in {passes}, "
        f"{result.inserted_replayed} of them new in {args.store}; "
        f"{result.inserted_live} live records and gate answers stored too"
    )
    if result.acknowledged is not None:
        boot, seq = result.acknowledged
        state.print(f"acknowledged up to boot {boot} record {seq}")
    if result.journal_dropped:
        state.print(f"the gate's journal deleted {result.journal_dropped} records before a sync")
    for line in session.still_on_gate():
        state.print(line)
    for boot, gaps in result.gaps.items():
        lost = [g for g in gaps if g not in result.open_gaps.get(boot, [])]
        if lost:
            spans = ", ".join(f"{a}" if a == b else f"{a}..{b}" for a, b in lost)
            state.print(f"boot {boot}: records {spans} are not in the gate's journal (lost)")
    return EXIT_DATA if result.gaps else 0


def _only_answers(store: RecordStore) -> bool:
    """True when the store holds nothing but the gate's answers to this sync's commands."""
    answers = sum(store.count(t) for t in ("config", "reply", "status", "time"))
    return store.count() == answers


def _is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class _Progress:
    """One line on a terminal's stderr, rewritten at most 4 times a second: a bar of the
    download's journal bytes, the records and their rate. Nothing when `stream` is None."""

    def __init__(self, stream) -> None:
        self.stream = stream
        self._next = 0.0
        self._start: float | None = None
        self._shown = False

    def show(self, count: int, now: float, fraction: float | None = None, force=False) -> None:
        if self.stream is None:
            return
        if self._start is None:
            self._start = now
        if now < self._next and not force:
            return
        self._next = now + 0.25
        rate = count / (now - self._start) if now > self._start else 0.0
        bar = ""
        if fraction is not None:
            filled = round(20 * fraction)
            bar = f"[{'#' * filled}{'.' * (20 - filled)}] {fraction:4.0%} "
        self.stream.write(f"\rsync: {bar}{count} records downloaded ({rate:.0f}/s)")
        self.stream.flush()
        self._shown = True

    def end(self) -> None:
        if self._shown:
            self.stream.write("\n")
