"""Boot entry point on a board: emergency exception buffer, the board, then the gate loop.

On a board the deployed board file is `gate_board.py` (make deploy copies it there). The
simulator calls run(board) with its own board. The pump is off before anything else can fail.
"""

import micropython

if hasattr(micropython, "alloc_emergency_exception_buf"):  # the unix port has none
    micropython.alloc_emergency_exception_buf(100)


def run(board=None, config=None, boot_count=0):
    if board is None:
        import gate_board

        board = gate_board.make_board()
    board.pump.off()
    from gate import Gate

    Gate(board, config, boot_count).run()


if __name__ == "__main__":
    run()
