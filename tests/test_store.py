"""host_tools/store.py: records into SQLite, keyed by device, boot and seq, never twice."""

import sqlite3

import pytest
from cobs import cobs

from host_tools.decoder import StreamDecoder, encode_record
from host_tools.errors import EXIT_FILE, FevergateError
from host_tools.store import BOOT_UNKNOWN, DEVICE_UNKNOWN, Store, ingest_bytes
from host_tools.wire import protocol

DEVICE = 0xDEADBEEF
UNIX = 1_714_550_400  # 2024-05-01 08:00 UTC


def boot(seq=0, t_cs=0, boot_count=7, device_id=DEVICE):
    return encode_record(
        "boot",
        seq,
        t_cs,
        reset_cause=protocol.RESET_POWER_ON,
        fw_version=protocol.FW_VERSION,
        boot_count=boot_count,
        device_id=device_id,
    )


def passage(seq, t_cs, temp_cc=3650, verdict=protocol.VERDICT_NORMAL):
    return encode_record(
        "passage", seq, t_cs, verdict=verdict, direction=protocol.DIR_IN, temp_cc=temp_cc,
        transit_cs=40,
    )  # fmt: skip


def bad_crc(frame):
    """The same frame with its CRC damaged (still one frame: no 0x00 added)."""
    payload = bytearray(cobs.decode(frame[:-1]))
    payload[-1] = payload[-1] % 255 + 1  # a different non-zero byte
    return cobs.encode(bytes(payload)) + b"\x00"


def rows(store):
    return list(store.query())


def test_good_records_are_stored_one_row_each(tmp_path):
    data = boot() + passage(1, 100) + passage(2, 200)
    result = ingest_bytes(tmp_path / "g.db", data)
    assert (result.inserted, result.good, result.bad) == (3, 3, 0)
    with Store(tmp_path / "g.db") as store:
        assert [r["type"] for r in rows(store)] == ["boot", "passage", "passage"]


def test_reading_the_same_stream_again_stores_nothing(tmp_path):
    data = boot() + passage(1, 100) + passage(2, 200)
    ingest_bytes(tmp_path / "g.db", data)
    again = ingest_bytes(tmp_path / "g.db", data)
    assert (again.inserted, again.duplicates) == (0, 3)
    with Store(tmp_path / "g.db") as store:
        assert store.count() == 3


def test_device_and_boot_come_from_the_boot_record(tmp_path):
    ingest_bytes(tmp_path / "g.db", boot(boot_count=12) + passage(1, 100))
    with Store(tmp_path / "g.db") as store:
        assert {(r["device_id"], r["boot"]) for r in rows(store)} == {(DEVICE, 12)}


def test_records_before_any_boot_record_are_device_0_boot_minus_1(tmp_path):
    ingest_bytes(tmp_path / "g.db", passage(5, 100) + boot(t_cs=0) + passage(1, 50))
    with Store(tmp_path / "g.db") as store:
        keys = [(r["device_id"], r["boot"], r["seq"]) for r in rows(store)]
    assert keys == [(DEVICE_UNKNOWN, BOOT_UNKNOWN, 5), (DEVICE, 7, 0), (DEVICE, 7, 1)]


def test_same_seq_in_two_boots_are_two_rows(tmp_path):
    data = boot(boot_count=1) + passage(1, 100) + boot(boot_count=2) + passage(1, 100)
    assert ingest_bytes(tmp_path / "g.db", data).inserted == 4


def test_seq_wrapping_within_a_boot_keeps_both_records(tmp_path):
    data = boot() + passage(1, 100) + passage(1, 100 + 65536 * 10)
    with Store(tmp_path / "g.db") as store:
        decoder = StreamDecoder()
        result = store.ingest(decoder.feed(data))
    assert result.inserted == 3


def test_bad_frames_are_counted_not_stored(tmp_path):
    result = ingest_bytes(tmp_path / "g.db", boot() + bad_crc(passage(2, 200)) + passage(3, 300))
    assert (result.inserted, result.bad, result.lost) == (2, 1, 2)


def test_wall_time_follows_the_time_record(tmp_path):
    data = boot() + encode_record("time", 1, 1000, unix_s=UNIX) + passage(2, 1250)
    with Store(tmp_path / "g.db") as store:
        store.ingest(StreamDecoder().feed(data), received_at=5.0)
        walls = [r["wall_time"] for r in rows(store)]
    assert walls == [5.0, UNIX, UNIX + 2.5]


