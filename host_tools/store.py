"""Everything a gate sends, kept in SQLite: one row per good record, never stored twice.

Table `records` (schema in docs/CLI.md), one row per record, unique on
(device_id, boot, seq, t_cs). device_id and boot (the BOOT record's boot_count) are learned
from the stream; before any BOOT record is seen they are DEVICE_UNKNOWN (0) and BOOT_UNKNOWN
(-1), and after a new boot revealed without its BOOT record (t_cs went back) the boot is -1
again. t_cs joins the key because seq wraps at 65536 within a long boot; a record's seq and
t_cs never change, so reading the same stream again stores nothing new (ON CONFLICT DO
NOTHING).

wall_time (Unix seconds) comes from the boot's TIME record if one arrived before the record,
else from the laptop's clock at reception when the caller passes `received_at`, else NULL
(a capture file read later has no reception time). `fill_wall_times()` later gives the rows of
a boot still without one the time its TIME record implies (uptime runs on within a boot).

A host that connects long after the BOOT record learns the device and boot from the CONFIG
records KEY_DEVICE_ID and KEY_BOOT_COUNT that STATUS and BACKLOG answers carry. REPLAY events
(records downloaded from the gate's journal, docs/PROTOCOL.md) are stored under the boot they
carry, with the time of that boot's replayed TIME record when one came before them; the same
record received live and replayed is stored once. `gaps()` lists the sequence numbers missing
from a stored boot, its tail too: the BOOT of the next boot is followed by a CONFIG
KEY_JOURNAL_END record saying how far the previous boot's journal got, and what the store
lacks of that boot up to there is a gap (a sync downloads it; records a power cut lost before
the gate's flush are after it: the gate flushes every passage and alarm at once). The link
chatter the gate's journal does not keep (answers to frames without the right PIN) is not a
gap: a CONFIG KEY_CHATTER record stands for the `value` sequence numbers right before it.

One interface, two backends: `RecordStore` is what every tool uses; `SQLiteStore` (alias
`Store`, one laptop, the default) and `PostgresStore` (host_tools/store_pg.py, a site's
database, same tables and key) implement it. `open_store(path_or_url)` picks the backend.

APIs for other tools: `open_store(target).ingest(events, received_at=None)`,
`ingest_bytes(db, data)`, and `Tracker`, which follows device, boot and time anchor through a
stream of events.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from host_tools.decoder import Event, Record, Status, StreamDecoder, record_to_dict
from host_tools.errors import EXIT_FILE, FevergateError
from host_tools.wire import protocol

__all__ = [
    "RecordStore",
    "SQLiteStore",
    "Store",
    "open_store",
    "Tracker",
    "IngestResult",
    "ingest_bytes",
    "SCHEMA",
    "DEVICE_UNKNOWN",
    "BOOT_UNKNOWN",
    "BAD_STATUSES",
]

DEVICE_UNKNOWN = 0
BOOT_UNKNOWN = -1
BAD_STATUSES = frozenset(
    {
        Status.CRC_MISMATCH,
        Status.FRAMING_ERROR,
        Status.UNKNOWN_TYPE,
        Status.UNSUPPORTED_VERSION,
    }
)
_WRAP = protocol.T_CS_WRAP
_HALF = protocol.T_CS_WRAP // 2

SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    device_id INTEGER NOT NULL,          -- BOOT device_id; 0 before any BOOT was seen
    boot      INTEGER NOT NULL,          -- BOOT boot_count; -1 when unknown
    seq       INTEGER NOT NULL,          -- u16 sequence number
    t_cs      INTEGER NOT NULL,          -- device uptime, centiseconds
    type      TEXT    NOT NULL,          -- boot, passage, alarm, fault, status, time, ...
    wall_time REAL,                      -- Unix seconds; NULL when unknown
    fields    TEXT    NOT NULL,          -- JSON: record_to_dict minus type, seq, t_cs
    UNIQUE (device_id, boot, seq, t_cs)
);
CREATE INDEX IF NOT EXISTS records_by_time ON records (wall_time);
CREATE INDEX IF NOT EXISTS records_by_type ON records (type, wall_time);
CREATE TABLE IF NOT EXISTS sync_state (
    device_id INTEGER PRIMARY KEY,       -- the gate
    boot      INTEGER NOT NULL,          -- the last record of its journal downloaded in
    seq       INTEGER NOT NULL           -- an unbroken run: the next sync resumes after it
);
"""

