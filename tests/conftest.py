"""Puts firmware/, boards/ and the dual-interpreter test helpers on sys.path for CPython."""

import sys
from pathlib import Path

from host_tools import compat

compat.install()
FIRMWARE_TESTS = Path(__file__).resolve().parent / "firmware"
if str(FIRMWARE_TESTS) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_TESTS))
