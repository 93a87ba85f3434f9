"""host_tools.decoder: statuses of bad frames, gaps, new boots, counts, flush, names, encoder."""

import dataclasses
import struct
from binascii import crc_hqx

import pytest
from cobs import cobs

from host_tools.decoder import (
    DIRECTION_NAMES,
    FAULT_NAMES,
    RESET_NAMES,
    VERDICT_NAMES,
    Event,
    Record,
    Status,
    StreamDecoder,
    decode_frame,
    encode_payload,
    encode_record,
    encode_replay,
    record_to_dict,
)
from host_tools.wire import protocol


def passage(seq, t_cs=100, verdict=0, direction=1, temp_cc=3650, transit_cs=20):
    return encode_record(
        "passage",
        seq,
        t_cs,
        verdict=verdict,
        direction=direction,
        temp_cc=temp_cc,
        transit_cs=transit_cs,
    )


def boot(seq=0, t_cs=0):
    return encode_record(
        "boot", seq, t_cs, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=42
    )


def frame_of(payload):
    """COBS frame (no delimiter) of payload + its correct CRC."""
    return cobs.encode(payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "big"))


def statuses(events):
    return [e.status for e in events]


def test_a_valid_frame_decodes_to_an_ok_record():
    event = decode_frame(passage(5, 1234, verdict=1, direction=2, temp_cc=3812)[:-1])
    assert event.status is Status.OK
    assert event.record == Record(
        "passage", 5, 1234, {"verdict": 1, "direction": 2, "temp_cc": 3812, "transit_cs": 20}
    )


def test_ok_events_keep_the_raw_frame():
    frame = passage(5)[:-1]
    assert decode_frame(frame).raw == frame


def test_events_and_records_are_frozen():
    event = decode_frame(passage(5)[:-1])
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.status = Status.GAP
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.record.seq = 1


def test_a_flipped_payload_bit_is_a_crc_mismatch():
    payload = bytearray(encode_payload("alarm", 1, 2, kind=1, temp_cc=3900))
    good = frame_of(bytes(payload))
    payload[8] ^= 0x04
    damaged = cobs.encode(bytes(payload) + cobs.decode(good)[-2:])
    assert decode_frame(damaged).status is Status.CRC_MISMATCH


def test_invalid_cobs_is_a_framing_error():
    assert decode_frame(b"\x05\x01").status is Status.FRAMING_ERROR


def test_an_empty_frame_is_a_framing_error_for_decode_frame():
    assert decode_frame(b"").status is Status.FRAMING_ERROR


def test_a_frame_longer_than_any_record_is_a_framing_error():
    payload = bytes([0x25]) + bytes(50)  # STATUS, the longest record, is 41 bytes
    event = decode_frame(frame_of(payload))
    assert event.status is Status.FRAMING_ERROR
    assert "longer" in event.detail


def test_a_payload_shorter_than_header_and_crc_is_a_framing_error():
    assert decode_frame(cobs.encode(b"\x22\x01\x02")).status is Status.FRAMING_ERROR


def test_a_known_type_with_the_wrong_length_is_a_framing_error():
    payload = encode_payload("passage", 1, 2, verdict=0, direction=0, temp_cc=0, transit_cs=0)
    event = decode_frame(frame_of(payload + b"\x01"))
    assert event.status is Status.FRAMING_ERROR
    assert "passage" in event.detail


def test_an_unknown_type_with_a_good_crc_is_unknown_type():
    payload = struct.pack("<BHI", (1 << 5) | 20, 1, 2) + b"\x01\x02"
    assert decode_frame(frame_of(payload)).status is Status.UNKNOWN_TYPE


def test_another_version_is_unsupported_version():
    payload = bytearray(encode_payload("alarm", 1, 2, kind=1, temp_cc=3900))
    payload[0] = (2 << 5) | protocol.ALARM
    assert decode_frame(frame_of(bytes(payload))).status is Status.UNSUPPORTED_VERSION


def test_decode_frame_never_raises_on_junk():
    for junk in (b"\xff" * 300, b"\x01", b"\x02\x00", bytes(range(1, 40))):
        assert isinstance(decode_frame(junk), Event)


def test_stream_splits_frames_on_the_delimiter():
    events = StreamDecoder().feed(passage(1) + passage(2))
    assert statuses(events) == [Status.OK, Status.OK]


def test_empty_frames_between_delimiters_are_skipped_silently():
    decoder = StreamDecoder()
    events = decoder.feed(b"\x00\x00" + passage(1) + b"\x00\x00\x00" + passage(2))
    assert statuses(events) == [Status.OK, Status.OK]
    assert decoder.counts["FRAMING_ERROR"] == 0