_INSERT = (
    "INSERT INTO records (device_id, boot, seq, t_cs, type, wall_time, fields) "
    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING"
)


def _uncovered(gaps: list[tuple[int, int]], covered: list[tuple[int, int]]):
    """`gaps` (first, last seq) without the numbers in `covered` (first seq, count): the link
    chatter the gate did not journal, which no record stands for."""
    out = []
    for first, last in gaps:
        pieces = [(0, (last - first) % 65536 + 1)]  # [start, end) relative to `first`
        for start, count in covered:
            lo = ((start - first + 0x8000) & 0xFFFF) - 0x8000
            hi = lo + count
            pieces = [
                piece
                for a, b in pieces
                for piece in ((a, min(b, lo)), (max(a, hi), b))
                if piece[0] < piece[1]
            ]
        out.extend(((first + a) & 0xFFFF, (first + b - 1) & 0xFFFF) for a, b in pieces)
    return out


class Tracker:
    """Follows a stream's device, boot and TIME anchor: feed it every event in order."""

    def __init__(self) -> None:
        self.device_id = DEVICE_UNKNOWN
        self.boot = BOOT_UNKNOWN
        self._anchor: tuple[int, int] | None = None  # (unix_s, t_cs) of the boot's TIME
        self._replay_anchors: dict[int, tuple[int, int]] = {}  # boot -> its replayed TIME

    def update(self, event: Event) -> None:
        if event.status is Status.NEW_BOOT:
            self.boot = BOOT_UNKNOWN
            self._anchor = None
        elif event.status is Status.OK:
            record = event.record
            if record.type == "boot":
                self.device_id = record.fields["device_id"]
                self.boot = record.fields["boot_count"]
            elif record.type == "time":
                self._anchor = (record.fields["unix_s"], record.t_cs)
            elif record.type == "config":
                self._identity(record.fields["key"], record.fields["value"])
        elif event.status is Status.REPLAY:
            record = event.record
            if record.type == "boot" and self.device_id == DEVICE_UNKNOWN:
                self.device_id = record.fields["device_id"]
            elif record.type == "time":
                self._replay_anchors[event.boot] = (record.fields["unix_s"], record.t_cs)

    def learn(self, device_id: int, boot: int) -> None:
        """The device and boot of the live records from now on (a STATUS answer said so)."""
        self.device_id = device_id
        self.boot = boot

    def _identity(self, key: int, value: int) -> None:
        if key == protocol.KEY_BOOT_COUNT and self.boot == BOOT_UNKNOWN:
            self.boot = value
        elif key == protocol.KEY_DEVICE_ID and self.device_id == DEVICE_UNKNOWN:
            self.device_id = value & 0xFFFFFFFF

    def replay_wall_time(self, boot: int, record: Record) -> float | None:
        """Unix seconds of a replayed record of `boot`, if a TIME of that boot is known."""
        anchor = self._replay_anchors.get(boot)
        if anchor is None and boot == self.boot:
            anchor = self._anchor
        return None if anchor is None else _anchored(anchor, record.t_cs)

    @property
    def has_time(self) -> bool:
        return self._anchor is not None

    def wall_time(self, record: Record, received_at: float | None = None) -> float | None:
        """Unix seconds of `record`: from the TIME anchor if any, else `received_at`."""
        if self._anchor is None:
            return received_at
        return _anchored(self._anchor, record.t_cs)


def _anchored(anchor: tuple[int, int], t_cs: int) -> float:
    """Unix seconds at uptime `t_cs`, from a TIME record's (unix_s, t_cs) of the same boot."""
    unix_s, t0 = anchor
    diff = (t_cs - t0) % _WRAP
    if diff >= _HALF:
        diff -= _WRAP
    return unix_s + diff / 100


