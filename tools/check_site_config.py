"""Refuses a site config that would ship the factory PIN: `make deploy` runs it first.

Usage: python tools/check_site_config.py PATH. Exit 0 when PATH sets a PIN of its own (an
integer 0..protocol.PIN_MAX other than protocol.PIN_DEFAULT); otherwise one line on stderr and
exit 3 (a file that cannot be read or run: exit 4). Nothing is copied anywhere by this script.
"""

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXIT_NO_PIN = 3
EXIT_UNREADABLE = 4


def check(path):
    """None if the site config at `path` has a PIN of its own, else the reason (one line)."""
    sys.path.insert(0, str(ROOT))
    from host_tools.wire import protocol

    spec = importlib.util.spec_from_file_location("site_config", path)
    site = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(site)
    pin = getattr(site, "PIN", None)
    if pin is None:
        return f"PIN = None would keep the factory PIN {protocol.PIN_DEFAULT}"
    if not isinstance(pin, int) or isinstance(pin, bool) or not 0 <= pin <= protocol.PIN_MAX:
        return f"PIN = {pin!r} is not an integer 0..{protocol.PIN_MAX}"
    if pin == protocol.PIN_DEFAULT:
        return f"PIN = {pin} is the factory PIN"
    return None


def main(argv):
    path = argv[1] if len(argv) > 1 else "config/site_config.py"
    try:
        reason = check(path)
    except Exception as exc:  # noqa: BLE001  (one line for a person, never a traceback)
        print(f"make deploy: cannot read {path}: {exc}", file=sys.stderr)
        return EXIT_UNREADABLE
    if reason:
        print(
            f"make deploy: refused, {path} has no PIN of its own ({reason}): set PIN in it",
            file=sys.stderr,
        )
        return EXIT_NO_PIN
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
