"""The technician's day (issue 13): the real CLI against a live simulated gate on a pty with
the cable pulled, a wire that damages records, a full disk and typos. Each failure is one line
on stderr and a documented exit code, and nothing is destroyed."""

import datetime
import errno
import io
import json
import os
import re
import threading
import time
from pathlib import Path

import pytest

from host_tools import outfile
from host_tools.cli import COMMANDS, State, main
from host_tools.decoder import encode_record
from host_tools.errors import FevergateError
from host_tools.shim.cable import CablePty, running_gate
from host_tools.store import Store, ingest_bytes

PIN = "1234"
PEOPLE = [(1500 + 2500 * i, 36.6 + 0.1 * (i % 4)) for i in range(6)]
PEOPLE_DONE_MS = 20_000  # every one of them has left the gate


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = main([str(a) for a in argv], State(out, err))
    return code, out.getvalue(), err.getvalue()


def one_line(err):
    assert "Traceback" not in err
    assert err.count("\n") == 1, err
    return err


# -- 1. a pulled cable: exit 3 and one line, in every command, wherever it is pulled --

PULLED_AT_THE_FIRST_COMMAND = [
    ("config", ["--all"]),
    ("config", ["--set", "hysteresis_cc=30", "--pin", PIN]),
    ("time-sync", ["--pin", PIN]),
    ("calibrate", ["--reference", "37.0", "--pin", PIN]),
    ("service", ["status"]),
    ("service", ["prime", "--seconds", "2", "--pin", PIN]),
    ("service", ["self-test"]),
    ("sync", ["--store", "{db}", "--pin", PIN, "--timeout", "1"]),
]


@pytest.mark.parametrize(("command", "rest"), PULLED_AT_THE_FIRST_COMMAND)
def test_a_cable_pulled_as_the_command_goes_out_is_exit_3_and_one_line(tmp_path, command, rest):
    db = tmp_path / "gate.db"
    pty = CablePty(pull_after_commands=1)
    with pty, running_gate(pty, tmp_path / "flash"):
        argv = [command, pty.path] + [a.format(db=db) for a in rest]
        code, _, err = run(*argv)
    assert pty.pulled
    assert code == 3, err
    assert one_line(err).startswith(f"fevergate {command}: {pty.path}: the port went away")


def test_a_cable_pulled_between_two_commands_is_exit_3_and_the_first_was_done(tmp_path):
    pty = CablePty(pull_after_commands=2)
    with pty, running_gate(pty, tmp_path / "flash"):
        code, out, err = run(
            "config", pty.path, "--set", "hysteresis_cc=30", "--set", "debounce_ms=40",
            "--pin", PIN,
        )  # fmt: skip
    assert code == 3
    assert out == "set hysteresis_cc = 30  (0.30 C)\n"
    assert "the port went away" in one_line(err)


def test_a_cable_pulled_in_the_middle_of_a_sync_keeps_what_came_and_says_so(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty(pull_after_replays=8)
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)  # everybody has walked through
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert pty.pulled and code == 3
    line = one_line(err)
    assert "the port went away" in line and "run sync again to resume" in line
    with Store(str(db), readonly=True) as store:
        replayed = store.count()
        assert replayed >= 3  # what came before the cable went is stored, not dropped
        assert f"{replayed} new records stored in {db}" in line


@pytest.mark.parametrize("command", ["log", "monitor"])
def test_log_and_monitor_on_a_pulled_cable_are_exit_3_and_one_line(tmp_path, command):
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE):
        pty.pull_later(0.5)
        code, _, err = run(command, pty.path, "--db", tmp_path / "g.db", "--duration", "5")
    assert code == 3
    assert "the port went away" in one_line(err)
    if command == "log":  # it says what it stored before the cable went
        with Store(str(tmp_path / "g.db"), readonly=True) as store:
            stored = store.count()
        assert err.endswith(
            f"; {stored} record{'s' * (stored != 1)} stored in {tmp_path / 'g.db'}\n"
        )


# -- 3. sync acknowledges only what it stored --


def test_sync_does_not_acknowledge_records_damaged_every_time_and_a_later_sync_gets_them(
    tmp_path,
):
    first, fresh = tmp_path / "gate.db", tmp_path / "other.db"
    pty = CablePty(damage_replays={4})
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)  # everybody has walked through
        code, out, err = run("sync", pty.path, "--store", first, "--pin", PIN)
        assert pty.damaged >= 3  # asked for three times, damaged three times
        with Store(str(first), readonly=True) as store:
            device = next(store.query())["device_id"]
            assert store.sync_state(device) == (1, 3)  # the saved state stops there too
        pty.damage_replays.clear()
        again = run("sync", pty.path, "--store", fresh, "--pin", PIN)
        resumed = run("sync", pty.path, "--store", first, "--pin", PIN)
    assert code == 1, err
    assert "acknowledged up to boot 1 record 3" in out
    assert "boot 1: records 4 are still on the gate" in out
    # not acknowledged: a store that never saw this gate downloads it from the gate's journal
    assert again[0] == 0, again[2]
    with Store(str(fresh), readonly=True) as store:
        assert [r for r in store.query() if r["boot"] == 1 and r["seq"] == 4]
    # and the first store's next sync fills its gap
    assert resumed[0] == 0, resumed[2]
    with Store(str(first), readonly=True) as store:
        assert store.gaps(device, 1) == []


