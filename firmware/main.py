"""Boot entry point on a board: emergency exception buffer, the board, storage, the gate loop.

On a board the deployed board file is `gate_board.py` (make deploy copies it there). The
simulator calls run(board) with its own board. The pump is off before anything else can fail,
and the watchdog is armed before anything can hang (a journal scan, a sensor on a hung bus);
then the flash state is opened (storage.py: boot count, how the last session ended, settings,
the record journal) when the board has a filesystem (`board.FS_ROOT`), and the gate runs.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # the unix port has none
    micropython.alloc_emergency_exception_buf(100)


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
    from gate import WATCHDOG_MS, Gate

    wdt = board.watchdog(WATCHDOG_MS)
    storage = open_storage(board, None if wdt is None else wdt.feed)
    Gate(board, config, boot_count, storage=storage, watchdog=wdt).run()


if __name__ == "__main__":
    run()
