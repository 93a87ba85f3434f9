"""A person walking through a fake gate, tick by tick, for the gate tests on both interpreters."""

from fakes_board import raw_from_cc

TICK = 10
WRAP = 1 << 30


def advance(board, gate, ms):
    for _ in range(ms // TICK):
        board.now = (board.now + TICK) % WRAP
        gate.step(board.now)


def walk_in(board, gate, skin_cc=3620, channel_ms=1000, blocked_ms=200, after_ms=0):
    """A person walks A -> B: A blocked, then inside, then B blocked and cleared; then the gate
    runs `after_ms` more."""
    board.i2c.object_raw = raw_from_cc(skin_cc)
    board.beam_a.drive(0)
    advance(board, gate, blocked_ms)
    board.beam_a.drive(1)
    advance(board, gate, channel_ms - 2 * blocked_ms)
    board.beam_b.drive(0)
    advance(board, gate, blocked_ms)
    board.beam_b.drive(1)
    board.i2c.object_raw = raw_from_cc(2200)
    advance(board, gate, after_ms)