# -- 4. log on a running gate: the gate's identity, never a record twice --


def test_log_on_a_running_gate_stores_under_its_identity_and_a_later_sync_adds_no_duplicate(
    tmp_path,
):
    db = tmp_path / "gate.db"
    walkers = [(12_000 + 2500 * i, 36.6) for i in range(8)]  # while log runs
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", walkers) as sim:
        sim.wait_until(10_000)  # the gate is up: log sees no BOOT record
        code, out, err = run("log", pty.path, "--db", db, "--duration", "1.5")
        with Store(str(db), readonly=True) as store:
            logged = list(store.query())
        sim.wait_until(walkers[-1][0] + 8000)  # the last one is through
        synced = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert code == 0, err
    assert len([r for r in logged if r["type"] == "passage"]) >= 3
    assert {(r["device_id"] != 0, r["boot"]) for r in logged} == {(True, 1)}
    assert out.startswith(f"logging {pty.path} into {db} for 1.5 s")
    assert synced[0] == 0, synced[2]
    with Store(str(db), readonly=True) as store:
        rows = list(store.query())
        assert store.count("passage") == len(walkers)
    assert {(r["device_id"] != 0, r["boot"]) for r in rows} == {(True, 1)}
    keys = [(r["boot"], r["seq"]) for r in rows]
    assert len(keys) == len(set(keys))  # nothing stored twice


# -- 2. export -o: never the database, whole or not at all --


def a_store(tmp_path, passages=400):
    db = str(tmp_path / "gate.db")
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 50, unix_s=1_770_967_800)
    for seq in range(2, passages + 2):
        data += encode_record(
            "passage", seq, 100 * seq, verdict=1, direction=1, temp_cc=3650, transit_cs=40
        )
    ingest_bytes(db, data)
    return db


def test_export_naming_the_database_as_its_output_is_refused_and_the_database_intact(tmp_path):
    db = a_store(tmp_path)
    before = open(db, "rb").read()
    for output in (db, str(tmp_path / "." / "gate.db")):
        code, _, err = run("export", "--db", db, "--csv", "-o", output)
        assert code == 2
        assert "is the database being read" in one_line(err)
    assert open(db, "rb").read() == before
    with Store(db, readonly=True) as store:
        assert store.count("passage") == 400


class FullDisk:
    """A file stream that fills the disk after `room` characters (ENOSPC, as a real one)."""

    def __init__(self, stream, room):
        self.stream, self.room = stream, room

    def write(self, text):
        self.room -= len(text)
        if self.room < 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        return self.stream.write(text)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stream.close()


def test_export_on_a_full_disk_leaves_no_partial_file_and_the_old_export_untouched(
    tmp_path, monkeypatch
):
    db = a_store(tmp_path)
    old = tmp_path / "day.csv"
    old.write_text("yesterday's export\n")
    real = outfile._open
    monkeypatch.setattr(outfile, "_open", lambda fd, binary: FullDisk(real(fd, binary), 4096))
    code, _, err = run("export", "--db", db, "--csv", "-o", old)
    assert code == 6
    assert "No space left on device" in one_line(err) and "nothing written" in err
    assert old.read_text() == "yesterday's export\n"
    assert sorted(os.listdir(tmp_path)) == ["day.csv", "gate.db"]  # no partial file


def test_export_to_a_full_device_is_exit_6_and_one_line(tmp_path):
    db = a_store(tmp_path)
    code, _, err = run("export", "--db", db, "--csv", "-o", "/dev/full")
    assert code == 6
    assert "No space left on device" in one_line(err)


def test_export_completes_into_a_new_file_by_rename(tmp_path):
    db = a_store(tmp_path, passages=3)
    code, _, err = run("export", "--db", db, "--csv", "-o", tmp_path / "new.csv")
    assert code == 0 and err == f"5 records written to {tmp_path / 'new.csv'}\n"
    assert (tmp_path / "new.csv").read_text().count("\n") == 6
    assert sorted(os.listdir(tmp_path)) == ["gate.db", "new.csv"]


# -- 7. temperatures as people type and read them --


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    """One live gate for the commands that only talk to it (nobody walks)."""
    pty = CablePty()
    with pty, running_gate(pty, tmp_path_factory.mktemp("gate") / "flash"):
        yield pty


def test_config_takes_a_temperature_in_degrees_c_and_the_cc_form_still_works(gate):
    code, out, err = run("config", gate.path, "--set", "fever_threshold=37.5", "--pin", PIN)
    assert code == 0, err
    assert out == "set fever_threshold_cc = 3750  (37.50 C)\n"
    code, out, _ = run("config", gate.path, "--set", "fever_threshold_cc=3730", "--pin", PIN)
    assert code == 0 and out == "set fever_threshold_cc = 3730  (37.30 C)\n"
    code, out, err = run("config", gate.path, "--set", "fever_threshold=warm", "--pin", PIN)
    assert code == 2 and "is not a temperature in °C" in one_line(err)


