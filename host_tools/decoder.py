"""Host side of the record stream: frames in, (status, record) events out.

`decode_frame` checks one COBS frame (COBS, length, CRC-16/CCITT-FALSE, version, type, size)
and returns an Event; `StreamDecoder.feed` splits a byte stream on the 0x00 delimiter, never
raises, resynchronises at the next delimiter after any damage, and adds GAP (sequence numbers
missing) and NEW_BOOT (a BOOT record, or t_cs going backwards) events just before the record
that reveals them. A REPLAY frame (a journaled record sent again by a backlog download) is a
REPLAY event holding the journaled record and its `boot`; it does not touch the live sequence.
`encode_record` is the host's encoder (tests, simulator). The wire format comes from
firmware/protocol.py; docs/PROTOCOL.md is the specification.
"""

from __future__ import annotations

import collections
import enum
import gc
import struct
from binascii import crc_hqx
from dataclasses import FrozenInstanceError
from operator import itemgetter

from cobs import cobs

from host_tools.wire import protocol

__all__ = [
    "Status",
    "Record",
    "Event",
    "decode_frame",
    "encode_record",
    "encode_payload",
    "encode_replay",
    "record_to_dict",
    "StreamDecoder",
    "TYPE_NAMES",
    "VERDICT_NAMES",
    "DIRECTION_NAMES",
    "FAULT_NAMES",
    "RESET_NAMES",
    "ALARM_NAMES",
]


class Status(enum.Enum):
    OK = "OK"
    CRC_MISMATCH = "CRC_MISMATCH"
    FRAMING_ERROR = "FRAMING_ERROR"
    UNKNOWN_TYPE = "UNKNOWN_TYPE"
    UNSUPPORTED_VERSION = "UNSUPPORTED_VERSION"
    GAP = "GAP"
    NEW_BOOT = "NEW_BOOT"
    REPLAY = "REPLAY"  # a journaled record sent again (Event.record, Event.boot)


class Event(tuple):
    """What the decoder makes of one frame or one finding: `status`, the `record` (OK and
    REPLAY), the `raw` frame, `lost` (GAP: records missing), `detail` (what was wrong) and
    `boot` (REPLAY: the boot, mod 2**16, the journaled record belongs to). Read-only.

    An OK event is the Record itself (status OK, `record` is itself): one object per good
    frame, which is what lets the decoder keep up with a day's capture in a second."""

    __slots__ = ()

    def __new__(
        cls,
        status: Status,
        record: Record | None,
        raw: bytes,
        lost: int = 0,
        detail: str = "",
        boot: int | None = None,
    ) -> Event:
        return tuple.__new__(cls, (status, record, raw, lost, detail, boot))

    status = property(itemgetter(0))
    record = property(itemgetter(1))
    raw = property(itemgetter(2))
    lost = property(itemgetter(3))
    detail = property(itemgetter(4))
    boot = property(itemgetter(5))

    def __setattr__(self, name, value):
        raise FrozenInstanceError(f"cannot assign to field {name!r}")

    def __delattr__(self, name):
        raise FrozenInstanceError(f"cannot delete field {name!r}")

    def __repr__(self) -> str:
        return (
            f"Event(status={self.status!r}, record={self.record!r}, raw={self.raw!r}, "
            f"lost={self.lost!r}, detail={self.detail!r}, boot={self.boot!r})"
        )


class Record(Event):
    """One good record: `type` ("boot", "passage", ...), `seq`, `t_cs` and `fields`, a dict of
    its body fields (record_to_dict adds the names of coded values). Read-only. It is also the
    OK event that carried it: `status` OK, `record` itself, `raw` its frame.

    The decoder keeps the unpacked values and builds the `fields` dict on first use: a big
    capture's records are mostly stored or counted by type, and building every dict up front
    halved the decoder's speed. Equal records have equal type, seq, t_cs and fields.
    """

    __match_args__ = ("type", "seq", "t_cs", "fields")
    __hash__ = None  # type: ignore[assignment]  (fields is a dict)

    status = Status.OK
    lost = 0
    detail = ""
    boot = None

    def __new__(  # type: ignore[misc]
        cls,
        type: str,  # noqa: A002
        seq: int,
        t_cs: int,
        fields: dict,
        raw: bytes = b"",
    ) -> Record:
        return tuple.__new__(cls, (type, seq, t_cs, fields, None, raw))

    type = property(itemgetter(0), doc="record type name")
    seq = property(itemgetter(1), doc="u16 sequence number")
    t_cs = property(itemgetter(2), doc="device uptime, centiseconds")
    raw = property(itemgetter(5), doc="the frame it came in (b'' when built by hand)")

    @property
    def record(self) -> Record:
        return self

    @property
    def fields(self) -> dict:
        build = self[4]
        if build is None:
            return self[3]
        cache = self.__dict__
        fields = cache.get("fields")
        if fields is None:
            fields = cache["fields"] = build(self[3])
        return fields

    def __eq__(self, other):
        if not isinstance(other, Record):
            return NotImplemented
        return self[:3] == other[:3] and self.fields == other.fields

    def __ne__(self, other):
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        return (
            f"Record(type={self.type!r}, seq={self.seq!r}, t_cs={self.t_cs!r}, "
            f"fields={self.fields!r})"
        )

    def __reduce__(self):
        return (Record, (self.type, self.seq, self.t_cs, self.fields, self.raw))


