"""One store interface, two backends: the same stream gives the same rows, gaps, sync state,
wall times, export and report in SQLite and in a real PostgreSQL server (tests/conftest.py)."""

import datetime
import io

import psycopg
import pytest

from host_tools.cli import State, main
from host_tools.decoder import encode_record
from host_tools.errors import FevergateError
from host_tools.report import day_report
from host_tools.store import RecordStore, SQLiteStore, ingest_bytes, open_store
from host_tools.store_pg import PostgresStore
from host_tools.wire import protocol

DEVICE = 0x4D501D1D
UNIX = 1_714_550_400  # 2024-05-01 08:00 UTC


def boot(boot_count=3, device_id=DEVICE):
    return encode_record(
        "boot", 0, 0, reset_cause=protocol.RESET_POWER_ON, fw_version=protocol.FW_VERSION,
        boot_count=boot_count, device_id=device_id,
    )  # fmt: skip


def passage(seq, t_cs, temp_cc=3650, verdict=protocol.VERDICT_NORMAL):
    return encode_record(
        "passage", seq, t_cs, verdict=verdict, direction=protocol.DIR_IN, temp_cc=temp_cc,
        transit_cs=40,
    )  # fmt: skip


def stream():
    """A boot with a gap (seq 4 missing), a fever, the clock set after the first passages."""
    data = boot() + passage(1, 100) + passage(2, 200)
    data += encode_record("time", 3, 300, unix_s=UNIX)
    data += passage(5, 500, temp_cc=3890, verdict=protocol.VERDICT_FEVER) + passage(6, 600)
    return data


@pytest.fixture(params=["sqlite", "postgresql"])
def target(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "site.db")
    return request.getfixturevalue("pg_url")


def test_open_store_picks_the_backend_from_the_target(tmp_path, pg_url):
    with open_store(str(tmp_path / "a.db")) as lite, open_store(pg_url) as pg:
        assert isinstance(lite, SQLiteStore) and isinstance(pg, PostgresStore)
        assert isinstance(pg, RecordStore)


def test_the_same_stream_gives_the_same_rows_in_both_backends(tmp_path, pg_url):
    seen = []
    for where in (str(tmp_path / "a.db"), pg_url):
        result = ingest_bytes(where, stream())
        assert (result.inserted, result.good, result.lost) == (6, 6, 1)
        with open_store(where) as store:
            store.fill_wall_times()
            seen.append(list(store.query()))
    assert seen[0] == seen[1]
    assert [r["seq"] for r in seen[1]] == [0, 1, 2, 3, 5, 6]
    assert seen[1][1]["wall_time"] == UNIX - 2.0  # given by fill_wall_times from the TIME


def test_a_record_given_twice_is_stored_once(target):
    ingest_bytes(target, stream())
    again = ingest_bytes(target, stream() + passage(7, 700))
    assert (again.inserted, again.duplicates) == (1, 6)
    with open_store(target) as store:
        assert store.count() == 7
        assert store.count("passage") == 5
        assert store.duplicates() == 0


def test_gaps_boots_and_sync_state_agree(target):
    ingest_bytes(target, stream())
    with open_store(target) as store:
        assert store.boots(DEVICE) == [3]
        assert store.gaps(DEVICE, 3) == [(4, 4)]
        assert store.sync_state(DEVICE) is None
        store.set_sync_state(DEVICE, 3, 2)
        store.set_sync_state(DEVICE, 3, 6)
        assert store.sync_state(DEVICE) == (3, 6)
        assert store.devices() == [DEVICE]


def test_the_unique_key_holds_against_a_second_writer(pg_url):
    """Two ingesters with their own connections write the same rows: one copy each."""
    with open_store(pg_url) as one, open_store(pg_url) as two:
        first = ingest_bytes(one, stream())
        second = ingest_bytes(two, stream())
        assert first.inserted + second.inserted == 6
        assert one.count() == 6
    with psycopg.connect(pg_url) as db:
        (n,) = db.execute(
            "SELECT COUNT(*) FROM (SELECT DISTINCT device_id, boot, seq, t_cs FROM records) d"
        ).fetchone()
        assert n == 6


def test_export_is_the_same_from_either_backend(tmp_path, pg_url):
    outputs = []
    for where in (str(tmp_path / "a.db"), pg_url):
        ingest_bytes(where, stream())
        out = io.StringIO()
        assert main(["export", "--db", where, "--csv"], State(out=out, err=io.StringIO())) == 0
        outputs.append(out.getvalue())
    assert outputs[0] == outputs[1]
    assert outputs[0].count("\n") == 7


def test_report_reads_postgresql(pg_url):
    ingest_bytes(pg_url, stream())
    with open_store(pg_url, readonly=True) as store:
        store_day = datetime.datetime.fromtimestamp(UNIX, datetime.timezone.utc).date()
        (gate,) = day_report(store, store_day)
    assert (gate.people_in, gate.fevers) == (2, 1)  # the passages after the clock was set
    out = io.StringIO()
    assert main(["report", "--store", pg_url], State(out=out, err=io.StringIO())) == 0
    assert "0x4D501D1D" in out.getvalue()


def test_an_unreachable_database_is_one_clean_error(pg_server):
    from host_tools.siteparts import free_port

    with pytest.raises(FevergateError) as info:
        open_store(f"postgresql://postgres:secret@127.0.0.1:{free_port()}/x")
    assert "cannot use as a database" in info.value.message
    assert "secret" not in info.value.message


def test_the_sync_session_downloads_a_gate_into_postgresql(pg_url):
    """`sync --store postgresql://...`: the same session as on SQLite (here the simulated
    laptop of `simulate --store`), the journal downloaded and acknowledged, live records
    after, into the site's database."""
    import json

    out = io.StringIO()
    argv = ["simulate", "--runtime", "cpython", "--minutes", "3", "--rate", "8",
            "--store", pg_url, "--json"]  # fmt: skip
    assert main(argv, State(out=out, err=io.StringIO())) == 0
    summary = json.loads(out.getvalue())
    assert summary["sync"]["error"] == ""
    assert summary["people_in_store"] == summary["people_counted"] > 5
    assert summary["records_in_store"] >= summary["records_sent_by_seq"]
    with open_store(pg_url) as store:
        device = summary["device_id"]
        assert store.sync_state(device) is not None
        assert all(store.gaps(device, boot) == [] for boot in store.boots(device))