def test_csv_export_has_degrees_and_seconds_beside_the_raw_columns_and_no_column_twice(tmp_path):
    db = a_store(tmp_path, passages=2)
    code, out, _ = run("export", "--db", db, "--csv")
    assert code == 0
    header, *rows = out.splitlines()
    columns = header.split(",")
    assert len(columns) == len(set(columns))  # device_id once, boot records included
    assert columns.index("temp_c") == columns.index("temp_cc") + 1
    assert columns.index("transit_s") == columns.index("transit_cs") + 1
    passage = dict(zip(columns, rows[-1].split(","), strict=True))
    assert (passage["temp_cc"], passage["temp_c"]) == ("3650", "36.5")
    assert (passage["transit_cs"], passage["transit_s"]) == ("40", "0.4")
    assert passage["device_id"] == "42"


# -- 8. refusals say what is allowed; a busy gate is asked again --


def test_a_setting_out_of_range_says_what_is_allowed_in_degrees(gate):
    code, _, err = run("config", gate.path, "--set", "fever_threshold=99.99", "--pin", PIN)
    assert code == 7
    assert one_line(err) == (
        "fevergate config: fever_threshold 99.99 °C refused: allowed 35.00 .. 42.00 °C\n"
    )
    code, _, err = run("config", gate.path, "--set", "debounce_ms=9000", "--pin", PIN)
    assert code == 7
    assert one_line(err).endswith("debounce_ms 9000 refused: allowed 0 .. 500 ms\n")


def test_refusals_never_show_internal_names(gate, capsys):
    code, _, err = run("time-sync", gate.path, "--pin", "4321")
    assert code == 7
    line = one_line(err)
    assert "wrong PIN" in line
    for internal in ("time_sync", "bad_pin", "set_config", "_"):
        assert internal not in line.split(": ", 1)[1]
    capsys.readouterr()
    assert run("log", gate.path, "--db", "x.db", "--duration", "soon")[0] == 2
    err = capsys.readouterr().err  # argparse's own usage errors
    assert "<lambda>" not in err and "_duration" not in err
    assert "'soon' is not a number of seconds" in err
    assert run("export", "--db", "x.db", "--csv", "--device", "gate7")[0] == 2
    err = capsys.readouterr().err
    assert "<lambda>" not in err and "is not a device id" in err


def test_calibrate_while_someone_is_in_the_gate_asks_again_until_they_are_through(tmp_path):
    slow_walker = [(3000, 33.5, 1, 0.15, 0.5)]  # in the channel for about 10 s
    pty = CablePty()
    with (
        pty,
        running_gate(pty, tmp_path / "flash", slow_walker, factor=5.0, ambient_c=33.0) as sim,
    ):
        sim.wait_until(6000)  # the walker is inside
        code, out, err = run("calibrate", pty.path, "--reference", "33.0", "--pin", PIN)
    assert code == 0, err
    assert pty.commands >= 2  # refused as busy first, asked again
    assert "calibration_reference_cc = 3300  (33.00 C)" in out


def test_a_calibration_reference_out_of_range_says_what_is_allowed(gate):
    code, _, err = run("calibrate", gate.path, "--reference", "22", "--pin", PIN)
    assert code == 2
    assert one_line(err) == (
        "fevergate calibrate: reference 22.00 °C refused: allowed 30.00 .. 45.00 °C "
        "(hold a reference of about body temperature)\n"
    )


# -- 13. filters that match nothing name themselves --


def test_export_of_an_unknown_type_lists_the_types(tmp_path):
    db = a_store(tmp_path, passages=2)
    code, out, err = run("export", "--db", db, "--csv", "--type", "passages")
    assert code == 2 and out == ""
    assert "no record type 'passages'; the types are: boot, passage, alarm" in one_line(err)


def test_export_of_an_unknown_device_names_the_devices_there(tmp_path):
    db = a_store(tmp_path, passages=2)
    code, out, err = run("export", "--db", db, "--csv", "--device", "0x2b")
    assert code == 1 and out == ""
    assert one_line(err) == (
        f"fevergate export: no records of device 0x0000002b in {db}; its devices: 0x0000002a\n"
    )


# -- 11. log and sync say what they do and what they stored, on any stop --


def test_log_on_a_full_disk_is_exit_6_one_line_with_what_it_stored(tmp_path, monkeypatch):
    db = tmp_path / "gate.db"
    real_ingest = Store.ingest
    calls = []

    def ingest(self, events, received_at=None):
        calls.append(1)
        if len(calls) > 2:  # the disk fills up after two batches
            raise FevergateError(f"{self.path}: cannot write (database or disk is full)", 6)
        return real_ingest(self, events, received_at)

    monkeypatch.setattr(Store, "ingest", ingest)
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE):
        code, out, err = run("log", pty.path, "--db", db, "--duration", "3")
    assert code == 6
    with Store(str(db), readonly=True) as store:
        stored = store.count()
    assert stored > 0
    assert one_line(err).endswith(
        f"database or disk is full); {stored} records stored in {db}\n"
    ) or one_line(err).endswith(f"database or disk is full); 1 record stored in {db}\n")
    assert out.startswith(f"logging {pty.path} into {db} for 3 s")