def _names(prefix: str) -> dict[int, str]:
    """{code: name} from protocol's constants that start with prefix (VERDICT_FEVER -> fever)."""
    return {
        value: name[len(prefix) :].lower()
        for name, value in vars(protocol).items()
        if name.startswith(prefix) and isinstance(value, int)
    }


TYPE_NAMES = {record[0]: record[1] for record in protocol.RECORDS}
VERDICT_NAMES = _names("VERDICT_")
DIRECTION_NAMES = _names("DIR_")
FAULT_NAMES = _names("FAULT_")
RESET_NAMES = _names("RESET_")
ALARM_NAMES = _names("ALARM_")

_OK = Status.OK
_CRC_MISMATCH = Status.CRC_MISMATCH
_FRAMING_ERROR = Status.FRAMING_ERROR
_UNKNOWN_TYPE = Status.UNKNOWN_TYPE
_UNSUPPORTED_VERSION = Status.UNSUPPORTED_VERSION
_GAP = Status.GAP
_NEW_BOOT = Status.NEW_BOOT
_REPLAY = Status.REPLAY
_REPLAY_TYPE = protocol.REPLAY
_REPLAY_HEAD = protocol.REPLAY_HEAD_SIZE

_VERSION = protocol.VERSION
_SHIFT = protocol.VERSION_SHIFT
_MIN_PAYLOAD = protocol.HEADER_SIZE + protocol.CRC_SIZE
# The longest COBS frame (delimiter excluded) of any known record; longer is a framing error.
_MAX_FRAME = protocol.MAX_FRAME - 1
_MAX_ANY_FRAME = protocol.MAX_REPLAY_FRAME - 1  # a REPLAY envelope around the longest record
_RAW_KEEP = 64  # bytes of an overlong frame kept in Event.raw
_GC_PAUSE_FRAMES = 256
_T_WRAP_MASK = protocol.T_CS_WRAP - 1
_T_HALF = protocol.T_CS_WRAP // 2
_FLAGS_VERDICT_MASK = protocol.FLAGS_VERDICT_MASK
_FLAGS_DIRECTION_SHIFT = protocol.FLAGS_DIRECTION_SHIFT
_FLAGS_DIRECTION_MASK = protocol.FLAGS_DIRECTION_MASK


_tuple_new = tuple.__new__


def _record(type_name: str, seq: int, t_cs: int, fields: dict, raw: bytes = b"") -> Record:
    return _tuple_new(Record, (type_name, seq, t_cs, fields, None, raw))


def _event(
    status: Status, record: Record | None, raw: bytes, lost=0, detail="", boot=None
) -> Event:
    return _tuple_new(Event, (status, record, raw, lost, detail, boot))


class _Spec:
    """One record type: its compiled struct, sizes and a function from values to fields."""

    __slots__ = ("type", "name", "struct", "unpack", "size", "fields", "build", "passage")

    def __init__(self, type_, name, fmt, size, wire_fields):
        self.type = type_
        self.name = name
        self.struct = struct.Struct(fmt)
        if self.struct.size != size:
            raise ValueError(f"protocol: {name} format is not {size} bytes")
        self.unpack = self.struct.unpack_from
        self.size = size
        self.passage = type_ == protocol.PASSAGE
        if self.passage:
            # flags (values[4]) holds verdict in bits 0..3 and direction in bits 4..5
            self.fields = ("verdict", "direction", "temp_cc", "transit_cs")
            verdict = f"v[4] & {protocol.FLAGS_VERDICT_MASK}"
            direction = (
                f"v[4] >> {protocol.FLAGS_DIRECTION_SHIFT} & {protocol.FLAGS_DIRECTION_MASK}"
            )
            source = (
                f"lambda v: {{'verdict': {verdict}, 'direction': {direction}, "
                "'temp_cc': v[3], 'transit_cs': v[5]}"
            )
        else:
            self.fields = tuple(wire_fields)
            items = ", ".join(f"{f!r}: v[{i + 3}]" for i, f in enumerate(wire_fields))
            source = "lambda v: {" + items + "}"
        # a dict literal per type: twice as fast as dict(zip(names, values[3:]))
        self.build = eval(source)  # noqa: S307  (built from protocol's identifiers only)


