"""Helpers of the Pico tier's tests (tests/pico): the project's own make deploy and CLI."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def make_deploy(port, *variables, board="rp2_pico", timeout_s=300):
    """The project's own `make deploy PORT=... BOARD=...` (mpremote), as a technician runs it."""
    return subprocess.run(
        ["make", "--no-print-directory", "deploy", f"PORT={port}", f"BOARD={board}", *variables],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def deploy_or_fail(port, **kw):
    result = make_deploy(port, **kw)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result


def fevergate(*args, timeout_s=120):
    """The technician's CLI (`fevergate ...`) as a process; returns the CompletedProcess."""
    return subprocess.run(
        [sys.executable, "-m", "host_tools", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )
