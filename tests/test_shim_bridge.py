"""The MicroPython bridge: boards/sim_gate.py on the unix port, served by the CPython shim.

These tests run a small stand-in firmware (a main.py written here) on the real `micropython`
so that the bridge's promises are checked apart from the gate firmware: edges at their
instants, I2C answered by the shim's device, outputs and UART bytes with their times.
"""

import errno

import pytest

from host_tools.compat import BOARDS_DIR
from host_tools.shim.bridge import BridgeError, MicroPythonRuntime
from host_tools.shim.clock import TICKS_PERIOD
from host_tools.shim.scenario import Scenario
from host_tools.shim.world import World

ECHO_FIRMWARE = """
def run(board):
    buf = bytearray(3)
    rx = bytearray(16)
    edges = []
    def isr(pin):
        edges.append((board.ticks_ms(), pin.value()))
    board.beam_a.irq(isr, board.IRQ_BOTH)
    board.beam_b.irq(isr, board.IRQ_BOTH)
    wdt = board.watchdog(5000)
    try:
        while True:
            while edges:
                t, level = edges.pop(0)
                try:
                    board.i2c.readfrom_mem_into(0x5A, 0x07, buf)
                    word = buf[0] | buf[1] << 8
                except OSError as exc:
                    word = -exc.args[0]
                board.uart.write(b"%d %d %d\\n" % (t, level, word))
                board.pump.value(1 - level)
            n = board.uart.readinto(rx)
            if n:
                board.uart.write(b"rx " + rx[:n] + b"\\n")
            if board.tank_ok.value() != board.TANK_OK:
                board.uart.write(b"tank empty %d\\n" % board.ticks_ms())
                board.sleep_ms(10_000)
            wdt.feed()
            board.sleep_ms(10)
    finally:
        board.pump.off()
        board.uart.write(b"bye\\n")
"""


class Device:
    def __init__(self, fail_after=None):
        self.reads = []
        self.fail_after = fail_after
        self.ambient_c = 22.0

    def set_target(self, now_ms, object_c):
        pass

    def read_word(self, now_ms, command):
        self.reads.append(now_ms)
        if self.fail_after is not None and len(self.reads) > self.fail_after:
            raise OSError(errno.EIO, "nack")
        return bytes((0x34, 0x12, 0x00))


def run(tmp_path, scenario, firmware=ECHO_FIRMWARE, device=None, rx=b"", **world_args):
    (tmp_path / "main.py").write_text(firmware)
    world = World(scenario, sensor=device or Device(), **world_args)
    world.uart.inject_rx(rx)
    bridge = MicroPythonRuntime(world, path=[str(tmp_path), str(BOARDS_DIR)])
    bridge.run()
    lines = bytes(world.uart.wire).decode("latin-1").splitlines()
    return world, bridge, lines


def walkers():
    return Scenario.scripted([(1000, 36.6), (4000, 36.6)], 8000)


def test_board_side_is_the_micropython_unix_port(tmp_path):
    _, bridge, _ = run(tmp_path, walkers())
    assert bridge.hello.startswith("micropython 1.")
    assert bridge.returncode == 0


def test_irqs_fire_at_each_edge_instant_in_board_ticks(tmp_path):
    start = TICKS_PERIOD - 2000
    world, _, lines = run(tmp_path, walkers(), start_ticks=start)
    edges = [(int(t), int(level)) for t, level, _ in (line.split() for line in lines[:8])]
    expected = [(world.clock.ticks_at(t), level) for t, _, level in world.timeline if _ < 2]
    assert edges == expected
    assert edges[0][0] > edges[-1][0]  # the ticks wrapped on the way


def test_i2c_reads_are_answered_by_the_shim_device_at_the_board_time(tmp_path):
    device = Device()
    _, bridge, lines = run(tmp_path, walkers(), device=device)
    assert [line.split()[2] for line in lines[:8]] == ["4660"] * 8
    # the stand-in reads in its loop, at the first 10 ms tick after each edge
    assert device.reads == [1000, 1200, 1720, 1920, 4000, 4200, 4720, 4920]
    assert bridge.i2c_requests == 8


