"""`fevergate report --site-view --tz`: every gate and the site total, the day in the site's
timezone, from PostgreSQL or SQLite."""

import datetime
import io

from host_tools.cli import State, main
from host_tools.decoder import encode_record
from host_tools.report import day_report
from host_tools.store import ingest_bytes, open_store
from host_tools.wire import protocol

# 2026-02-13 23:30 UTC is 2026-02-14 00:30 in Paris
LATE_UTC = int(datetime.datetime(2026, 2, 13, 23, 30, tzinfo=datetime.timezone.utc).timestamp())


def gate_day(device_id, people, fevers=0):
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=protocol.FW_VERSION, boot_count=1,
        device_id=device_id,
    )  # fmt: skip
    data += encode_record("time", 1, 10, unix_s=LATE_UTC)
    for i in range(people):
        verdict = protocol.VERDICT_FEVER if i < fevers else protocol.VERDICT_NORMAL
        data += encode_record(
            "passage", 2 + i, 100 + 100 * i, verdict=verdict, direction=protocol.DIR_IN,
            temp_cc=3650, transit_cs=40,
        )  # fmt: skip
    return data


def test_the_site_view_lists_every_gate_and_the_total(pg_url):
    ingest_bytes(pg_url, gate_day(0x53470001, 5, fevers=1))
    ingest_bytes(pg_url, gate_day(0x53470002, 7))
    out = io.StringIO()
    argv = ["report", "--store", pg_url, "--site-view", "--tz", "Europe/Paris", "--day",
            "2026-02-14"]  # fmt: skip
    assert main(argv, State(out=out, err=io.StringIO())) == 0
    text = out.getvalue()
    assert "site view, 2026-02-14 (Europe/Paris), 2 gate(s)" in text
    total = next(line for line in text.splitlines() if line.startswith("site total"))
    assert total.split()[2:4] == ["12", "0"] and total.split()[4] == "1"
    assert "busiest hour  00:00 (Europe/Paris), 12 people in" in text


def test_a_gate_report_says_its_timezone(tmp_path):
    path = str(tmp_path / "g.db")
    ingest_bytes(path, gate_day(0x53470001, 3))
    out = io.StringIO()
    argv = ["report", "--store", path, "--tz", "Europe/Paris"]
    assert main(argv, State(out=out, err=io.StringIO())) == 0
    assert "2026-02-14 (Europe/Paris), gate 0x53470001" in out.getvalue()
    assert "hour (Europe/Paris)" in out.getvalue()


def test_the_day_follows_the_timezone(tmp_path):
    path = str(tmp_path / "g.db")
    ingest_bytes(path, gate_day(0x53470001, 4))
    paris = __import__("zoneinfo").ZoneInfo("Europe/Paris")
    with open_store(path, readonly=True) as store:
        assert day_report(store, datetime.date(2026, 2, 14)) == []  # UTC: still the 13th
        (gate,) = day_report(store, datetime.date(2026, 2, 14), tz=paris)
        assert gate.people_in == 4 and gate.people_in_by_hour[0] == 4
