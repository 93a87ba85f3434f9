"""`fevergate`: the command table, help, exit codes, and the commands over a real pty."""

import io
import json
import os
import subprocess
import sys
import threading
import tty
from pathlib import Path

import pytest

from host_tools import cli
from host_tools.decoder import encode_record
from host_tools.serialport import open_port
from host_tools.store import Store
from host_tools.wire import protocol

ROOT = Path(__file__).resolve().parent.parent


def boot(boot_count=3):
    return encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=boot_count, device_id=42
    )


def passage(seq, t_cs, temp_cc=3650, verdict=protocol.VERDICT_NORMAL):
    return encode_record(
        "passage", seq, t_cs, verdict=verdict, direction=1, temp_cc=temp_cc, transit_cs=40
    )


STREAM = boot() + passage(1, 100) + passage(2, 200, 3900, protocol.VERDICT_FEVER)
CRC_DAMAGED = bytes.fromhex("0322010339300107e40e112837e800")  # PROTOCOL.md's example, CRC-1


def run(*argv):
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(list(argv), cli.State(out, err))
    return code, out.getvalue(), err.getvalue()


class Pty:
    """A pseudo-terminal: the CLI opens `path`; the test plays the gate on `master`."""

    def __init__(self):
        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        self.path = os.ttyname(self.slave)

    def send_later(self, data, delay=0.2):
        """Write after the CLI has opened the port (opening flushes the input buffer)."""
        timer = threading.Timer(delay, os.write, (self.master, data))
        timer.start()
        return timer

    def close(self):
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def pty():
    p = Pty()
    yield p
    p.close()


# -- help and the command table --


def test_help_lists_every_command_and_the_exit_codes(capsys):
    assert cli.main(["--help"]) == 0
    text = capsys.readouterr().out
    assert all(name in text for name in cli.COMMANDS)
    assert "130  interrupted" in text and "5    garbage stream" in text


@pytest.mark.parametrize("name", sorted(cli.COMMANDS))
def test_each_command_has_help(name, capsys):
    assert cli.main([name, "--help"]) == 0
    assert f"usage: fevergate {name}" in capsys.readouterr().out


def test_no_command_is_a_usage_error(capsys):
    assert cli.main([]) == 2


def test_python_dash_m_host_tools_runs_the_cli():
    proc = subprocess.run(
        [sys.executable, "-m", "host_tools", "decode", "-"],
        input=STREAM,
        capture_output=True,
        cwd=ROOT,
        timeout=30,
    )
    assert proc.returncode == 0, proc.stderr
    assert b"3 good frames, 0 bad frames, 0 records lost" in proc.stdout


def test_a_command_whose_module_is_missing_says_so(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "simulate", cli._lazy("host_tools.no_such", "simulate"))
    code, _, err = run("simulate")
    assert code == 2
    assert err == (
        "fevergate simulate: the simulate command is not available: "
        "host_tools.no_such is not installed\n"
    )


def test_ctrl_c_is_exit_130(monkeypatch):
    def interrupted(state, args):
        raise KeyboardInterrupt

    monkeypatch.setitem(cli.COMMANDS, "decode", (interrupted, cli.argparse_decode))
    code, _, err = run("decode", "x")
    assert code == 130 and "interrupted" in err


# -- decode --


def test_decode_prints_records_and_the_count_line(tmp_path):
    (tmp_path / "c.bin").write_bytes(STREAM)
    code, out, _ = run("decode", str(tmp_path / "c.bin"))
    assert code == 0
    assert "FEVER" in out and "BOOT" in out
    assert out.splitlines()[-1] == "3 good frames, 0 bad frames, 0 records lost"


def test_decode_counts_bad_frames_and_lost_records_and_exits_1(tmp_path):
    data = boot() + CRC_DAMAGED + passage(5, 500) + b"\x01\x02"
    (tmp_path / "c.bin").write_bytes(data)
    code, out, _ = run("decode", str(tmp_path / "c.bin"))
    assert code == 1
    assert out.splitlines()[-1] == "2 good frames, 2 bad frames, 4 records lost"


def test_decode_jsonl_includes_bad_frames_with_their_status(tmp_path):
    (tmp_path / "c.bin").write_bytes(boot() + CRC_DAMAGED)
    code, out, err = run("decode", str(tmp_path / "c.bin"), "--jsonl")
    objects = [json.loads(line) for line in out.splitlines()]
    assert [o["status"] for o in objects] == ["NEW_BOOT", "OK", "CRC_MISMATCH"]
    assert objects[2]["raw"] == CRC_DAMAGED[:-1].hex()
    assert code == 1 and err == "1 good frame, 1 bad frame, 0 records lost\n"


def test_decode_unreadable_file_is_exit_6(tmp_path):
    code, _, err = run("decode", str(tmp_path / "missing.bin"))
    assert code == 6
    assert err.startswith("fevergate decode: ") and "cannot read" in err
    assert "Traceback" not in err


# -- ports --


def test_missing_port_is_exit_3_with_a_clear_message(tmp_path):
    code, _, err = run("monitor", str(tmp_path / "ttyUSB9"), "--duration", "1")
    assert code == 3
    assert "no such port" in err and err.count("\n") == 1


def test_port_in_use_is_exit_4(pty):
    holder = open_port(pty.path, 115200)
    try:
        code, _, err = run("monitor", pty.path, "--duration", "1")
    finally:
        holder.close()
    assert code == 4 and "in use" in err


def test_bad_url_is_a_usage_error():
    code, _, err = run("monitor", "nosuch://gate", "--duration", "1")
    assert code == 2 and "nosuch://gate" in err


def test_monitor_jsonl_over_a_pty_shows_the_records(pty):
    pty.send_later(STREAM)
    code, out, _ = run("monitor", pty.path, "--jsonl", "--duration", "0.6")
    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert [r["type"] for r in records if r["status"] == "OK"] == ["boot", "passage", "passage"]


def test_monitor_on_garbage_is_exit_5(pty):
    pty.send_later(bytes(range(1, 200)) * 4 + b"\x00")
    code, _, err = run("monitor", pty.path, "--duration", "3")
    assert code == 5
    assert "no valid frames: wrong baud rate or not a fevergate port?" in err


def test_log_stores_and_a_second_run_stores_nothing_twice(pty, tmp_path):
    db = str(tmp_path / "gate.db")
    pty.send_later(STREAM)
    code, out, _ = run("log", pty.path, "--db", db, "--duration", "0.6")
    assert code == 0 and out.splitlines()[-1].startswith("3 records stored")
    pty.send_later(STREAM)
    code, out, _ = run("log", pty.path, "--db", db, "--duration", "0.6")
    assert code == 0 and out.splitlines()[-1].startswith("0 records stored")
    with Store(db) as store:
        assert store.count() == 3


def test_log_needs_a_db():
    code, _, _ = run("log", "loop://")
    assert code == 2


def test_log_into_an_unusable_db_is_exit_6(tmp_path):
    code, _, err = run("log", "loop://", "--db", str(tmp_path), "--duration", "0.1")
    assert code == 6 and "cannot use as a database" in err