def test_a_frame_split_across_feeds_is_decoded_once_complete():
    data = passage(1)
    decoder = StreamDecoder()
    assert decoder.feed(data[:6]) == []
    events = decoder.feed(data[6:])
    assert statuses(events) == [Status.OK]


def test_garbage_is_reported_and_the_next_frame_is_recovered():
    events = StreamDecoder().feed(b"\x07junk!" + b"\x00" + passage(1))
    assert statuses(events) == [Status.FRAMING_ERROR, Status.OK]


def test_a_missing_sequence_number_gives_a_gap_before_the_record():
    events = StreamDecoder().feed(passage(1) + passage(4))
    assert statuses(events) == [Status.OK, Status.GAP, Status.OK]
    assert events[1].lost == 2
    assert events[1].record is None


def test_a_gap_across_the_sequence_wrap_counts_modulo_65536():
    events = StreamDecoder().feed(passage(0xFFFE) + passage(1))
    assert events[1].status is Status.GAP
    assert events[1].lost == 2


def test_the_sequence_wrap_itself_is_not_a_gap():
    events = StreamDecoder().feed(passage(0xFFFF) + passage(0))
    assert statuses(events) == [Status.OK, Status.OK]


def test_the_first_record_seen_is_not_a_gap():
    assert statuses(StreamDecoder().feed(passage(700))) == [Status.OK]


def test_a_boot_record_gives_new_boot_before_it_and_no_gap():
    events = StreamDecoder().feed(passage(50, t_cs=9000) + boot(0, 0) + passage(1, t_cs=5))
    assert statuses(events) == [Status.OK, Status.NEW_BOOT, Status.OK, Status.OK]
    assert events[2].record.type == "boot"


def test_t_cs_going_backwards_is_a_new_boot_and_not_a_gap():
    events = StreamDecoder().feed(passage(50, t_cs=9000) + passage(3, t_cs=120))
    assert statuses(events) == [Status.OK, Status.NEW_BOOT, Status.OK]


def test_t_cs_wrapping_at_2_to_the_30_is_not_a_new_boot():
    events = StreamDecoder().feed(passage(8, t_cs=(1 << 30) - 3) + passage(9, t_cs=2))
    assert statuses(events) == [Status.OK, Status.OK]


def test_a_damaged_frame_does_not_move_the_sequence_state():
    damaged = bytearray(passage(7, temp_cc=0x0303))
    damaged[-3] ^= 0x01  # a CRC byte: the frame still has its shape, its seq 7 is not believed
    events = StreamDecoder().feed(passage(1) + bytes(damaged) + passage(2))
    assert statuses(events) == [Status.OK, Status.CRC_MISMATCH, Status.OK]


def test_counts_tally_every_status_and_the_lost_records():
    decoder = StreamDecoder()
    decoder.feed(boot(0) + passage(1) + passage(5) + b"\x05\x01\x00" + passage(9))
    assert decoder.counts["OK"] == 4
    assert decoder.counts["NEW_BOOT"] == 1
    assert decoder.counts["GAP"] == 2
    assert decoder.counts["lost"] == 3 + 3
    assert decoder.counts["FRAMING_ERROR"] == 1


def test_flush_reports_bytes_without_a_delimiter():
    decoder = StreamDecoder()
    decoder.feed(passage(1)[:-3])
    events = decoder.flush()
    assert statuses(events) == [Status.FRAMING_ERROR]
    assert decoder.flush() == []


def test_flush_with_nothing_pending_returns_no_event():
    decoder = StreamDecoder()
    decoder.feed(passage(1))
    assert decoder.flush() == []


def test_endless_bytes_without_a_delimiter_are_held_in_bounded_memory():
    decoder = StreamDecoder()
    for _ in range(1000):
        assert decoder.feed(b"\x55" * 100) == []
    assert len(decoder._pending) <= 64
    events = decoder.feed(b"\x00" + passage(1))
    assert statuses(events) == [Status.FRAMING_ERROR, Status.OK]
    assert "100000" in events[0].detail


def test_feed_of_nothing_returns_nothing():
    assert StreamDecoder().feed(b"") == []


def test_record_to_dict_adds_names_for_coded_fields():
    record = decode_frame(passage(5, verdict=protocol.VERDICT_FEVER, direction=1)[:-1]).record
    out = record_to_dict(record)
    assert out["type"] == "passage" and out["seq"] == 5 and out["t_cs"] == 100
    assert out["verdict_name"] == "fever"
    assert out["direction_name"] == "in"
    assert out["temp_cc"] == 3650


