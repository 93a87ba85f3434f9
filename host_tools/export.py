"""`fevergate export`: records from the SQLite store as CSV or JSON lines, filtered.

Filters: device id, wall-time range (since inclusive, until exclusive; dates are in the site's
zone), record type (one of the protocol's types; another name is an error listing them).
CSV columns: device_id, boot, seq, t_cs, type, wall_time (Unix seconds), time (ISO 8601 in
the site's zone, with offset), then the record's fields (for several types, the union of their
fields, empty where a type has none; a field named like a column above is not repeated), each
raw fixed-point field followed by its value in the unit people read: `temp_cc` then `temp_c`
(degrees C), `transit_cs` then `transit_s` (seconds), `*_ms` then `*_s`. JSON lines: the same
keys, fields inline.
"""

from __future__ import annotations

import csv
import datetime
import json

from host_tools.errors import EXIT_DATA, EXIT_USAGE, FevergateError
from host_tools.store import RecordStore

__all__ = ["export", "parse_date", "check_filters", "BASE_COLUMNS", "unit_columns"]

BASE_COLUMNS = ("device_id", "boot", "seq", "t_cs", "type", "wall_time", "time")
# raw suffix -> (readable suffix, divisor)
_UNITS = {"_cc": ("_c", 100), "_cs": ("_s", 100), "_ms": ("_s", 1000)}


def parse_date(text: str, tz: datetime.tzinfo | None = None) -> float:
    """Unix seconds from '2024-05-01' (midnight), '2024-05-01T08:30[:00]' or
    '2024-05-01 08:30' in the zone `tz` (None: the laptop's), an ISO string with an offset,
    or a number of Unix seconds."""
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
    if moment.tzinfo is None and tz is not None:
        moment = moment.replace(tzinfo=tz)
    return moment.timestamp()  # naive datetimes are local time


def _iso(wall: float | None, tz: datetime.tzinfo | None) -> str | None:
    if wall is None:
        return None
    moment = datetime.datetime.fromtimestamp(wall, tz)
    if tz is None:
        moment = moment.astimezone()
    return moment.isoformat(timespec="seconds")


def unit_columns(name: str) -> str | None:
    """The readable column beside a raw field: temp_cc -> temp_c, transit_cs -> transit_s."""
    for suffix, (unit, _) in _UNITS.items():
        if name.endswith(suffix):
            return name[: -len(suffix)] + unit
    return None


def _readable(name: str, value):
    for suffix, (_, divisor) in _UNITS.items():
        if name.endswith(suffix) and isinstance(value, int):
            if name == "temp_cc" and value == 0:
                return None  # no temperature taken (a re-measure)
            return round(value / divisor, 3)
    return None


def _flat(row: dict, tz) -> dict:
    out = {k: row[k] for k in BASE_COLUMNS if k != "time"}
    out["time"] = _iso(row["wall_time"], tz)
    for name, value in row["fields"].items():
        if name in BASE_COLUMNS:
            continue  # the BOOT record's device_id is the row's
        out[name] = value
        readable = unit_columns(name)
        if readable is not None:
            out[readable] = _readable(name, value)
    return out


def check_filters(store: RecordStore, device_id: int | None, type_: str | None) -> None:
    """A type that is no record type is a usage error listing them; a device with no records
    in the store says which devices it has."""
    from host_tools.decoder import TYPE_NAMES

    if type_ is not None and type_ not in TYPE_NAMES.values():
        raise FevergateError(
            f"no record type {type_!r}; the types are: {', '.join(TYPE_NAMES.values())}",
            EXIT_USAGE,
        )
    if device_id is not None:
        devices = store.devices()
        if device_id not in devices:
            known = ", ".join(f"{d:#010x}" for d in sorted(devices)) or "none"
            raise FevergateError(
                f"no records of device {device_id:#010x} in {store.path}; its devices: {known}",
                EXIT_DATA,
            )


def export(
    store: RecordStore,
    out,
    fmt: str = "csv",
    device_id: int | None = None,
    since: float | None = None,
    until: float | None = None,
    type_: str | None = None,
    tz: datetime.tzinfo | None = None,
) -> int:
    """Write the selected rows to the text stream `out`; returns how many."""
    rows = store.query(device_id=device_id, since=since, until=until, type_=type_)
    n = 0
    if fmt == "jsonl":
        for row in rows:
            out.write(json.dumps(_flat(row, tz)) + "\n")
            n += 1
        return n
    if fmt != "csv":
        raise ValueError(f"format must be csv or jsonl, not {fmt!r}")
    columns = list(BASE_COLUMNS)
    names = store.field_names(device_id=device_id, since=since, until=until, type_=type_)
    for name in names:
        if name in columns:
            continue
        columns.append(name)
        readable = unit_columns(name)
        if readable is not None and readable not in columns:
            columns.append(readable)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(_flat(row, tz))
        n += 1
    return n