_SPECS: list[_Spec | None] = [None] * (protocol.TYPE_MASK + 1)
_SPECS_BY_NAME: dict[str, _Spec] = {}
# byte0 (version and type) -> spec, for the decoder's fast path
_SPECS_BY_BYTE0: list[_Spec | None] = [None] * 256
for _type, _name, _fmt, _size, _fields in protocol.RECORDS:
    _spec = _Spec(_type, _name, _fmt, _size, _fields)
    _SPECS[_type] = _SPECS_BY_NAME[_name] = _spec
    _SPECS_BY_BYTE0[(protocol.VERSION << protocol.VERSION_SHIFT) | _type] = _spec
del _type, _name, _fmt, _size, _fields, _spec


def _decode(frame: bytes) -> Event:
    """One frame (COBS, no delimiter) to an OK or error Event; no GAP or NEW_BOOT here."""
    n = len(frame)
    if n > _MAX_ANY_FRAME:
        raw = frame if n <= _RAW_KEEP else frame[:_RAW_KEEP]
        return _event(
            _FRAMING_ERROR, None, raw, 0, f"frame of {n} bytes is longer than any record"
        )
    try:
        payload = cobs.decode(frame)
    except cobs.DecodeError as exc:
        return _event(_FRAMING_ERROR, None, frame, 0, f"COBS: {exc}")
    m = len(payload)
    if m < _MIN_PAYLOAD:
        return _event(_FRAMING_ERROR, None, frame, 0, f"payload of {m} bytes is too short")
    if crc_hqx(payload, 0xFFFF):  # the CRC over payload + its big-endian CRC leaves 0
        computed = crc_hqx(payload[:-2], 0xFFFF)
        sent = (payload[-2] << 8) | payload[-1]
        return _event(_CRC_MISMATCH, None, frame, 0, f"CRC {computed:04X}, frame says {sent:04X}")
    byte0 = payload[0]
    if byte0 >> _SHIFT != _VERSION:
        return _event(_UNSUPPORTED_VERSION, None, frame, 0, f"version {byte0 >> _SHIFT}")
    if byte0 & 0x1F == _REPLAY_TYPE:
        return _decode_replay(payload, frame)
    spec = _SPECS[byte0 & 0x1F]
    if spec is None:
        return _event(_UNKNOWN_TYPE, None, frame, 0, f"type {byte0 & 0x1F}")
    if n > _MAX_FRAME or m - 2 != spec.size:
        return _event(
            _FRAMING_ERROR,
            None,
            frame,
            0,
            f"{spec.name} payload of {m - 2} bytes, expected {spec.size}",
        )
    values = spec.unpack(payload)
    return _record(spec.name, values[1], values[2], spec.build(values), frame)


def _decode_replay(payload: bytes, frame: bytes) -> Event:
    """A REPLAY envelope whose CRC and version were checked: the journaled record inside."""
    inner = payload[_REPLAY_HEAD:-2]
    if not inner or inner[0] >> _SHIFT != _VERSION:
        return _event(_FRAMING_ERROR, None, frame, 0, "REPLAY without a record inside")
    spec = _SPECS[inner[0] & 0x1F]
    if spec is None:
        return _event(_UNKNOWN_TYPE, None, frame, 0, f"replayed type {inner[0] & 0x1F}")
    if len(inner) != spec.size:
        detail = f"replayed {spec.name} of {len(inner)} bytes, expected {spec.size}"
        return _event(_FRAMING_ERROR, None, frame, 0, detail)
    values = spec.unpack(inner)
    record = _record(spec.name, values[1], values[2], spec.build(values))
    return _event(_REPLAY, record, frame, 0, "", payload[1] | payload[2] << 8)


