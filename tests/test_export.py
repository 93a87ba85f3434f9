"""`fevergate export` and host_tools/export.py: stored records out as CSV or JSON lines."""

import csv
import datetime
import io
import json

import pytest

from host_tools import cli
from host_tools.decoder import encode_record
from host_tools.errors import FevergateError
from host_tools.export import parse_date
from host_tools.store import ingest_bytes
from host_tools.wire import protocol

# 2024-05-01 08:00 local time: export dates are local
MAY_1 = datetime.datetime(2024, 5, 1, 8, 0).timestamp()
DAY = 86400


def boot(device_id, boot_count=1):
    return encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=boot_count,
        device_id=device_id,
    )  # fmt: skip


def passage(seq, t_cs, temp_cc=3650, verdict=protocol.VERDICT_NORMAL):
    return encode_record(
        "passage", seq, t_cs, verdict=verdict, direction=1, temp_cc=temp_cc, transit_cs=40
    )


def day_of(device_id, unix_s):
    """A boot, a TIME record, two passages (t+1 s, t+2 s) and an alarm."""
    data = boot(device_id) + encode_record("time", 1, 100, unix_s=int(unix_s))
    data += passage(2, 200) + passage(3, 300, 3900, protocol.VERDICT_FEVER)
    data += encode_record("alarm", 4, 300, kind=1, temp_cc=3900)
    return data


@pytest.fixture
def db(tmp_path):
    path = str(tmp_path / "gate.db")
    ingest_bytes(path, day_of(7, MAY_1))
    ingest_bytes(path, day_of(8, MAY_1 + DAY))
    return path


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(["export", *argv], cli.State(out, err))
    return code, out.getvalue(), err.getvalue()


def jsonl(*argv):
    code, out, err = run("--jsonl", *argv)
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_jsonl_exports_every_record(db):
    assert len(jsonl("--db", db)) == 10


def test_type_filter_keeps_only_that_type(db):
    records = jsonl("--db", db, "--type", "passage")
    assert {r["type"] for r in records} == {"passage"} and len(records) == 4


def test_device_filter_accepts_decimal_and_hex(db):
    assert {r["device_id"] for r in jsonl("--db", db, "--device", "8")} == {8}
    assert {r["device_id"] for r in jsonl("--db", db, "--device", "0x7")} == {7}


def test_since_is_inclusive_and_until_exclusive(db):
    records = jsonl("--db", db, "--since", str(MAY_1 + 2), "--until", str(MAY_1 + DAY))
    assert [(r["device_id"], r["type"]) for r in records] == [(7, "passage"), (7, "alarm")]


def test_dates_are_local_calendar_days(db):
    records = jsonl("--db", db, "--since", "2024-05-02", "--until", "2024-05-03")
    assert {r["device_id"] for r in records} == {8}


def test_csv_has_a_header_and_the_type_fields_as_columns(db):
    code, out, _ = run("--db", db, "--csv", "--type", "passage")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert code == 0 and len(rows) == 4
    assert rows[1]["temp_cc"] == "3900" and rows[1]["verdict_name"] == "fever"
    assert rows[0]["time"].startswith("2024-05-01T08:00:01")


def test_csv_of_several_types_has_the_union_of_their_fields(db):
    code, out, _ = run("--db", db, "--csv")
    header = out.splitlines()[0].split(",")
    assert {"unix_s", "kind", "temp_cc", "boot_count"} <= set(header)


def test_output_file_gets_the_records(db, tmp_path):
    target = tmp_path / "out.csv"
    code, out, err = run("--db", db, "--csv", "-o", str(target))
    assert code == 0 and out == "" and err == f"10 records written to {target}\n"
    assert len(target.read_text().splitlines()) == 11


def test_missing_database_is_exit_6(tmp_path):
    code, _, err = run("--db", str(tmp_path / "nope.db"), "--csv")
    assert code == 6 and "nope.db" in err


def test_unwritable_output_is_exit_6(db, tmp_path):
    code, _, err = run("--db", db, "--csv", "-o", str(tmp_path / "no" / "dir.csv"))
    assert code == 6 and "cannot write" in err


def test_a_format_is_required(db):
    assert run("--db", db)[0] == 2


def test_bad_date_is_a_usage_error(db):
    code, _, err = run("--db", db, "--csv", "--since", "yesterday-ish")
    assert code == 2 and "not a date" in err


def test_parse_date_reads_unix_seconds_and_iso_with_offset():
    assert parse_date("1714550400") == 1714550400
    assert parse_date("2024-05-01T08:00:00+00:00") == 1714550400
    with pytest.raises(FevergateError):
        parse_date("May first")