def test_sync_on_ctrl_c_says_what_it_stored_and_that_running_it_again_resumes(
    tmp_path, monkeypatch
):
    from host_tools import sync

    db = tmp_path / "gate.db"
    real_feed = sync.SyncSession.feed

    def feed(self, data, now):
        if self.result.downloaded >= 5:
            raise KeyboardInterrupt
        return real_feed(self, data, now)

    monkeypatch.setattr(sync.SyncSession, "feed", feed)
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)
        code, out, err = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert code == 130
    with Store(str(db), readonly=True) as store:
        stored = store.count()
    assert stored >= 5
    assert err == (
        f"fevergate sync: interrupted; {stored} new records stored in {db}; "
        "run sync again to resume\n"
    )


def test_sync_counts_downloaded_and_new_apart_from_the_gates_answers(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)
        code, out, err = run("sync", pty.path, "--store", db, "--pin", PIN)
        with Store(str(db), readonly=True) as store:
            stored = store.count()
        again = run("sync", pty.path, "--store", db, "--pin", PIN, "-q")
    assert code == 0 and err == ""  # no progress bar when stderr is not a terminal
    first = out.splitlines()[0]
    downloaded = int(first.split()[1])
    new = int(first.split(", ")[1].split()[0])
    live = int(first.split("; ")[1].split()[0])
    assert new + live == stored
    assert 0 < new <= downloaded and live > 0
    assert again[0] == 0 and again[2] == ""
    assert ", 0 of them new in" in again[1] or "records downloaded" in again[1]


def test_a_sync_that_fails_at_once_leaves_no_empty_store(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty(pull_after_commands=1)
    with pty, running_gate(pty, tmp_path / "flash"):
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert code == 3 and "nothing stored" in one_line(err)
    assert not db.exists()


# -- 14. small ones --


def test_a_baud_rate_typo_is_refused_with_the_standard_rates(capsys):
    code, _, _ = run("monitor", "loop://", "--baud", "11520")
    err = capsys.readouterr().err
    assert code == 2
    assert "11520 is not a standard rate" in err and "115200" in err


def test_decode_of_an_empty_file_or_not_a_capture_says_so(tmp_path):
    (tmp_path / "empty.bin").write_bytes(b"")
    code, out, err = run("decode", tmp_path / "empty.bin")
    assert code == 1 and out == ""
    assert one_line(err).endswith("empty.bin is empty: nothing to decode\n")
    (tmp_path / "notes.txt").write_text("gate 3 checked, all fine\n" * 20)
    code, out, err = run("decode", tmp_path / "notes.txt")
    assert code == 5
    assert "notes.txt is not a raw capture of a gate's UART" in one_line(err)


def test_decode_says_one_bad_frame_not_frames(tmp_path):
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=42
    )
    (tmp_path / "c.bin").write_bytes(data + bytes.fromhex("0322010339300107e40e112837e800"))
    code, out, _ = run("decode", tmp_path / "c.bin")
    assert code == 1
    assert out.splitlines()[-1] == "1 good frame, 1 bad frame, 0 records lost"


def test_service_filter_without_options_refuses_and_writes_nothing(gate):
    before = gate.commands
    code, _, err = run("service", gate.path, "filter", "--pin", PIN)
    assert code == 2
    assert "filter needs --iir and/or --fir" in one_line(err)
    assert gate.commands == before  # nothing was sent


def test_reset_counters_wants_a_confirmation(gate):
    before = gate.commands
    code, _, err = run("service", gate.path, "reset-counters", "--pin", PIN)
    assert code == 2 and "confirm with --yes" in one_line(err)
    assert gate.commands == before
    code, out, err = run("service", gate.path, "reset-counters", "--yes", "--pin", PIN)
    assert code == 0 and out == "counters reset\n"


@pytest.mark.parametrize("kind", ["file", "folder"])
def test_a_file_or_a_folder_given_as_port_is_one_plain_sentence(tmp_path, kind):
    port = tmp_path / "capture.bin"
    if kind == "file":
        port.write_bytes(b"\x00")
    else:
        port.mkdir()
    for argv in (["monitor", port], ["service", port, "status"], ["sync", port, "--pin", PIN,
                 "--store", tmp_path / "s.db"]):  # fmt: skip
        code, _, err = run(*argv)
        assert code == 2
        assert f"{port} is a {kind}, not a serial port" in one_line(err)
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_help_has_an_example(name, capsys):
    assert main([name, "--help"]) == 0
    text = capsys.readouterr().out
    assert "examples:\n  fevergate " + name in text


def test_readme_lists_every_host_command():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    table = readme[readme.index("## The technician's CLI") :]
    for name in COMMANDS:
        assert f"`fevergate {name}" in table or f"/ {name}" in table or f"`{name}`" in table, name


# -- 5. one site time zone for report, monitor and export --

LATE_UTC = 1_770_939_000  # 2026-02-12 23:30 UTC: 2026-02-13 01:30 at UTC+02:00


def a_late_store(tmp_path):
    """A gate whose clock was set, with a passage late in the UTC evening."""
    db = str(tmp_path / "late.db")
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 100, unix_s=LATE_UTC)
    data += encode_record("passage", 2, 200, verdict=1, direction=1, temp_cc=3650, transit_cs=40)
    ingest_bytes(db, data)
    return db


