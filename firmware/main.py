"""Boot entry point on a board: emergency exception buffer, the board, storage, the gate loop.

On a board the deployed board file is `gate_board.py` (make deploy copies it there). The
simulator calls run(board) with its own board. The pump is off before anything else can fail;
then the flash state is opened (storage.py: boot count, how the last session ended, settings,
the record journal) when the board has a filesystem (`board.FS_ROOT`), and the gate runs.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # the unix port has none
    micropython.alloc_emergency_exception_buf(100)


def open_storage(board):
    """The board's Storage, or None when it has no filesystem for one."""
    root = getattr(board, "FS_ROOT", None)
    if not root:
        return None
    from storage import Storage

    return Storage.open(root, board.fs_bytes())


def run(board=None, config=None, boot_count=0):
    if board is None:
        import gate_board

        board = gate_board.make_board()
    board.pump.off()
    from gate import Gate

    storage = open_storage(board)
    Gate(board, config, boot_count, storage=storage).run()


if __name__ == "__main__":
    run()
