"""Lets CPython import the firmware: firmware/ and boards/ on sys.path, and a `micropython`
module where none is installed, completed with no-op heap_lock/heap_unlock where one is."""

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
        import micropython  # Adafruit Blinka ships one with const only
    except ImportError:
        sys.modules["micropython"] = _stand_in_micropython()
        return
    for name, value in vars(_stand_in_micropython()).items():
        if not name.startswith("__") and not hasattr(micropython, name):
            setattr(micropython, name, value)