def test_report_days_and_hours_are_the_sites_zone_and_the_header_names_it(tmp_path):
    db = a_late_store(tmp_path)
    code, out, _ = run("report", "--store", db, "--day", "2026-02-13", "--tz", "+02:00")
    assert code == 0
    assert out.startswith("fevergate report: 2026-02-13 (UTC+02:00), gate 0x0000002A")
    assert "hour (UTC+02:00)" in out and "  01:00      1    0" in out
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC")
    assert code == 0 and "2026-02-12 (UTC)" in out and "  23:00      1    0" in out
    code, _, err = run("report", "--store", db, "--day", "2026-02-13", "--tz", "UTC")
    assert code == 1 and "no records on 2026-02-13 (UTC)" in one_line(err)


def test_export_times_and_dates_are_the_sites_zone(tmp_path):
    db = a_late_store(tmp_path)
    code, out, _ = run("export", "--db", db, "--jsonl", "--tz", "+02:00", "--since", "2026-02-13")
    assert code == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in rows] == ["time", "passage"]  # both after midnight there
    assert rows[1]["time"] == "2026-02-13T01:30:01+02:00"
    code, out, _ = run("export", "--db", db, "--jsonl", "--tz", "UTC", "--since", "2026-02-13")
    assert code == 0 and out == ""


def test_monitor_shows_the_clock_in_the_sites_zone(tmp_path):
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 100, unix_s=LATE_UTC)
    data += encode_record("passage", 2, 200, verdict=1, direction=1, temp_cc=3650, transit_cs=40)
    (tmp_path / "late.bin").write_bytes(data)
    pty = CablePty()
    with pty:
        for delay in (0.4, 0.9):  # once the monitor has opened the port (it flushes input)
            threading.Timer(delay, pty.write, (data,)).start()
        code, out, _ = run("monitor", pty.path, "--tz", "+02:00", "--duration", "1.5")
    assert code == 0
    assert "2026-02-13 01:30:01  #2     passage" in out


def test_an_unknown_time_zone_is_one_line():
    code, _, err = run("report", "--store", "x.db", "--tz", "Mars/Olympus")
    assert code == 2
    assert "unknown time zone 'Mars/Olympus'" in one_line(err)


# -- 6. the report's picture: a wrong name is one line --


@pytest.mark.parametrize("png", ["day.jpg", "."])
def test_report_png_with_another_extension_or_a_folder_is_one_line(tmp_path, png):
    db = a_late_store(tmp_path)
    code, _, err = run("report", "--store", db, "--tz", "UTC", "--png", tmp_path / png)
    assert code == 2
    assert "--png" in one_line(err) and "Traceback" not in err


# -- 10. versions --


def test_version_names_the_tools_and_the_protocol(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("fevergate 0.1.0 (record protocol version ")


def test_service_status_shows_the_device_id_in_hex_and_the_settings_in_force(gate):
    code, out, err = run("service", gate.path, "status")
    assert code == 0, err
    lines = out.splitlines()
    assert any(line.startswith("device_id = 0x") and len(line) == 22 for line in lines)
    assert "settings in force:" in lines
    assert "  fever_threshold_cc = 3730  (37.30 C)" in lines


# -- 9. which port the gate is on --


def test_ports_marks_the_gate_and_auto_finds_it(gate, monkeypatch):
    from host_tools import ports
    from host_tools.shim.pty_port import PtyPort

    with PtyPort() as silent:  # a port where nothing answers (a modem, say)
        listed = [(gate.path, "USB Serial (simulated gate)"), (silent.path, "a modem")]
        monkeypatch.setattr(ports, "candidates", lambda: listed)
        code, out, err = run("ports")
        assert code == 0, err
        lines = out.splitlines()
        assert lines[0].startswith(
            f"{gate.path}  USB Serial (simulated gate)  <- fevergate gate 0x"
        )
        assert lines[1] == f"{silent.path}  a modem"
        code, out, err = run("service", "auto", "status")
        assert code == 0, err
        assert "settings in force:" in out
        monkeypatch.setattr(ports, "candidates", lambda: listed[1:])
        code, _, err = run("service", "auto", "status")
    assert code == 3 and "no gate answers on any serial port" in one_line(err)


# -- 12. a dead link is obvious --


def status_record(seq, t_cs):
    return encode_record(
        "status", seq, t_cs, people_in=0, people_out=0, fevers=0, remeasures=0,
        uptime_s=t_cs // 100, mem_free=100_000, sensor_errors=0, tx_dropped=0,
        people_in_today=0, irq_overflows=0, events_dropped=0, tx_short=0,
    )  # fmt: skip


def test_monitor_on_a_silent_port_hints_at_wiring_and_baud():
    with CablePty() as pty:
        code, out, _ = run("monitor", pty.path, "--duration", "2.5")
    assert code == 0
    assert out.splitlines()[-1].endswith("link: 0 bytes received: check wiring and baud rate")


def test_monitor_calls_a_link_dead_after_two_missed_status_periods():
    boot = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=42
    )
    with CablePty() as pty:
        # three STATUS records 0.3 s apart (after the monitor opened the port), then silence
        frames = [boot + status_record(1, 100), status_record(2, 130), status_record(3, 160)]
        for n, frame in enumerate(frames):
            threading.Timer(0.4 + 0.3 * n, pty.write, (frame,)).start()
        code, out, _ = run("monitor", pty.path, "--duration", "2.4")
    assert code == 0
    last = out.splitlines()[-1]
    assert re.search(
        r"link: DEAD\? no good frame for \d+ s, two status periods \(0\.\d+ s each\)", last
    )


