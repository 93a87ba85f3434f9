"""The record stream at every allowed tick_ms: the UART budget moves every frame, never more
than the baud rate carries (issue 12, defect 2), on both interpreters."""

import protocol as p
from config import Config, setting
from fakes_board import FakeBoard
from fakes_service import DuplexUART, command_frame
from gate import Gate
from support import payloads

_BYTES_PER_S = 115200 // 10  # 8N1: ten bits a byte


def run_gate(tick_ms, ms):
    config = Config()
    config.set("tick_ms", tick_ms)
    board = FakeBoard()
    board.uart = DuplexUART()
    gate = Gate(board, config)
    board.uart.feed(command_frame(p.CMD_STATUS, tag=77))
    for _ in range(ms // tick_ms):
        board.now += tick_ms
        gate.step(board.now)
    return board, gate


def kinds(board):
    return [frame[0] & p.TYPE_MASK for frame in payloads(board.uart.data[: board.uart.written])]


def test_every_tick_ms_streams_the_boot_and_answers_a_command():
    low = setting("tick_ms")[2]
    for tick_ms in (low, 2, 3, 7, 10, 100):
        board, gate = run_gate(tick_ms, 2000)
        sent = kinds(board)
        assert sent and sent[0] == p.BOOT, (tick_ms, sent)
        assert p.STATUS in sent and p.REPLY in sent, (tick_ms, sent)
        assert gate.writer.frames() == 0, (tick_ms, gate.writer.frames())


def test_the_stream_never_outruns_the_uart():
    for tick_ms in (1, 3, 10):
        board, gate = run_gate(tick_ms, 2000)
        assert board.uart.written <= 2 * _BYTES_PER_S + p.MAX_REPLAY_FRAME, tick_ms
