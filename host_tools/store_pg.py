"""The site's records in PostgreSQL: the same tables, key and interface as the SQLite store.

`PostgresStore(url)` implements host_tools.store.RecordStore on a `postgresql://` URL (libpq
syntax, so `?sslmode=...`, a password file `~/.pgpass` or `PGPASSWORD` work as usual). Table
`records` is unique on (device_id, boot, seq, t_cs) like SQLite's, so several ingesters writing
the same record at the same time store it once (INSERT ... ON CONFLICT DO NOTHING); `id`
(BIGSERIAL) keeps the arrival order that SQLite's rowid gives. Schema creation is serialised
with an advisory lock, so ingesters may start together on an empty database.
"""

from __future__ import annotations

import re

from host_tools.errors import EXIT_FILE, FevergateError
from host_tools.store import RecordStore

__all__ = ["PostgresStore", "PG_SCHEMA"]

PG_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    id        BIGSERIAL PRIMARY KEY,
    device_id BIGINT  NOT NULL,
    boot      INTEGER NOT NULL,
    seq       INTEGER NOT NULL,
    t_cs      BIGINT  NOT NULL,
    type      TEXT    NOT NULL,
    wall_time DOUBLE PRECISION,
    fields    TEXT    NOT NULL,
    UNIQUE (device_id, boot, seq, t_cs)
);
CREATE INDEX IF NOT EXISTS records_by_time ON records (wall_time);
CREATE INDEX IF NOT EXISTS records_by_type ON records (type, wall_time);
CREATE TABLE IF NOT EXISTS sync_state (
    device_id BIGINT PRIMARY KEY,
    boot      INTEGER NOT NULL,
    seq       INTEGER NOT NULL
);
"""
_SCHEMA_LOCK = 0x46475354  # pg_advisory_xact_lock key while creating the tables

_INSERT_MANY = (
    "INSERT INTO records (device_id, boot, seq, t_cs, type, wall_time, fields) "
    "SELECT * FROM unnest(%s::bigint[], %s::int[], %s::int[], %s::bigint[], %s::text[], "
    "%s::float8[], %s::text[]) ON CONFLICT DO NOTHING"
)


def _redacted(url: str) -> str:
    """The URL without its password, for messages."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


class PostgresStore(RecordStore):
    """A records database on a PostgreSQL server. `readonly=True` creates nothing."""

    _ROWID = "id"

    def __init__(self, url: str, readonly: bool = False) -> None:
        super().__init__()
        self.url = url
        self.name = self.path = _redacted(url)
        try:
            import psycopg
        except ImportError:
            raise FevergateError(
                "PostgreSQL needs the psycopg package (pip install -r requirements.txt)",
                EXIT_FILE,
            ) from None
        self._errors = psycopg.Error
        try:
            self.db = psycopg.connect(url, connect_timeout=10, autocommit=True)
            with self.db.transaction():
                if readonly:
                    self.db.execute("SELECT 1 FROM records LIMIT 1")
                else:
                    self.db.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
                    self.db.execute(PG_SCHEMA)
        except psycopg.Error as exc:
            raise FevergateError(
                f"{self.name}: cannot use as a database ({_first_line(exc)})", EXIT_FILE
            ) from None

    def close(self) -> None:
        self.db.close()

    def _error(self, verb: str, exc: Exception) -> FevergateError:
        return FevergateError(f"{self.name}: cannot {verb} ({_first_line(exc)})", EXIT_FILE)

    def _read(self, sql: str, params=()) -> list[tuple]:
        try:
            with self.db.transaction():
                return self.db.execute(sql.replace("?", "%s"), params).fetchall()
        except self._errors as exc:
            raise self._error("read", exc) from None

    def _write(self, sql: str, rows: list) -> int:
        try:
            with self.db.transaction(), self.db.cursor() as cursor:
                changed = 0
                for row in rows:
                    cursor.execute(sql.replace("?", "%s"), row)
                    changed += max(cursor.rowcount, 0)
                return changed
        except self._errors as exc:
            raise self._error("write", exc) from None

    def insert_rows(self, rows: list[tuple]) -> int:
        """One statement for the whole batch (unnest of column arrays); returns rows new."""
        if not rows:
            return 0
        columns = [list(column) for column in zip(*rows, strict=True)]
        try:
            with self.db.transaction(), self.db.cursor() as cursor:
                cursor.execute(_INSERT_MANY, columns)
                return max(cursor.rowcount, 0)
        except self._errors as exc:
            raise self._error("write", exc) from None


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