def test_the_live_panel_shows_a_dead_link_in_red(monkeypatch):
    from host_tools import monitor as monitor_module

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(monitor_module, "SILENT_HINT_S", 0.2)
    out = Terminal()
    with CablePty() as pty:
        code = main(["monitor", pty.path, "--duration", "1"], State(out, io.StringIO()))
    assert code == 0
    text = out.getvalue()
    assert "0 bytes received" in text
    assert "\x1b[1;37;41m" in text  # bold white on red


def test_report_uses_the_threshold_the_gate_had_that_day(tmp_path):
    db = a_late_store(tmp_path)
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC")
    assert "threshold     37.30 °C (the default: no setting recorded in the store)" in out
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 100, unix_s=LATE_UTC)
    data += encode_record("config", 3, 150, key=1, value=3800)  # set that evening
    ingest_bytes(db, data)
    png = tmp_path / "day.png"
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC", "--png", png)
    assert code == 0
    assert "threshold     38.00 °C (the gate's setting that day)" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day.png", "late.db"]


def test_a_calibration_the_gate_refuses_says_what_the_sensor_read_against_the_reference(gate):
    code, _, err = run("calibrate", gate.path, "--reference", "37.0", "--pin", PIN)
    assert code == 7  # the sensor sees the background at 22 C
    said = re.fullmatch(
        r"fevergate calibrate: calibration refused: the sensor read (\d+\.\d\d) °C, more than "
        r"5\.00 °C away from the reference 37\.00 °C \(is the reference in front of the "
        r"sensor, and at that temperature\?\)\n",
        one_line(err),
    )
    assert said and abs(float(said[1]) - 22.0) < 0.3  # the median of what it read


def test_sync_against_a_silent_port_is_exit_9_as_the_other_commands(tmp_path):
    from host_tools.shim.pty_port import PtyPort

    db = tmp_path / "gate.db"
    with PtyPort() as silent:
        code, _, err = run("sync", silent.path, "--store", db, "--pin", PIN, "--timeout", "0.2")
        assert run("service", silent.path, "status")[0] == 9
    assert code == 9
    assert "no answer from the gate" in one_line(err) and "nothing stored" in err
    assert not db.exists()


# -- 5. the site's zone is the gate's own when --tz is not given --


def test_report_and_export_take_the_zone_the_gate_was_synced_with(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)  # everybody has walked through
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN, "--utc-offset", "+05:30")
    assert code == 0, err
    code, out, err = run("report", "--store", db)
    assert code == 0, err
    header, zone_line = out.splitlines()[:2]
    assert re.match(r"fevergate report: \d{4}-\d\d-\d\d \(UTC\+05:30\), gate 0x", header)
    assert zone_line == (
        "time zone     UTC+05:30, the gate's, from its last time sync (--tz to change)"
    )
    code, out, err = run("export", "--db", db, "--jsonl", "--type", "passage")
    assert code == 0, err
    times = [json.loads(line)["time"] for line in out.splitlines()]
    assert len(times) == len(PEOPLE) and all(t.endswith("+05:30") for t in times)
    code, out, _ = run("report", "--store", db, "--tz", "UTC")  # --tz still wins
    assert code == 0 and "(UTC), gate 0x" in out.splitlines()[0]
    assert out.splitlines()[1] == "time zone     UTC, given with --tz"


def test_a_gate_never_synced_leaves_the_report_in_this_computers_zone_and_says_so(tmp_path):
    db = a_late_store(tmp_path)  # a TIME record but no offset from the gate
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12")
    assert code == 0
    assert out.splitlines()[1].startswith("time zone     ")
    assert out.splitlines()[1].endswith(
        "this computer's: the gate never reported its own (sync it, or --tz)"
    )


def test_monitor_shows_the_clock_in_the_zone_the_gate_says_it_is_in():
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("config", 1, 100, key=215, value=120)  # a time sync at UTC+02:00
    data += encode_record("time", 2, 100, unix_s=LATE_UTC)
    data += encode_record("passage", 3, 200, verdict=1, direction=1, temp_cc=3650, transit_cs=40)
    pty = CablePty()
    with pty:
        threading.Timer(0.4, pty.write, (data,)).start()  # once the monitor has opened the port
        code, out, _ = run("monitor", pty.path, "--duration", "1.2")
    assert code == 0
    assert "2026-02-13 01:30:01  #3     passage" in out


# -- 6. the report's picture, what it shows --

MORNING_UTC = 1_770_883_200  # 2026-02-12 08:00 UTC