@dataclass
class IngestResult:
    inserted: int = 0  # new rows
    duplicates: int = 0  # good records already stored
    good: int = 0
    bad: int = 0  # damaged frames (not stored)
    lost: int = 0  # records missing from the stream (sequence gaps)
    replayed: int = 0  # good records downloaded from the journal (counted in `good` too)

    def add(self, other: IngestResult) -> None:
        for name in ("inserted", "duplicates", "good", "bad", "lost", "replayed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))


def _fields_json(record: Record) -> str:
    data = record_to_dict(record)
    for key in ("type", "seq", "t_cs"):
        del data[key]
    return json.dumps(data, sort_keys=True, separators=(",", ":"))


class RecordStore:
    """The store interface: what `log`, `sync`, `export`, `report` and `ingest` use.

    Two backends: `SQLiteStore` (one laptop, the default) and `PostgresStore`
    (host_tools/store_pg.py, a site's database). `open_store(target)` picks one from a path or
    a `postgresql://` URL. The shared logic (decoding events into rows, gaps, wall times) is
    here; a backend gives `_read(sql, params)` and `_write(sql, rows)` with `?` placeholders,
    `insert_rows(rows)` and its row-order column `_ROWID`.
    """

    _ROWID = "rowid"
    name = ""

    def __init__(self) -> None:
        self.tracker = Tracker()

    # -- what a backend gives ------------------------------------------------------------
    def _read(self, sql: str, params=()) -> list[tuple]:
        raise NotImplementedError

    def _write(self, sql: str, rows: list) -> int:
        """Runs `sql` once per parameter tuple in one transaction; returns rows changed."""
        raise NotImplementedError

    def insert_rows(self, rows: list[tuple]) -> int:
        """Stores (device_id, boot, seq, t_cs, type, wall_time, fields_json) rows, each once
        whatever is given twice; returns how many were new."""
        return self._write(_INSERT, rows)

    def close(self) -> None:
        raise NotImplementedError

    # -- shared --------------------------------------------------------------------------
    def __enter__(self) -> RecordStore:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def new_stream(self) -> None:
        """Forget device, boot and time: the next events come from another port or file."""
        self.tracker = Tracker()

    def rows_of(self, events: Iterable[Event], received_at: float | None = None):
        """(rows, IngestResult without `inserted`) for the good records of `events`."""
        result = IngestResult()
        tracker = self.tracker
        rows = []
        for event in events:
            tracker.update(event)
            status = event.status
            if status is Status.OK:
                record = event.record
                result.good += 1
                rows.append(
                    (
                        tracker.device_id,
                        tracker.boot,
                        record.seq,
                        record.t_cs,
                        record.type,
                        tracker.wall_time(record, received_at),
                        _fields_json(record),
                    )
                )
            elif status is Status.REPLAY:
                record = event.record
                result.good += 1
                result.replayed += 1
                rows.append(
                    (
                        tracker.device_id,
                        event.boot,
                        record.seq,
                        record.t_cs,
                        record.type,
                        tracker.replay_wall_time(event.boot, record),
                        _fields_json(record),
                    )
                )
            elif status in BAD_STATUSES:
                result.bad += 1
            elif status is Status.GAP:
                result.lost += event.lost
        return rows, result

    def ingest(self, events: Iterable[Event], received_at: float | None = None) -> IngestResult:
        """Store the good records of `events` (in stream order) and commit; the result counts."""
        rows, result = self.rows_of(events, received_at)
        if rows:
            result.inserted = self.insert_rows(rows)
        result.duplicates = result.good - result.inserted
        return result

    def count(self, type_: str | None = None) -> int:
        if type_ is None:
            return self._read("SELECT COUNT(*) FROM records")[0][0]
        return self._read("SELECT COUNT(*) FROM records WHERE type = ?", (type_,))[0][0]

    def duplicates(self) -> int:
        """Rows beyond the first with the same (device_id, boot, seq, t_cs): always 0 unless
        the database lost its unique key."""
        sql = (
            "SELECT COALESCE(SUM(n - 1), 0) FROM (SELECT COUNT(*) AS n FROM records "
            "GROUP BY device_id, boot, seq, t_cs HAVING COUNT(*) > 1) AS twice"
        )
        return int(self._read(sql)[0][0])

    def devices(self) -> list[int]:
        """Every device id stored, in order."""
        return [d for (d,) in self._read("SELECT DISTINCT device_id FROM records ORDER BY 1")]

    def latest_wall_time(self) -> float | None:
        return self._read("SELECT MAX(wall_time) FROM records")[0][0]

    def undated(self, device_id: int) -> int:
        """Rows of a device without a wall time."""
        sql = "SELECT COUNT(*) FROM records WHERE device_id = ? AND wall_time IS NULL"
        return self._read(sql, (device_id,))[0][0]

    def config_before(self, device_id: int, until: float) -> list[dict]:
        """The fields of a device's CONFIG records before `until`, in time order."""
        rows = self._read(
            "SELECT fields FROM records WHERE device_id = ? AND type = 'config' "
            "AND wall_time < ? ORDER BY wall_time",
            (device_id, until),
        )
        return [json.loads(text) for (text,) in rows]

    def fill_wall_times(self) -> int:
        """Gives rows without a wall_time the time their boot's TIME record implies; returns
        how many rows got one."""
        anchors = self._read(
            "SELECT device_id, boot, MAX(t_cs) FROM records "
            "WHERE type = 'time' AND boot != ? GROUP BY device_id, boot",
            (BOOT_UNKNOWN,),
        )
        updates = []
        for device, boot, t0 in anchors:
            (fields,) = self._read(
                "SELECT fields FROM records WHERE device_id = ? AND boot = ? "
                "AND type = 'time' AND t_cs = ? LIMIT 1",
                (device, boot, t0),
            )[0]
            anchor = (json.loads(fields)["unix_s"], t0)
            rows = self._read(
                f"SELECT {self._ROWID}, t_cs FROM records "
                "WHERE device_id = ? AND boot = ? AND wall_time IS NULL",
                (device, boot),
            )
            updates += [(_anchored(anchor, t_cs), rowid) for rowid, t_cs in rows]
        if updates:
            self._write(f"UPDATE records SET wall_time = ? WHERE {self._ROWID} = ?", updates)
        return len(updates)

    def gaps(self, device_id: int, boot: int) -> list[tuple[int, int]]:
        """(first, last) sequence numbers missing between the stored records of one boot, in
        uptime order; a boot must start at seq 0 (its BOOT record)."""
        rows = self._read(
            "SELECT seq, type, fields FROM records WHERE device_id = ? AND boot = ? "
            "ORDER BY t_cs, seq",
            (device_id, boot),
        )
        missing = []
        covered = []  # (first seq, count) the gate's CONFIG KEY_CHATTER records account for
        expected = 0
        for seq, kind, fields in rows:
            if kind == "config":
                data = json.loads(fields)
                if data["key"] == protocol.KEY_CHATTER and 0 < data["value"] < 0x8000:
                    covered.append(((seq - data["value"]) & 0xFFFF, data["value"]))
            if seq != expected and (seq - expected) & 0xFFFF < 0x8000:
                missing.append((expected, (seq - 1) & 0xFFFF))
            if (seq - expected) & 0xFFFF < 0x8000:
                expected = (seq + 1) & 0xFFFF
        end = self.journal_end(device_id, boot)
        if end is not None and rows and (end - expected) & 0xFFFF < 0x8000:
            missing.append((expected, end))  # the tail the journal kept and we never got
        return _uncovered(missing, covered) if covered else missing

    def journal_end(self, device_id: int, boot: int) -> int | None:
        """The last seq of `boot` its journal held at the next boot (that boot's CONFIG
        KEY_JOURNAL_END record), or None when no later boot said so."""
        rows = self._read(
            "SELECT fields FROM records WHERE device_id = ? AND type = 'config' AND boot > ? "
            "ORDER BY boot",
            (device_id, boot),
        )
        for (fields,) in rows:
            data = json.loads(fields)
            if data["key"] != protocol.KEY_JOURNAL_END:
                continue
            value = data["value"] & 0xFFFFFFFF
            if value >> 16 == boot & 0xFFFF:
                return value & 0xFFFF
        return None

    def last_seq(self, device_id: int, boot: int) -> int | None:
        """The sequence number of the last stored record of one boot (uptime order), or None."""
        rows = self._read(
            "SELECT seq FROM records WHERE device_id = ? AND boot = ? "
            "ORDER BY t_cs DESC, seq DESC LIMIT 1",
            (device_id, boot),
        )
        return rows[0][0] if rows else None

    def sync_state(self, device_id: int) -> tuple[int, int] | None:
        """(boot, seq) the next sync of this device resumes after, or None."""
        rows = self._read("SELECT boot, seq FROM sync_state WHERE device_id = ?", (device_id,))
        return None if not rows else (rows[0][0], rows[0][1])

    def set_sync_state(self, device_id: int, boot: int, seq: int) -> None:
        self._write(
            "INSERT INTO sync_state (device_id, boot, seq) VALUES (?, ?, ?) "
            "ON CONFLICT (device_id) DO UPDATE SET boot = excluded.boot, seq = excluded.seq",
            [(device_id, boot, seq)],
        )

    def boots(self, device_id: int) -> list[int]:
        """The known boots of a device stored, in order."""
        sql = "SELECT DISTINCT boot FROM records WHERE device_id = ? AND boot != ? ORDER BY boot"
        return [b for (b,) in self._read(sql, (device_id, BOOT_UNKNOWN))]

    def query(
        self,
        device_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        type_: str | None = None,
    ) -> Iterator[dict]:
        """Rows in (device, boot, arrival) order as dicts: the columns, `fields` decoded.

        since (inclusive) and until (exclusive) are Unix seconds on wall_time; rows without a
        wall_time are left out when either is given.
        """
        where, params = _where(device_id, since, until, type_)
        sql = "SELECT device_id, boot, seq, t_cs, type, wall_time, fields FROM records"
        sql += where + f" ORDER BY device_id, boot, {self._ROWID}"
        for device, boot, seq, t_cs, type_name, wall, fields in self._read(sql, params):
            yield {
                "device_id": device,
                "boot": boot,
                "seq": seq,
                "t_cs": t_cs,
                "type": type_name,
                "wall_time": wall,
                "fields": json.loads(fields),
            }

    def field_names(
        self,
        device_id: int | None = None,
        since: float | None = None,
        until: float | None = None,
        type_: str | None = None,
    ) -> list[str]:
        """The field names of the record types among the selected rows (for CSV columns)."""
        where, params = _where(device_id, since, until, type_)
        names: list[str] = []
        types = self._read(f"SELECT DISTINCT type FROM records{where} ORDER BY type", params)
        for (name,) in types:
            sample = self._read("SELECT fields FROM records WHERE type = ? LIMIT 1", (name,))
            names += [key for key in json.loads(sample[0][0]) if key not in names]
        return names


class SQLiteStore(RecordStore):
    """A records database in one SQLite file. `readonly=True` never creates the file (export,
    report)."""

    def __init__(self, path: str, readonly: bool = False) -> None:
        super().__init__()
        self.path = self.name = str(path)
        try:
            if readonly:
                self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
                self.db.execute("SELECT 1 FROM records LIMIT 1")
            else:
                self.db = sqlite3.connect(self.path)
                self.db.executescript(SCHEMA)
        except sqlite3.Error as exc:
            raise FevergateError(
                f"{self.path}: cannot use as a database ({exc})", EXIT_FILE
            ) from None

    def close(self) -> None:
        self.db.close()

    def _read(self, sql: str, params=()) -> list[tuple]:
        try:
            return self.db.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise FevergateError(f"{self.path}: cannot read ({exc})", EXIT_FILE) from None

    def _write(self, sql: str, rows: list) -> int:
        try:
            with self.db:
                before = self.db.total_changes
                self.db.executemany(sql, rows)
                return self.db.total_changes - before
        except sqlite3.Error as exc:
            raise FevergateError(f"{self.path}: cannot write ({exc})", EXIT_FILE) from None


Store = SQLiteStore  # the name the single-gate tools have always used


def open_store(target: str, readonly: bool = False) -> RecordStore:
    """The store at `target`: a `postgresql://` (or `postgres://`) URL opens the site's
    PostgreSQL database, anything else is an SQLite file."""
    text = str(target)
    if text.startswith(("postgresql://", "postgres://")):
        from host_tools.store_pg import PostgresStore

        return PostgresStore(text, readonly=readonly)
    return SQLiteStore(text, readonly=readonly)


def _where(device_id, since, until, type_) -> tuple[str, list]:
    """A WHERE clause (with its leading space, or empty) and its parameters."""
    where, params = [], []
    if device_id is not None:
        where.append("device_id = ?")
        params.append(device_id)
    if since is not None:
        where.append("wall_time >= ?")
        params.append(since)
    if until is not None:
        where.append("wall_time < ?")
        params.append(until)
    if type_ is not None:
        where.append("type = ?")
        params.append(type_)
    return (" WHERE " + " AND ".join(where) if where else ""), params


def ingest_bytes(db, data: bytes, received_at: float | None = None) -> IngestResult:
    """Decode raw UART bytes (a whole capture) and store them; `db` is a path or a Store."""
    own = not isinstance(db, RecordStore)
    store = open_store(db) if own else db
    try:
        if not own:
            store.new_stream()
        decoder = StreamDecoder()
        events = decoder.feed(data)
        events += decoder.flush()
        return store.ingest(events, received_at)
    finally:
        if own:
            store.close()