def test_record_to_dict_names_fault_codes_and_boot_versions():
    fault = encode_record("fault", 1, 2, code=protocol.FAULT_TANK_EMPTY, active=1, detail=0)
    assert record_to_dict(decode_frame(fault[:-1]).record)["code_name"] == "tank_empty"
    out = record_to_dict(decode_frame(boot()[:-1]).record)
    assert out["reset_cause_name"] == "power_on"
    assert out["fw_version_str"] == "0.1.0"


def test_name_tables_cover_every_protocol_code():
    assert VERDICT_NAMES[protocol.VERDICT_REMEASURE_FAST] == "remeasure_fast"
    assert len(VERDICT_NAMES) == 7
    assert DIRECTION_NAMES == {0: "unknown", 1: "in", 2: "out"}
    assert len(FAULT_NAMES) == 13
    assert FAULT_NAMES[protocol.FAULT_JOURNAL_LOSS] == "journal_loss"
    assert RESET_NAMES[protocol.RESET_POWER_CUT] == "power_cut"
    assert RESET_NAMES[protocol.RESET_BROWNOUT] == "brownout"


def test_encode_record_ends_with_the_delimiter_and_has_no_other_zero():
    data = boot()
    assert data.endswith(b"\x00")
    assert 0 not in data[:-1]


def test_encode_record_rejects_an_unknown_type():
    with pytest.raises(ValueError):
        encode_record("journal", 0, 0)


def test_encode_record_rejects_missing_or_extra_fields():
    with pytest.raises(ValueError):
        encode_record("alarm", 0, 0, kind=1)
    with pytest.raises(ValueError):
        encode_record("alarm", 0, 0, kind=1, temp_cc=3800, extra=1)


def test_encode_record_rejects_values_out_of_range():
    with pytest.raises(ValueError):
        encode_record("alarm", 0, 0, kind=1, temp_cc=40000)
    with pytest.raises(ValueError):
        passage(1, verdict=16)


def test_a_replay_frame_is_a_replay_event_with_the_record_and_its_boot():
    payload = encode_payload(
        "passage", 77, 1234, verdict=1, direction=protocol.DIR_IN, temp_cc=3790, transit_cs=90
    )
    events = StreamDecoder().feed(encode_replay(513, payload))
    assert [e.status for e in events] == [Status.REPLAY]
    record = events[0].record
    assert (record.type, record.seq, record.t_cs) == ("passage", 77, 1234)
    assert record.fields["temp_cc"] == 3790
    assert events[0].boot == 513


def test_a_replayed_status_record_fits_the_longest_frame():
    payload = encode_payload("status", 1, 2, **{f: 1 for f in protocol.STATUS_FIELDS})
    frame = encode_replay(1, payload)
    assert len(frame) == protocol.MAX_REPLAY_FRAME
    assert StreamDecoder().feed(frame)[0].status == Status.REPLAY


def test_replays_between_live_records_leave_the_live_sequence_without_gaps():
    old = encode_payload("alarm", 900, 5, kind=1, temp_cc=3800)
    stream = (
        encode_record("alarm", 10, 100, kind=1, temp_cc=3800)
        + encode_replay(3, old)
        + encode_record("alarm", 11, 110, kind=1, temp_cc=3800)
    )
    decoder = StreamDecoder()
    statuses = [e.status for e in decoder.feed(stream)]
    assert statuses == [Status.OK, Status.REPLAY, Status.OK]
    assert decoder.counts["lost"] == 0


def test_a_damaged_replay_frame_is_a_crc_mismatch():
    frame = bytearray(encode_replay(1, encode_payload("alarm", 1, 1, kind=1, temp_cc=1)))
    frame[5] ^= 0x40
    assert StreamDecoder().feed(bytes(frame))[0].status == Status.CRC_MISMATCH


def test_a_decoded_record_equals_one_built_from_the_same_fields():
    event = StreamDecoder().feed(passage(9, t_cs=700, temp_cc=3712))[0]
    fields = {"verdict": 0, "direction": 1, "temp_cc": 3712, "transit_cs": 20}
    assert event.record == Record("passage", 9, 700, fields)
    assert event.record != Record("passage", 9, 700, dict(fields, temp_cc=3713))


def test_an_ok_event_is_its_own_record_with_its_frame():
    data = passage(3)
    event = StreamDecoder().feed(data)[0]
    assert event.status is Status.OK
    assert event.record is event
    assert event.raw == data[:-1]
    assert (event.lost, event.detail, event.boot) == (0, "", None)


def test_the_fields_of_a_decoded_record_are_built_once_and_kept():
    record = StreamDecoder().feed(passage(4))[0].record
    assert record.fields is record.fields
    assert set(record.fields) == {"verdict", "direction", "temp_cc", "transit_cs"}