def a_day_store(tmp_path):
    """Gate 0x2A on 2026-02-12 (UTC): the threshold set to 38.00 C at 08:00, five normal
    passages at 08:xx (three in, two out), two fevers in at 09:xx; and a later boot whose clock
    was never set (three records without a wall time; the first BOOT, before its TIME record,
    has none either)."""
    db = str(tmp_path / "day.db")
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 100, unix_s=MORNING_UTC)
    data += encode_record("config", 2, 150, key=1, value=3800)
    passages = [(1, 3650), (1, 3650), (1, 3650), (2, 3660), (2, 3660)]
    seq = 3
    for n, (direction, temp_cc) in enumerate(passages):
        data += encode_record(
            "passage", seq, 1000 + 100 * n, verdict=0, direction=direction, temp_cc=temp_cc,
            transit_cs=40,
        )  # fmt: skip
        seq += 1
    for n, temp_cc in enumerate((3850, 3870)):
        data += encode_record(
            "passage", seq, 361_000 + 100 * n, verdict=1, direction=1, temp_cc=temp_cc,
            transit_cs=40,
        )  # fmt: skip
        seq += 1
    ingest_bytes(db, data)
    later = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=4, device_id=0x2A
    )
    for seq in (1, 2):
        later += encode_record(
            "passage", seq, 100 * seq, verdict=0, direction=1, temp_cc=3650, transit_cs=40
        )
    ingest_bytes(db, later)
    return db


def drawn_report(tmp_path, monkeypatch, *options):
    """`fevergate report ... --png` run for real; returns (stdout, the figure it drew)."""
    from host_tools import report

    figures = []
    build = report.build_figure

    def keep(*args, **kwargs):
        figures.append(build(*args, **kwargs))
        return figures[-1]

    monkeypatch.setattr(report, "build_figure", keep)
    db = a_day_store(tmp_path)
    png = tmp_path / "day.png"
    code, out, err = run(
        "report", "--store", db, "--day", "2026-02-12", "--tz", "UTC", "--png", png, *options
    )
    assert code == 0, err
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    (figure,) = figures
    return out, figure


def test_the_report_picture_is_titled_for_a_site_manager_with_site_gate_and_date(
    tmp_path, monkeypatch
):
    out, figure = drawn_report(tmp_path, monkeypatch, "--site", "Main entrance")
    hours, temps = figure.axes
    assert hours.get_title() == (
        "Daily screening report: Main entrance, gate 0x0000002A, 2026-02-12 (UTC): 5 in, 2 out"
    )
    assert figure.get_suptitle() == (
        "Fever results are screening results: confirm each with a clinical thermometer."
    )
    assert out.startswith(
        "fevergate report: 2026-02-12 (UTC), gate 0x0000002A, site Main entrance"
    )


def test_the_report_picture_draws_in_and_out_side_by_side_per_hour(tmp_path, monkeypatch):
    _, figure = drawn_report(tmp_path, monkeypatch)
    hours = figure.axes[0]
    people_in, people_out = hours.containers
    assert [b.get_height() for b in people_in][8:10] == [3, 2]
    assert [b.get_height() for b in people_out][8:10] == [2, 0]
    assert sum(b.get_height() for b in people_in) == 5  # in and out never added up
    for a, b in zip(people_in, people_out, strict=True):
        assert b.get_y() == 0 and a.get_y() == 0  # not stacked
        assert b.get_x() >= a.get_x() + a.get_width() - 1e-9  # beside each other
    assert hours.get_legend_handles_labels()[1] == ["in", "out"]
    assert hours.get_xlabel() == "hour (UTC)"


def test_the_report_picture_shows_the_forehead_estimates_with_fevers_in_their_own_colour(
    tmp_path, monkeypatch
):
    from matplotlib.colors import to_rgba

    out, figure = drawn_report(tmp_path, monkeypatch)
    temps = figure.axes[1]
    assert temps.get_xlabel() == "forehead-based estimate of body temperature, °C"
    assert "body temperature" not in temps.get_xlabel().split("estimate of ")[0]
    (bars,) = temps.containers
    red, green = to_rgba("tab:red"), to_rgba("tab:green")
    drawn = [(b.get_x() + b.get_width() / 2, b.get_height(), b.get_facecolor()) for b in bars]
    assert sum(n for x, n, colour in drawn if colour == red) == 2  # the two fevers
    assert sum(n for x, n, colour in drawn if colour == green) == 5
    assert all((colour == red) == (x >= 38.0) for x, _, colour in drawn)
    assert "forehead-based estimate of body temperature: mean" in out


def test_the_report_picture_draws_the_threshold_the_gate_used_that_day(tmp_path, monkeypatch):
    out, figure = drawn_report(tmp_path, monkeypatch)
    temps = figure.axes[1]
    lines = {line.get_label(): line.get_xdata()[0] for line in temps.get_lines()}
    assert lines["fever threshold 38.00 °C (the gate's that day)"] == 38.0
    assert "threshold     38.00 °C (the gate's setting that day)" in out


def test_the_report_picture_says_how_many_records_have_no_clock_time(tmp_path, monkeypatch):
    out, figure = drawn_report(tmp_path, monkeypatch)
    texts = [t.get_text() for t in figure.axes[0].texts]
    # the later boot's three, and the first BOOT record, read before its TIME record
    assert texts == ["4 records without a clock time (not in any day)"]
    assert "4 records of this gate have no wall time" in out


# -- 8 and 14. refusals in words: a damaged frame, the wrong-PIN lock in sync too --


def test_a_damaged_command_frame_is_told_in_words_not_internal_names():
    from host_tools.device import Reply
    from host_tools.wire import protocol

    reply = Reply(protocol.CMD_SET_CONFIG, protocol.REPLY_BAD_FRAME, protocol.REASON_CRC, -1)
    with pytest.raises(FevergateError) as info:
        reply.check()
    assert info.value.exit_code == 10
    assert info.value.message == (
        "changing the setting not understood: the device received a damaged frame (CRC)"
    )


