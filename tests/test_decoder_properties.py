"""Properties of the decoder: never raises, resynchronises, feeding whole or byte by byte gives the
same events, and records and COBS blocks survive round trips."""

from cobs import cobs
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from host_tools.decoder import (
    Status,
    StreamDecoder,
    decode_frame,
    encode_record,
)
from host_tools.wire import protocol

_ERRORS = {
    Status.CRC_MISMATCH,
    Status.FRAMING_ERROR,
    Status.UNKNOWN_TYPE,
    Status.UNSUPPORTED_VERSION,
}


def _u(bits):
    return st.integers(0, (1 << bits) - 1)


def _i(bits):
    return st.integers(-(1 << (bits - 1)), (1 << (bits - 1)) - 1)


_FIELD_STRATEGIES = {
    "passage": {
        "verdict": st.integers(0, 15),
        "direction": st.integers(0, 3),
        "temp_cc": _i(16),
        "transit_cs": _u(8),
    },
    "boot": {
        "reset_cause": _u(8),
        "fw_version": _u(32),
        "boot_count": _u(16),
        "device_id": _u(32),
    },
    "alarm": {"kind": _u(8), "temp_cc": _i(16)},
    "fault": {"code": _u(8), "active": st.integers(0, 1), "detail": _i(16)},
    "status": {
        "people_in": _u(32),
        "people_out": _u(32),
        "fevers": _u(16),
        "remeasures": _u(16),
        "uptime_s": _u(32),
        "mem_free": _u(32),
        "sensor_errors": _u(16),
        "tx_dropped": _u(16),
        "people_in_today": _u(32),
        "irq_overflows": _u(16),
        "events_dropped": _u(16),
        "tx_short": _u(16),
    },
    "time": {"unix_s": _u(32)},
    "config": {"key": _u(8), "value": _i(32)},
    "reply": {"command": _u(8), "status": _u(8), "reason": _u(8), "arg": _i(32)},
}


_TYPE_NAMES = tuple(sorted(_FIELD_STRATEGIES))


@st.composite
def records(draw):
    type_name = draw(st.sampled_from(_TYPE_NAMES))
    fields = draw(st.fixed_dictionaries(_FIELD_STRATEGIES[type_name]))
    return type_name, draw(_u(16)), draw(_u(30)), fields


def _feed_whole(data):
    decoder = StreamDecoder()
    return decoder.feed(data) + decoder.flush(), decoder.counts


def _feed_bytewise(data):
    decoder = StreamDecoder()
    events = []
    for i in range(len(data)):
        events += decoder.feed(data[i : i + 1])
    return events + decoder.flush(), decoder.counts


@given(st.binary(max_size=400))
def test_random_bytes_never_raise_and_every_event_is_counted(data):
    decoder = StreamDecoder()
    events = decoder.feed(data) + decoder.flush()
    assert sum(decoder.counts[status.value] for status in Status) == len(events)


@given(st.binary(max_size=200))
def test_decode_frame_never_raises(data):
    assert decode_frame(data).status in _ERRORS | {Status.OK}


@given(st.lists(st.one_of(st.binary(max_size=40), records()), max_size=12))
def test_whole_and_byte_by_byte_feeding_give_the_same_events(parts):
    data = b"".join(
        part if isinstance(part, bytes) else encode_record(part[0], part[1], part[2], **part[3])
        for part in parts
    )
    assert _feed_whole(data) == _feed_bytewise(data)


@given(st.binary(min_size=1, max_size=300), st.integers(1, 97))
def test_chunked_feeding_gives_the_same_events_as_whole(data, chunk):
    decoder = StreamDecoder()
    events = []
    for i in range(0, len(data), chunk):
        events += decoder.feed(data[i : i + chunk])
    events += decoder.flush()
    assert (events, decoder.counts) == _feed_whole(data)


@given(records())
def test_every_record_round_trips_through_encode_and_decode(record):
    type_name, seq, t_cs, fields = record
    event = decode_frame(encode_record(type_name, seq, t_cs, **fields)[:-1])
    assert event.status is Status.OK
    assert (event.record.type, event.record.seq, event.record.t_cs) == (type_name, seq, t_cs)
    assert event.record.fields == fields


def _damage(frame, how, where, bit):
    """frame without its delimiter -> damaged bytes (a bit flip or a truncation)."""
    if how == "flip":
        damaged = bytearray(frame)
        damaged[where % len(frame)] ^= 1 << bit
        return bytes(damaged)
    return frame[: 1 + where % (len(frame) - 1)]


_segments = st.one_of(
    st.tuples(st.just("good"), records()),
    st.tuples(
        st.just("damaged"),
        records(),
        st.sampled_from(("flip", "truncate")),
        st.integers(0, 1000),
        st.integers(0, 7),
    ),
    st.tuples(st.just("garbage"), st.binary(min_size=1, max_size=50)),
)


@settings(derandomize=True, max_examples=300)
@given(st.lists(_segments, max_size=15))
def test_untouched_frames_are_recovered_and_damaged_ones_reported(segments):
    data = bytearray()
    good = []
    damaged = 0
    for segment in segments:
        if segment[0] == "garbage":
            for piece in segment[1].split(b"\x00"):
                assume(not piece or decode_frame(piece).status is not Status.OK)
            data += segment[1] + b"\x00"
            continue
        type_name, seq, t_cs, fields = segment[1]
        frame = encode_record(type_name, seq, t_cs, **fields)
        if segment[0] == "good":
            good.append((type_name, seq, t_cs, fields))
            data += frame
        else:
            broken = _damage(frame[:-1], *segment[2:])
            assume(broken.strip(b"\x00"))  # something is left to be reported
            damaged += 1
            data += broken + b"\x00"
    events, counts = _feed_whole(bytes(data))
    ok = [
        (e.record.type, e.record.seq, e.record.t_cs, e.record.fields)
        for e in events
        if e.status is Status.OK
    ]
    assert ok == good
    assert sum(1 for e in events if e.status in _ERRORS) >= damaged
    assert counts["OK"] == len(good)


@given(
    st.lists(st.booleans(), min_size=1, max_size=60),
    st.integers(0, 0xFFFF),
)
def test_gaps_count_exactly_the_records_left_out(kept, first_seq):
    data = b""
    kept_seqs = []
    for i, keep in enumerate(kept):
        seq = (first_seq + i) & 0xFFFF
        if keep:
            kept_seqs.append(i)
            data += encode_record("alarm", seq, 1000 + i, kind=1, temp_cc=3800)
    events, counts = _feed_whole(data)
    expected_lost = kept_seqs[-1] - kept_seqs[0] + 1 - len(kept_seqs) if kept_seqs else 0
    assert counts["lost"] == expected_lost
    assert sum(e.lost for e in events if e.status is Status.GAP) == expected_lost
    assert counts["NEW_BOOT"] == 0


@given(st.binary(max_size=1000))
def test_cobs_package_round_trips_without_zeros_within_the_size_bound(data):
    encoded = cobs.encode(data)
    assert 0 not in encoded
    assert len(encoded) <= len(data) + (len(data) + 253) // 254 + (1 if not data else 0)
    assert cobs.decode(encoded) == data


def test_the_longest_record_fits_the_frame_limit():
    fields = {name: 0 for name in _FIELD_STRATEGIES["status"]}
    assert len(encode_record("status", 0, 0, **fields)) == protocol.MAX_FRAME