def test_i2c_failure_reaches_the_firmware_as_oserror_with_errno(tmp_path):
    _, _, lines = run(tmp_path, walkers(), device=Device(fail_after=2))
    assert lines[2].split()[2] == str(-errno.EIO)


def test_output_switches_arrive_with_their_virtual_times(tmp_path):
    world, _, _ = run(tmp_path, walkers())
    assert world.pump.log[:4] == [(1000, 1), (1200, 0), (1720, 1), (1920, 0)]


def test_firmware_finally_runs_at_the_end_and_its_bytes_arrive(tmp_path):
    world, bridge, lines = run(tmp_path, walkers())
    assert lines[-1] == "bye"
    assert world.clock.elapsed == 8000
    assert bridge.watchdog_longest_gap_ms <= 20


def test_uart_rx_bytes_reach_the_firmware(tmp_path):
    _, _, lines = run(tmp_path, Scenario.scripted([], 1000), rx=b"status?")
    assert "rx status?" in lines


def test_tank_level_reaches_the_board_pin(tmp_path):
    world, _, lines = run(tmp_path, Scenario.scripted([], 100_000), faults=_faults("tank-empty"))
    assert lines[0] == f"tank empty {world.clock.ticks_at(50_000)}"


def test_a_burst_larger_than_the_tx_buffer_arrives_whole(tmp_path):
    firmware = (
        "def run(board):\n"
        "    board.uart.write(bytes(range(256)) * 40)\n"
        "    while True:\n"
        "        board.sleep_ms(10)\n"
    )
    world, _, _ = run(tmp_path, Scenario.scripted([], 500), firmware=firmware)
    assert bytes(world.uart.wire) == bytes(range(256)) * 40


HEAP_LOCKED_FIRMWARE = """
import micropython

def run(board):
    out = bytearray(b"0123456789")
    word = bytearray(3)
    wdt = board.watchdog(5000)
    edges = [0]

    def isr(pin):
        edges[0] += 1

    board.beam_a.irq(isr, board.IRQ_BOTH)
    board.sleep_ms(10)
    micropython.heap_lock()
    try:
        for i in range(1000):
            board.sleep_ms(10)
            board.ticks_ms()
            board.beam_a.value()
            board.i2c.readfrom_mem_into(0x5A, 0x07, word)
            board.pump.value(i & 1)
            board.uart.write(out)
            wdt.feed()
    finally:
        micropython.heap_unlock()
    board.uart.write(b"edges %d" % edges[0])
    while True:
        board.sleep_ms(10)
"""


def test_the_board_allocates_nothing_per_tick_nor_per_slice_exchange(tmp_path):
    scenario = Scenario.scripted([(1000, 36.6), (4000, 36.6)], 15_000)
    world, bridge, lines = run(tmp_path, scenario, firmware=HEAP_LOCKED_FIRMWARE)
    assert lines[-1].endswith("edges 4")  # every beam A edge of the run fired under heap_lock
    assert bridge.slices >= 100 and bridge.i2c_requests == 1000


def test_same_inputs_give_the_same_bytes(tmp_path):
    scenario = Scenario.poisson(seed=4, minutes=1, rate=30)
    first = run(tmp_path, scenario)[0].uart.wire
    second = run(tmp_path, scenario)[0].uart.wire
    assert first == second and len(first) > 100


def test_a_firmware_crash_is_reported_with_its_traceback(tmp_path):
    firmware = "def run(board):\n    raise ValueError('boom')\n"
    with pytest.raises(BridgeError, match="boom"):
        run(tmp_path, walkers(), firmware=firmware)


def _faults(text):
    from host_tools.shim.faults import parse_faults

    return parse_faults(text)
