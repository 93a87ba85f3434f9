"""`fevergate export`: records from the SQLite store as CSV or JSON lines, filtered.

Filters: device id, wall-time range (since inclusive, until exclusive; dates are local time),
record type. CSV columns: device_id, boot, seq, t_cs, type, wall_time (Unix seconds),
time (ISO 8601, local, with offset), then the record's fields (for several types, the union of
their fields, empty where a type has none). JSON lines: the same keys, fields inline.
"""

from __future__ import annotations

import csv
import datetime
import json

from host_tools.errors import EXIT_USAGE, FevergateError
from host_tools.store import RecordStore

__all__ = ["export", "parse_date", "BASE_COLUMNS"]

BASE_COLUMNS = ("device_id", "boot", "seq", "t_cs", "type", "wall_time", "time")


def parse_date(text: str) -> float:
    """Unix seconds from '2024-05-01' (local midnight), '2024-05-01T08:30[:00]' or
    '2024-05-01 08:30' (local), an ISO string with an offset, or a number of Unix seconds."""
    text = text.strip()
    try:
        return float(text)
    except ValueError:
        pass
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise FevergateError(
            f"{text!r} is not a date: use 2024-05-01, 2024-05-01T08:30 or Unix seconds",
            EXIT_USAGE,
        ) from None
    return moment.timestamp()  # naive datetimes are local time


def _iso(wall: float | None) -> str | None:
    if wall is None:
        return None
    return datetime.datetime.fromtimestamp(wall).astimezone().isoformat(timespec="seconds")


def _flat(row: dict) -> dict:
    out = {k: row[k] for k in BASE_COLUMNS if k != "time"}
    out["time"] = _iso(row["wall_time"])
    out.update(row["fields"])
    return out


def export(
    store: RecordStore,
    out,
    fmt: str = "csv",
    device_id: int | None = None,
    since: float | None = None,
    until: float | None = None,
    type_: str | None = None,
) -> int:
    """Write the selected rows to the text stream `out`; returns how many."""
    rows = store.query(device_id=device_id, since=since, until=until, type_=type_)
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(_flat(row)) + "\n")
            n += 1
        return n
    if fmt != "csv":
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    columns = list(BASE_COLUMNS)
    columns += store.field_names(device_id=device_id, since=since, until=until, type_=type_)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_flat(row))
        n += 1
    return n