def encode_replay(boot: int, record_payload: bytes) -> bytes:
    """The wire bytes of a REPLAY frame around a record's payload (tests, simulator)."""
    payload = struct.pack(protocol.REPLAY_HEAD_FORMAT, _REPLAY_BYTE0, boot & 0xFFFF)
    payload += record_payload
    return cobs.encode(payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "big")) + b"\x00"


def decode_frame(frame: bytes) -> Event:
    """Decode one COBS-encoded frame given without its 0x00 delimiter. Never raises."""
    frame = bytes(frame)
    if not frame:
        return _event(_FRAMING_ERROR, None, frame, 0, "empty frame")
    return _decode(frame)


def encode_payload(type_name: str, seq: int, t_cs: int, **fields) -> bytes:
    """The payload (header and body, no CRC) of a record; raises ValueError on bad input."""
    spec = _SPECS_BY_NAME.get(type_name)
    if spec is None:
        raise ValueError(f"unknown record type {type_name!r}")
    names = set(spec.fields)
    if set(fields) != names:
        raise ValueError(f"{type_name} needs fields {sorted(names)}, got {sorted(fields)}")
    if spec.passage:
        verdict, direction = fields["verdict"], fields["direction"]
        if not 0 <= verdict <= _FLAGS_VERDICT_MASK or not 0 <= direction <= _FLAGS_DIRECTION_MASK:
            raise ValueError("verdict or direction out of range")
        body = (
            fields["temp_cc"],
            verdict | (direction << _FLAGS_DIRECTION_SHIFT),
            fields["transit_cs"],
        )
    else:
        body = tuple(fields[name] for name in spec.fields)
    byte0 = (_VERSION << _SHIFT) | spec.type
    try:
        return spec.struct.pack(byte0, seq, t_cs, *body)
    except struct.error as exc:
        raise ValueError(f"{type_name}: {exc}") from None


def encode_record(type_name: str, seq: int, t_cs: int, **fields) -> bytes:
    """The wire bytes of one record: COBS(payload + CRC16 big-endian) and the 0x00 delimiter.

    Passage takes verdict, direction, temp_cc, transit_cs (the fields decode_frame returns).
    """
    payload = encode_payload(type_name, seq, t_cs, **fields)
    return cobs.encode(payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "big")) + b"\x00"


_NAMED_FIELDS = {
    "passage": (("verdict", VERDICT_NAMES), ("direction", DIRECTION_NAMES)),
    "alarm": (("kind", ALARM_NAMES),),
    "fault": (("code", FAULT_NAMES),),
    "boot": (("reset_cause", RESET_NAMES),),
}


def record_to_dict(record: Record) -> dict:
    """JSON-friendly {"type", "seq", "t_cs", **fields}, plus "<field>_name" for coded fields
    (verdict, direction, alarm kind, fault code, reset cause; None for an unknown code) and
    "fw_version_str" ("M.m.p") for BOOT."""
    out = {"type": record.type, "seq": record.seq, "t_cs": record.t_cs}
    out.update(record.fields)
    for name, table in _NAMED_FIELDS.get(record.type, ()):
        out[name + "_name"] = table.get(record.fields.get(name))
    if record.type == "boot":
        version = record.fields["fw_version"]
        major, minor, patch = (version >> 16) & 0xFF, (version >> 8) & 0xFF, version & 0xFF
        out["fw_version_str"] = f"{major}.{minor}.{patch}"
    return out


