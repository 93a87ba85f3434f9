"""Boot entry point on a board: emergency exception buffer, the board, storage, the gate loop.

On a board the deployed board file is `gate_board.py` (make deploy copies it there). The
simulator calls run(board) with its own board. The pump is off before anything else can fail,
and the watchdog is armed before anything can hang (a journal scan, a sensor on a hung bus);
then the site's defaults (site_config.py, if deployed) are applied, the flash state is opened
(storage.py: boot count, how the last session ended, persisted settings over the site's, the
record journal) when the board has a filesystem (`board.FS_ROOT`), and the gate runs. A Ctrl-C
on the REPL (make deploy stopping a running gate) ends the session cleanly before the REPL.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # the unix port has none
    micropython.alloc_emergency_exception_buf(100)


def apply_site_config(config, site=None):
    """The site's defaults (site_config.py, copied by make deploy) applied to `config`."""
    if site is None:
        try:
            site = __import__("site_config")  # deployed beside main.py, not part of firmware/
        except ImportError:
            return config
    settings = getattr(site, "SETTINGS", {})
    for name in settings:
        try:
            config.set(name, settings[name])
        except ValueError:
            config.site_rejected += 1
    from protocol import PIN_MAX

    pin = getattr(site, "PIN", None)
    if pin is not None and 0 <= pin <= PIN_MAX:
        config.pin_default = pin
    return config


def open_storage(board, feed=None):
    """The board's Storage, or None when it has no filesystem for one."""
    root = getattr(board, "FS_ROOT", None)
    if not root:
        return None
    from storage import Storage

    return Storage.open(root, board.fs_bytes(), feed=feed)


def run(board=None, config=None, boot_count=0):
    if board is None:
        import gate_board

        board = gate_board.make_board()
    board.pump.off()
    from config import Config
    from gate import WATCHDOG_MS, Gate

    if config is None:
        config = apply_site_config(Config())
    wdt = board.watchdog(WATCHDOG_MS)
    storage = open_storage(board, None if wdt is None else wdt.feed)
    gate = Gate(board, config, boot_count, storage=storage, watchdog=wdt)
    try:
        gate.run()
    except KeyboardInterrupt:
        # Ctrl-C on the REPL (make deploy's mpremote, a technician): end the session cleanly,
        # counters committed and journal closed, so the next boot is no power cut
        gate.shutdown()
        raise


if __name__ == "__main__":
    run()
