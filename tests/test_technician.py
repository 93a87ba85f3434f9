"""The technician's day (issue 13): the real CLI against a live simulated gate on a pty with
the cable pulled, a wire that damages records, a full disk and typos. Each failure is one line
on stderr and a documented exit code, and nothing is destroyed."""

import io
import time

import pytest

from host_tools.cli import State, main
from host_tools.shim.cable import CablePty, running_gate
from host_tools.store import Store

PIN = "1234"
PEOPLE = [(1500 + 2500 * i, 36.6 + 0.1 * (i % 4)) for i in range(6)]


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
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE, 30_000):
        time.sleep(0.9)  # everybody has walked through
        code, _, err = run("sync", pty.path, "--store", db, "--pin", PIN)
    assert pty.pulled and code == 3
    line = one_line(err)
    assert "the port went away" in line and "run sync again to resume" in line
    with Store(str(db), readonly=True) as store:
        replayed = store.count()
        assert replayed >= 8  # what came before the cable went is stored
        assert f"{replayed} new records stored in {db}" in line


@pytest.mark.parametrize("command", ["log", "monitor"])
def test_log_and_monitor_on_a_pulled_cable_are_exit_3_and_one_line(tmp_path, command):
    pty = CablePty()
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE, 30_000):
        pty.pull_later(0.5)
        code, _, err = run(command, pty.path, "--db", tmp_path / "g.db", "--duration", "5")
    assert code == 3
    assert "the port went away" in one_line(err)


# -- 3. sync acknowledges only what it stored --


def test_sync_does_not_acknowledge_records_damaged_every_time_and_a_later_sync_gets_them(
    tmp_path,
):
    first, fresh = tmp_path / "gate.db", tmp_path / "other.db"
    pty = CablePty(damage_replays={4})
    with pty, running_gate(pty, tmp_path / "flash", PEOPLE, 40_000):
        time.sleep(0.9)  # everybody has walked through
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