class StreamDecoder:
    """Bytes in, Events out. Keeps the partial frame between feeds and the last seq and t_cs.

    counts: Counter of events by status name ("OK", "GAP", ...) and "lost" (missing seqs).
    """

    def __init__(self) -> None:
        self.counts: collections.Counter = collections.Counter()
        self._pending = b""
        self._overlong = 0  # > 0: length so far of a frame too long to keep (first bytes kept)
        self._last_seq: int | None = None
        self._last_t_cs: int | None = None

    def feed(self, data: bytes) -> list[Event]:
        """Decode every frame completed by `data`; keep the rest. Never raises."""
        events: list[Event] = []
        if not data:
            return events
        data = bytes(data)
        if self._overlong:
            end = data.find(b"\x00")
            if end < 0:
                self._overlong += len(data)
                return events
            self._finish_overlong(self._overlong + end, events)
            data = data[end + 1 :]
        elif self._pending:
            data = self._pending + data
        frames = data.split(b"\x00")
        pending = frames.pop()
        if len(frames) > _GC_PAUSE_FRAMES and gc.isenabled():
            # Events and records hold no reference cycles, but a big batch allocates hundreds
            # of thousands of tracked objects, and the collector's passes over them would take
            # more time than the decoding itself. Paused for the batch only.
            gc.disable()
            try:
                self._frames(frames, events)
            finally:
                gc.enable()
        else:
            self._frames(frames, events)
        self._keep(pending)
        return events

    def flush(self) -> list[Event]:
        """Report the bytes left without a delimiter as a FRAMING_ERROR and forget them."""
        events: list[Event] = []
        if self._overlong:
            length, raw = self._overlong, self._pending
        elif self._pending:
            length, raw = len(self._pending), self._pending
        else:
            return events
        self._pending = b""
        self._overlong = 0
        self._count(
            events,
            _event(_FRAMING_ERROR, None, raw, 0, f"{length} bytes without a delimiter"),
        )
        return events

    def reset(self) -> None:
        """Forget the partial frame and the sequence state (a new port or file); keep counts."""
        self._pending = b""
        self._overlong = 0
        self._last_seq = None
        self._last_t_cs = None

    # -- internals --

    def _keep(self, pending: bytes) -> None:
        if len(pending) > _RAW_KEEP:
            self._overlong = len(pending)
            self._pending = pending[:_RAW_KEEP]
        else:
            self._pending = pending

    def _finish_overlong(self, length: int, events: list[Event]) -> None:
        raw = self._pending
        self._pending = b""
        self._overlong = 0
        detail = f"frame of {length} bytes is longer than any record"
        self._count(events, _event(_FRAMING_ERROR, None, raw, 0, detail))

    def _count(self, events: list[Event], event: Event) -> None:
        events.append(event)
        self.counts[event.status.value] += 1

    def _frames(self, frames: list[bytes], events: list[Event]) -> None:
        """The hot loop: the common case (a valid record) is inlined; errors go to _decode."""
        counts = self.counts
        append = events.append
        cobs_decode = cobs.decode
        decode_error = cobs.DecodeError
        crc = crc_hqx
        entries = _FAST_PATH
        new = _tuple_new
        record_class = Record
        wrap = _T_WRAP_MASK
        half = _T_HALF
        last_seq = self._last_seq
        last_t = self._last_t_cs
        records = 0
        for frame in frames:
            if not frame:
                continue  # consecutive delimiters: an empty frame, skipped silently
            try:
                payload = cobs_decode(frame)
            except decode_error:
                payload = None
            entry = None
            if payload and not crc(payload, 0xFFFF):
                entry = entries[payload[0]]
                if entry is not None and len(payload) != entry[1]:
                    entry = None
            if entry is None:
                event = _decode(frame)  # says what is wrong with it (or a REPLAY)
                append(event)
                counts[event.status.value] += 1
                continue
            values = entry[0](payload)
            seq = values[1]
            t_cs = values[2]
            if entry[4]:  # a BOOT record
                append(_event(_NEW_BOOT, None, b"", 0, "boot record"))
                counts["NEW_BOOT"] += 1
            elif last_t is not None:
                if (t_cs - last_t) & wrap >= half:
                    detail = f"t_cs went back from {last_t} to {t_cs}"
                    append(_event(_NEW_BOOT, None, b"", 0, detail))
                    counts["NEW_BOOT"] += 1
                else:
                    lost = (seq - last_seq - 1) & 0xFFFF
                    if lost:
                        detail = f"seq {seq} after {last_seq}"
                        append(_event(_GAP, None, b"", lost, detail))
                        counts["GAP"] += 1
                        counts["lost"] += lost
            last_seq = seq
            last_t = t_cs
            # the Record is its own OK event; its fields dict is built on first use
            append(new(record_class, (entry[2], seq, t_cs, values, entry[3], frame)))
            records += 1
        if records:
            counts["OK"] += records
        self._last_seq = last_seq
        self._last_t_cs = last_t


_BOOT_SPEC = _SPECS[protocol.BOOT]
# byte0 -> (unpack, payload + CRC length, name, fields builder, is BOOT) for the hot loop
_FAST_PATH: list[tuple | None] = [
    None
    if spec is None
    else (spec.unpack, spec.size + 2, spec.name, spec.build, spec is _BOOT_SPEC)
    for spec in _SPECS_BY_BYTE0
]
_REPLAY_BYTE0 = (protocol.VERSION << protocol.VERSION_SHIFT) | protocol.REPLAY
