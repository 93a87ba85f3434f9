"""`fevergate sync PORT --store FILE` over a pseudo-terminal, against the firmware running on
MicroPython with its flash journal: the CLI a technician types, end to end."""

import io
import os
import threading
import time

import pytest

from host_tools.cli import State, main
from host_tools.shim.pty_port import PtyPort
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.store import Store

PEOPLE = [(2000 + 3000 * i, 36.6 + 0.1 * (i % 5)) for i in range(6)]


class Terminal(io.StringIO):
    def isatty(self):
        return True


def sync_while_the_gate_runs(tmp_path, *argv, err=None):
    out, err = io.StringIO(), Terminal() if err is None else err
    db = str(tmp_path / "gate.db")
    with PtyPort() as pty:
        done = {}

        def gate():
            done["result"] = run_simulation(
                Scenario.scripted(PEOPLE, 90_000),
                runtime="micropython",
                pty=pty,
                realtime_factor=20.0,
                flash=str(tmp_path / "flash"),
            )

        thread = threading.Thread(target=gate)
        thread.start()
        try:
            time.sleep(1.5)  # about 30 s of the gate's time: everybody has walked through
            code = main(["sync", pty.path, "--store", db, *argv], State(out, err))
        finally:
            thread.join()
    return code, out.getvalue(), err.getvalue(), db


@pytest.fixture(scope="module")
def synced(tmp_path_factory):
    return sync_while_the_gate_runs(tmp_path_factory.mktemp("sync"), "--pin", "1234")


def test_sync_stores_every_passage_the_gate_journaled_and_says_so(synced):
    code, out, err, db = synced
    assert code == 0, err
    assert "records downloaded" in out
    with Store(db, readonly=True) as store:
        assert store.count("passage") == len(PEOPLE)


def test_sync_shows_its_progress_on_a_terminals_stderr(synced):
    code, _, err, _ = synced
    assert code == 0
    last = err.strip().split("\r")[-1]
    assert last.startswith("sync: [####################] 100% ")
    assert "records downloaded" in last


def test_sync_without_a_pin_is_a_usage_error_and_sends_nothing(tmp_path, monkeypatch):
    monkeypatch.delenv("FEVERGATE_PIN", raising=False)
    code = main(
        ["sync", "loop://", "--store", str(tmp_path / "x.db")], State(io.StringIO(), io.StringIO())
    )
    assert code == 2


def test_sync_with_a_wrong_pin_fails_with_the_gates_reason_as_exit_7(tmp_path):
    code, _, err, db = sync_while_the_gate_runs(tmp_path, "--pin", "4321", err=io.StringIO())
    assert code == 7  # as `config --set` with a wrong PIN
    assert "PIN" in err and err.count("\n") == 1
    assert err.endswith("; nothing stored\n")
    assert not os.path.exists(db)  # a failed first sync leaves no empty store behind
