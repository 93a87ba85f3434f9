"""Helpers of the Pico tier's tests (tests/pico): the project's own make deploy and CLI."""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


SITE_PIN = 246810  # the tier's site PIN: make deploy refuses a site config without its own


def site_config_with_pin(text=None, pin=SITE_PIN):
    """A site config (default: the shipped one) with PIN = `pin`, in a temporary file."""
    text = (ROOT / "config" / "site_config.py").read_text() if text is None else text
    assert "\nPIN = None\n" in text
    path = Path(tempfile.mkdtemp(prefix="fevergate-site-")) / "site_config.py"
    path.write_text(text.replace("\nPIN = None\n", f"\nPIN = {pin}\n"))
    return path


def make_deploy(port, *variables, board="rp2_pico", timeout_s=300):
    """The project's own `make deploy PORT=... BOARD=...` (mpremote), as a technician runs it;
    without a SITE_CONFIG= among `variables`, the shipped one with the tier's SITE_PIN."""
    if not any(v.startswith("SITE_CONFIG=") for v in variables):
        variables = (*variables, f"SITE_CONFIG={site_config_with_pin()}")
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