def test_sync_on_a_locked_gate_says_how_long_is_left(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash"):
        for _ in range(4):
            assert run("time-sync", pty.path, "--pin", "1")[0] == 7
        code, _, err = run("sync", pty.path, "--store", db, "--pin", "1")
        assert code == 7
        assert "wrong PIN, the 5th in a row: PIN commands are locked: try again in 1 min" in err
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert code == 7
    said = re.search(r"locked after 5 wrong PINs in a row: try again in (1 min|\d+ s)", err)
    assert said and "Traceback" not in err


def test_monitor_asks_the_gate_its_zone_and_shows_the_clock_in_it(tmp_path):
    import datetime

    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE):
        code, _, err = run("time-sync", pty.path, "--pin", PIN, "--utc-offset", "+05:30")
        assert code == 0, err
        code, out, err = run("monitor", pty.path, "--duration", "1.5")  # no --tz
    assert code == 0, err
    site = datetime.timezone(datetime.timedelta(hours=5, minutes=30))
    clocks = re.findall(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)  #", out, re.MULTILINE)
    assert clocks, out
    shown = datetime.datetime.strptime(clocks[-1], "%Y-%m-%d %H:%M:%S").replace(tzinfo=site)
    assert abs(shown.timestamp() - time.time()) < 120  # the laptop's clock, in the site's zone


# -- 6. the threshold the gate used, known where nobody changed it --


def test_sync_stores_the_threshold_in_force_and_the_report_uses_it(tmp_path):
    db = tmp_path / "gate.db"
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE) as sim:
        sim.wait_until(PEOPLE_DONE_MS)
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN, "--utc-offset", "0")
    assert code == 0, err
    with Store(str(db), readonly=True) as store:
        reads = [r for r in store.query(type_="config") if r["fields"]["key"] == 1]
    assert [r["fields"]["value"] for r in reads] == [3730]  # read, never changed
    code, out, err = run("report", "--store", db)
    assert code == 0, err
    assert "threshold     37.30 °C (the gate's setting that day)" in out


def test_a_threshold_read_at_a_later_sync_is_the_days_when_nothing_changed_before(tmp_path):
    db = a_late_store(tmp_path)  # a passage late on 2026-02-12 (UTC)
    next_day = LATE_UTC + 9 * 3600  # the next morning's sync reads the setting: 38.00 C
    read = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    read += encode_record("time", 10, 1_000_000, unix_s=next_day)
    read += encode_record("config", 11, 1_000_000, key=1, value=3800)
    read += encode_record("reply", 12, 1_000_000, command=2, status=0, reason=0, arg=7)
    ingest_bytes(db, read)
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC")
    assert code == 0
    assert (
        "threshold     38.00 °C (the gate's setting, read at its sync on 2026-02-13; no change "
        "recorded since the day)"
    ) in out
    changed = encode_record("config", 13, 1_000_100, key=1, value=3700)  # later: not that day's
    changed += encode_record("reply", 14, 1_000_100, command=3, status=0, reason=0, arg=8)
    ingest_bytes(db, read + changed)
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC")
    assert "threshold     38.00 °C (the gate's setting, read at its sync" in out


def test_a_threshold_changed_after_the_day_is_not_taken_for_it(tmp_path):
    db = a_late_store(tmp_path)
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 10, 1_000_000, unix_s=LATE_UTC + 9 * 3600)
    data += encode_record("config", 11, 1_000_000, key=1, value=3800)  # a change (the echo)
    data += encode_record("reply", 12, 1_000_000, command=3, status=0, reason=0, arg=7)
    ingest_bytes(db, data)
    code, out, _ = run("report", "--store", db, "--day", "2026-02-12", "--tz", "UTC")
    assert code == 0
    assert "threshold     37.30 °C (the default: no setting recorded in the store)" in out


def test_fever_bins_hold_fever_results_only_with_the_default_threshold(tmp_path):
    """37.30 C is no multiple of the 0.20 C bins: the bins are laid from the threshold."""
    from matplotlib.colors import to_rgba

    from host_tools import report

    db = str(tmp_path / "d.db")
    data = encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=3, device_id=0x2A
    )
    data += encode_record("time", 1, 100, unix_s=MORNING_UTC)
    for seq, (verdict, temp_cc) in enumerate([(0, 3650), (0, 3725), (1, 3735), (1, 3745)], 2):
        data += encode_record(
            "passage", seq, 100 * seq, verdict=verdict, direction=1, temp_cc=temp_cc,
            transit_cs=40,
        )  # fmt: skip
    ingest_bytes(db, data)
    with Store(db, readonly=True) as store:
        (day,) = report.day_report(store, datetime.date(2026, 2, 12), tz=datetime.timezone.utc)
    (bars,) = report.build_figure([day]).axes[1].containers
    red = to_rgba("tab:red")
    assert sum(b.get_height() for b in bars if b.get_facecolor() == red) == day.fevers == 2
    assert sum(b.get_height() for b in bars if b.get_facecolor() != red) == 2
    assert (3730, 2) in day.histogram()  # 37.30 .. 37.50 C: the two fevers