def test_wall_time_is_null_without_time_record_or_reception_time(tmp_path):
    ingest_bytes(tmp_path / "g.db", boot() + passage(1, 100))
    with Store(tmp_path / "g.db") as store:
        assert [r["wall_time"] for r in rows(store)] == [None, None]


def test_a_new_boot_forgets_the_time_record(tmp_path):
    data = boot() + encode_record("time", 1, 1000, unix_s=UNIX) + boot(boot_count=8)
    data += passage(1, 100)
    ingest_bytes(tmp_path / "g.db", data)
    with Store(tmp_path / "g.db") as store:
        assert rows(store)[-1]["wall_time"] is None


def test_fields_keep_the_decoded_names(tmp_path):
    ingest_bytes(tmp_path / "g.db", boot() + passage(1, 100, 3812, protocol.VERDICT_FEVER))
    with Store(tmp_path / "g.db") as store:
        fields = rows(store)[1]["fields"]
    assert fields["temp_cc"] == 3812 and fields["verdict_name"] == "fever"


def test_table_is_keyed_by_device_boot_seq(tmp_path):
    ingest_bytes(tmp_path / "g.db", boot())
    db = sqlite3.connect(tmp_path / "g.db")
    with pytest.raises(sqlite3.IntegrityError):
        db.execute(
            "INSERT INTO records (device_id, boot, seq, t_cs, type, fields) "
            "VALUES (?, 7, 0, 0, 'boot', '{}')",
            (DEVICE,),
        )


def test_a_file_that_is_not_a_database_is_exit_6(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("not sqlite at all, just some text that is long enough " * 20)
    with pytest.raises(FevergateError) as info:
        Store(path)
    assert info.value.exit_code == EXIT_FILE


def test_readonly_store_never_creates_the_file(tmp_path):
    with pytest.raises(FevergateError) as info:
        Store(tmp_path / "missing.db", readonly=True)
    assert info.value.exit_code == EXIT_FILE
    assert not (tmp_path / "missing.db").exists()


def journal_end(seq, t_cs, boot_count, end_seq):
    """The CONFIG record a boot sends after its BOOT: how far the previous boot's journal got."""
    return encode_record(
        "config", seq, t_cs, key=protocol.KEY_JOURNAL_END, value=boot_count << 16 | end_seq
    )


def test_the_tail_a_power_cut_kept_from_the_store_is_listed_as_a_gap(tmp_path):
    # boot 7 stored up to seq 3; boot 8 says boot 7's journal got to seq 6: 4..6 are missing
    data = boot(0, 0, boot_count=7) + b"".join(passage(s, 100 * s) for s in range(1, 4))
    data += boot(0, 0, boot_count=8) + journal_end(1, 0, 7, 6)
    with Store(str(tmp_path / "s.db")) as store:
        store.ingest(StreamDecoder().feed(data))
        assert store.gaps(DEVICE, 7) == [(4, 6)]
        assert store.gaps(DEVICE, 8) == []


def test_a_boot_whose_whole_journal_was_stored_has_no_tail_gap(tmp_path):
    data = boot(0, 0, boot_count=7) + b"".join(passage(s, 100 * s) for s in range(1, 4))
    data += boot(0, 0, boot_count=8) + journal_end(1, 0, 7, 3)
    with Store(str(tmp_path / "s.db")) as store:
        store.ingest(StreamDecoder().feed(data))
        assert store.gaps(DEVICE, 7) == []


def test_link_chatter_the_journal_did_not_keep_is_not_a_gap(tmp_path):
    # seqs 4..9 were answers to free commands, not journaled: the CONFIG KEY_CHATTER record
    # at seq 10 says so; 2 and 3 are really missing
    data = boot(0, 0, boot_count=7) + passage(1, 100)
    data += encode_record("config", 10, 900, key=protocol.KEY_CHATTER, value=6)
    data += passage(11, 1000)
    with Store(str(tmp_path / "s.db")) as store:
        store.ingest(StreamDecoder().feed(data))
        assert store.gaps(DEVICE, 7) == [(2, 3)]


def test_chatter_received_live_beside_its_marker_leaves_no_gap(tmp_path):
    # 2..5 were chatter: 3 came live, the others were damaged; the marker at 6 covers them
    data = boot(0, 0, boot_count=7) + passage(1, 100)
    data += encode_record("reply", 3, 300, command=1, status=0, reason=0, arg=9)
    data += encode_record("config", 6, 400, key=protocol.KEY_CHATTER, value=4)
    data += passage(8, 1000)
    with Store(str(tmp_path / "s.db")) as store:
        store.ingest(StreamDecoder().feed(data))
        assert store.gaps(DEVICE, 7) == [(7, 7)]
