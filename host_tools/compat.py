"""Lets CPython import the firmware: firmware/ and boards/ on sys.path, and a `micropython`
module (only `const` is needed by core firmware modules) where none is installed."""

import sys
import types
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIRMWARE_DIR = ROOT / "firmware"
BOARDS_DIR = ROOT / "boards"


def _stand_in_micropython():
    module = types.ModuleType("micropython")
    module.const = lambda value: value
    module.heap_lock = lambda: 0
    module.heap_unlock = lambda: 0
    module.alloc_emergency_exception_buf = lambda size: None
    module.schedule = lambda fn, arg: fn(arg)
    return module


def install():
    for folder in (FIRMWARE_DIR, BOARDS_DIR):
        if str(folder) not in sys.path:
            sys.path.append(str(folder))
    try:
        import micropython  # noqa: F401  (Adafruit Blinka ships one with const)
    except ImportError:
        sys.modules["micropython"] = _stand_in_micropython()
