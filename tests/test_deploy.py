"""`make deploy`: refuses unknown boards and a site config without a PIN of its own (before
copying anything), copies firmware, board file and the site config; the shipped site config is
valid for the firmware. A stub copier (DEPLOY=) records what would be copied."""

import importlib.util
import stat
import subprocess
from pathlib import Path

import pytest

from host_tools import compat

ROOT = Path(__file__).resolve().parents[1]


def make(*args):
    return subprocess.run(
        ["make", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True
    )


def test_deploy_refuses_a_board_it_does_not_know():
    result = make("deploy", "PORT=/dev/null", "BOARD=arduino_uno")
    assert result.returncode != 0
    assert "unknown BOARD 'arduino_uno'" in result.stdout + result.stderr
    assert "rp2_pico" in result.stdout + result.stderr


def test_deploy_copies_firmware_board_file_and_site_config():
    plan = make("-n", "deploy", "PORT=/dev/ttyACM0", "BOARD=rp2_pico").stdout
    assert "rp2_pico.mpy=lib/gate_board.mpy" in plan
    assert "gate.mpy=lib/" in plan and "main.py=main.py" in plan
    assert "config/site_config.py=site_config.py" in plan


def test_the_shipped_site_config_is_accepted_by_the_firmware():
    compat.install()
    from config import Config
    from main import apply_site_config

    spec = importlib.util.spec_from_file_location("site_config", ROOT / "config/site_config.py")
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    config = apply_site_config(Config(), site)
    assert config.site_rejected == 0
    assert config.fever_threshold_cc == site.SETTINGS["fever_threshold_cc"]


def stub_mpremote(tmp_path):
    """An executable that stands in for the copier (host_tools.deploy) and writes its
    arguments to calls.txt."""
    calls = tmp_path / "calls.txt"
    stub = tmp_path / "mpremote"
    stub.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    stub.chmod(stub.stat().st_mode | stat.S_IEXEC)
    return stub, calls


def site_config(tmp_path, pin_line):
    text = (ROOT / "config/site_config.py").read_text().replace("\nPIN = None\n", "\n")
    path = tmp_path / "site_config.py"
    path.write_text(text + pin_line + "\n")
    return path


@pytest.mark.parametrize(
    "pin_line", ["PIN = None", "", "PIN = 1234", "PIN = 'abc'", "PIN = 10**10"]
)
def test_deploy_refuses_a_site_config_without_a_pin_of_its_own_before_copying(tmp_path, pin_line):
    stub, calls = stub_mpremote(tmp_path)
    config = site_config(tmp_path, pin_line)
    result = make(
        "deploy", "PORT=/dev/null", "BOARD=rp2_pico", f"SITE_CONFIG={config}", f"DEPLOY={stub}"
    )
    assert result.returncode == 2  # make's error status; the checker said why in one line
    lines = result.stderr.strip().splitlines()
    assert any("has no PIN of its own" in line for line in lines), result.stderr
    assert "Traceback" not in result.stderr
    assert not calls.exists()  # nothing copied, not even the firmware


def test_the_shipped_site_config_is_refused_until_the_site_sets_its_pin(tmp_path):
    stub, calls = stub_mpremote(tmp_path)
    result = make("deploy", "PORT=/dev/null", "BOARD=rp2_pico", f"DEPLOY={stub}")
    assert result.returncode == 2
    assert "config/site_config.py has no PIN of its own" in result.stderr
    assert not calls.exists()


def test_deploy_with_a_pin_of_its_own_copies_that_site_config(tmp_path):
    stub, calls = stub_mpremote(tmp_path)
    config = site_config(tmp_path, "PIN = 246810")
    result = make(
        "deploy", "PORT=/dev/null", "BOARD=rp2_pico", f"SITE_CONFIG={config}", f"DEPLOY={stub}"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    copied = calls.read_text()
    assert f"{config}=site_config.py" in copied
    assert "rp2_pico.mpy=lib/gate_board.mpy" in copied
