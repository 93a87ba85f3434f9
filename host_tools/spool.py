"""The bridge's local spool: every record of its gate in SQLite, and the ones not yet
acknowledged by the broker in an outbox, so nothing is lost while the broker or the network is
down, nor when the bridge restarts.

`SpoolStore(path)` is an SQLiteStore (the same `records` and `sync_state` tables, so the sync
session runs on it unchanged: gaps, resume point) plus table `outbox`:

    outbox(rec = records.rowid of a record new in the spool, frame = the gate's original COBS
           frame, read_at = Unix seconds when the bridge read it)

A record enters the outbox in the same transaction that stores it (once: a record already in
the spool is not queued again); `acked(recs)` deletes the ones the broker acknowledged.
`pending(after, limit)` lists what to publish, oldest first.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterable

from host_tools.decoder import Event, Status
from host_tools.errors import EXIT_FILE, FevergateError
from host_tools.store import _INSERT, IngestResult, SQLiteStore

__all__ = ["SpoolStore", "OUTBOX_SCHEMA"]

OUTBOX_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    rec     INTEGER PRIMARY KEY,   -- records.rowid
    frame   BLOB    NOT NULL,      -- the gate's frame, COBS, no delimiter
    read_at REAL    NOT NULL       -- when the bridge read it (Unix seconds)
);
"""

_STORED = (Status.OK, Status.REPLAY)


class SpoolStore(SQLiteStore):
    def __init__(self, path: str, clock=time.time) -> None:
        super().__init__(path)
        self.clock = clock
        try:
            self.db.executescript(OUTBOX_SCHEMA)
            self.db.execute("PRAGMA journal_mode = WAL")
            self.db.execute("PRAGMA synchronous = NORMAL")
            # the newest rec queued: nothing to publish while a bridge has sent up to it
            self.queued_upto = self.db.execute(
                "SELECT COALESCE(MAX(rec), 0) FROM outbox"
            ).fetchone()[0]
        except sqlite3.Error as exc:
            raise FevergateError(
                f"{self.path}: cannot use as a spool ({exc})", EXIT_FILE
            ) from None

    def ingest(self, events: Iterable[Event], received_at: float | None = None) -> IngestResult:
        events = list(events)
        rows, result = self.rows_of(events, received_at)
        frames = [event.raw for event in events if event.status in _STORED]
        now = self.clock()
        try:
            with self.db:
                for row, frame in zip(rows, frames, strict=True):
                    cursor = self.db.execute(_INSERT, row)
                    if cursor.rowcount == 1:
                        result.inserted += 1
                        self.db.execute(
                            "INSERT INTO outbox (rec, frame, read_at) VALUES (?, ?, ?)",
                            (cursor.lastrowid, bytes(frame), now),
                        )
                        self.queued_upto = cursor.lastrowid
        except sqlite3.Error as exc:
            raise FevergateError(f"{self.path}: cannot write ({exc})", EXIT_FILE) from None
        result.duplicates = result.good - result.inserted
        return result

    def pending(self, after: int = 0, limit: int = 500) -> list[tuple]:
        """(rec, device_id, boot, wall_time, frame, read_at) not yet acknowledged, rec > after."""
        return self._read(
            "SELECT o.rec, r.device_id, r.boot, r.wall_time, o.frame, o.read_at "
            "FROM outbox o JOIN records r ON r.rowid = o.rec WHERE o.rec > ? "
            "ORDER BY o.rec LIMIT ?",
            (after, limit),
        )

    def pending_count(self) -> int:
        return self._read("SELECT COUNT(*) FROM outbox")[0][0]

    def acked(self, recs: list[int]) -> None:
        if recs:
            self._write("DELETE FROM outbox WHERE rec = ?", [(rec,) for rec in recs])

    def ack_point(self, device_id: int, absent=None) -> tuple[int, int] | None:
        """(boot, seq) the gate may be told is safe: in the newest boot, the last record
        before the first one still waiting for the broker and before the first open gap, with
        nothing of an older boot still waiting. None when there is nothing to acknowledge.
        `absent(boot, (first, last))` says a gap is not in the gate's journal at all (the
        sync session saw the journal skip it): such a gap does not hold the ACK back."""
        boots = self.boots(device_id)
        if not boots:
            return None
        boot = boots[-1]
        older = self._read(
            "SELECT 1 FROM outbox o JOIN records r ON r.rowid = o.rec "
            "WHERE r.device_id = ? AND r.boot != ? LIMIT 1",
            (device_id, boot),
        )
        if older:
            return None
        limit_t = self._read(
            "SELECT MIN(r.t_cs) FROM outbox o JOIN records r ON r.rowid = o.rec "
            "WHERE r.device_id = ? AND r.boot = ?",
            (device_id, boot),
        )[0][0]
        gaps = [g for g in self.gaps(device_id, boot) if absent is None or not absent(boot, g)]
        if gaps:
            before = (gaps[0][0] - 1) & 0xFFFF
            if gaps[0][0] == 0:
                return None
            gap_t = self._read(
                "SELECT MAX(t_cs) FROM records WHERE device_id = ? AND boot = ? AND seq = ?",
                (device_id, boot, before),
            )[0][0]
            if gap_t is not None:
                limit_t = gap_t + 1 if limit_t is None else min(limit_t, gap_t + 1)
        sql = "SELECT seq FROM records WHERE device_id = ? AND boot = ?"
        params: tuple = (device_id, boot)
        if limit_t is not None:
            sql += " AND t_cs < ?"
            params += (limit_t,)
        row = self._read(sql + " ORDER BY t_cs DESC, seq DESC LIMIT 1", params)
        return None if not row else (boot, row[0][0])
