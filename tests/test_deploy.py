"""`make deploy`: refuses unknown boards, copies firmware, board file and the site config; the
shipped site config is valid for the firmware."""

import importlib.util
import subprocess
from pathlib import Path

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
