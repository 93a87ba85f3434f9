"""The site's time zone, one for every host command that shows or reads a clock time.

`--tz ZONE` on `report`, `monitor`, `log` and `export`: `UTC`, an offset (`+02:00`, `-0530`,
`UTC+2`) or an IANA name (`Europe/Berlin`, needs the system's zone database); without it, the
laptop's own zone (`None` here: Python's local time, daylight saving included). `day_bounds`
gives a calendar day's start and end in that zone (23 or 25 hours on a daylight-saving day),
`hour_of` the hour on the clock, `zone_name` what a header prints.

Without `--tz`, the store's commands (`report`, `export`) take the gate's own zone: the site's
UTC offset it was last given (CONFIG KEY_UTC_OFFSET, which the gate sends with every time sync,
so `sync` stores it), `store_zone`; and `monitor` takes it from such a record in the stream
(or the gate's answer about its clock). Only a gate that never said its offset leaves the
laptop's zone. A gate keeps a fixed offset: on a daylight-saving site, `--tz Europe/Berlin`
gives each day its own.
"""

from __future__ import annotations

import datetime
import re
import time

from host_tools.errors import EXIT_USAGE, FevergateError

__all__ = [
    "parse_zone",
    "zone_name",
    "day_bounds",
    "hour_of",
    "local_date",
    "add_tz_option",
    "offset_zone",
    "gate_offset_min",
    "site_zone",
    "SiteZone",
]

_OFFSET = re.compile(r"^(?:UTC|GMT)?\s*([+-])(\d{1,2})(?::?(\d{2}))?$", re.IGNORECASE)


def parse_zone(text: str | None) -> datetime.tzinfo | None:
    """A tzinfo for `text`, or None for the laptop's zone (no text, `local`)."""
    if text is None or text.strip().lower() in ("", "local"):
        return None
    text = text.strip()
    if text.upper() in ("UTC", "GMT", "Z"):
        return datetime.timezone.utc
    match = _OFFSET.match(text)
    if match:
        sign, hours, minutes = match.groups()
        delta = datetime.timedelta(hours=int(hours), minutes=int(minutes or 0))
        if delta > datetime.timedelta(hours=14):
            raise FevergateError(f"time zone {text!r}: offsets go up to 14:00", EXIT_USAGE)
        return datetime.timezone(-delta if sign == "-" else delta)
    try:
        from zoneinfo import ZoneInfo

        return ZoneInfo(text)
    except Exception:  # noqa: BLE001  (ZoneInfoNotFoundError, ValueError for odd keys)
        raise FevergateError(
            f"unknown time zone {text!r}: give UTC, an offset like +02:00, or a name like "
            "Europe/Berlin",
            EXIT_USAGE,
        ) from None


def offset_zone(offset_min: int) -> datetime.tzinfo:
    """The fixed zone `offset_min` minutes east of UTC (UTC itself for 0)."""
    if offset_min == 0:
        return datetime.timezone.utc
    return datetime.timezone(datetime.timedelta(minutes=offset_min))


def gate_offset_min(store, device_id: int | None = None) -> int | None:
    """The site's UTC offset (minutes) the gate last reported in the store: the value of its
    latest CONFIG KEY_UTC_OFFSET record (one comes with every time sync), or None."""
    from host_tools.wire import protocol

    latest = None
    for row in store.query(device_id=device_id, type_="config"):
        fields = row["fields"]
        wall = row["wall_time"]
        if fields.get("key") != protocol.KEY_UTC_OFFSET or wall is None:
            continue
        if latest is None or wall >= latest[0]:
            latest = (wall, fields["value"])
    return None if latest is None else latest[1]


class SiteZone:
    """The zone a command works in and where it came from (`--tz`, the gate, this computer)."""

    def __init__(self, tz: datetime.tzinfo | None, source: str) -> None:
        self.tz = tz
        self.source = source  # "--tz", "gate" or "computer"

    def name(self, when: float | None = None) -> str:
        return zone_name(self.tz, when)

    def describe(self, when: float | None = None) -> str:
        """`UTC+02:00, the gate's (its last time sync)` and the like, for a report."""
        why = {
            "--tz": "given with --tz",
            "gate": "the gate's, from its last time sync (--tz to change)",
            "computer": "this computer's: the gate never reported its own (sync it, or --tz)",
        }[self.source]
        return f"{self.name(when)}, {why}"


def site_zone(text: str | None, store=None, device_id: int | None = None) -> SiteZone:
    """The site's zone: `--tz` when given, else the gate's offset from the store, else this
    computer's."""
    if text is not None:
        return SiteZone(parse_zone(text), "--tz")
    if store is not None:
        offset = gate_offset_min(store, device_id)
        if offset is not None:
            return SiteZone(offset_zone(offset), "gate")
    return SiteZone(None, "computer")


def zone_name(tz: datetime.tzinfo | None, when: float | None = None) -> str:
    """`UTC`, `UTC+02:00`, `Europe/Berlin`, or the laptop's zone by its abbreviation."""
    if tz is None:
        moment = time.localtime(time.time() if when is None else when)
        return moment.tm_zone or "local time"
    if tz is datetime.timezone.utc:
        return "UTC"
    key = getattr(tz, "key", None)
    return key if key else str(tz)


def day_bounds(day: datetime.date, tz: datetime.tzinfo | None) -> tuple[float, float]:
    """Unix seconds of the day's midnight and of the next one, in the zone."""
    start = datetime.datetime(day.year, day.month, day.day, tzinfo=tz)
    following = day + datetime.timedelta(days=1)
    end = datetime.datetime(following.year, following.month, following.day, tzinfo=tz)
    return start.timestamp(), end.timestamp()  # a naive datetime is the laptop's local time


def _moment(wall: float, tz: datetime.tzinfo | None) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(wall, tz)


def hour_of(wall: float, tz: datetime.tzinfo | None) -> int:
    """The hour on the site's clock (0..23) at Unix seconds `wall`."""
    return _moment(wall, tz).hour


def local_date(wall: float, tz: datetime.tzinfo | None) -> datetime.date:
    """The calendar date in the site's zone at Unix seconds `wall`."""
    return _moment(wall, tz).date()


def add_tz_option(parser) -> None:
    parser.add_argument(
        "--tz",
        metavar="ZONE",
        help="the site's time zone for dates and clock times: UTC, +02:00, Europe/Berlin "
        "(default: this computer's)",
    )
