"""The firmware's UART as a pseudo-terminal that pyserial opens like /dev/ttyUSB0."""

import threading

import serial

from host_tools.compat import BOARDS_DIR
from host_tools.device import DeviceLink
from host_tools.shim.pty_port import PtyPort
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario

# A stand-in firmware for the MicroPython runtime: greets, then echoes what it receives.
ECHO_FIRMWARE = """
def run(board):
    buf = bytearray(32)
    board.uart.write(b"hello from the gate\\n")
    while True:
        n = board.uart.readinto(buf)
        if n:
            board.uart.write(b"echo " + buf[:n] + b"\\n")
        board.sleep_ms(10)
"""


class Sensor:
    ambient_c = 22.0

    def set_target(self, now_ms, object_c):
        pass

    def read_word(self, now_ms, command):
        return b"\x00\x00\x00"


def test_pty_bytes_written_arrive_at_a_pyserial_client_of_the_slave_path():
    with PtyPort() as pty:
        client = serial.serial_for_url(pty.path, baudrate=115200, timeout=1)
        pty.write(b"\x00\x01\x02frame\x00")
        assert client.read(9) == b"\x00\x01\x02frame\x00"
        client.close()


def test_pty_bytes_from_the_client_are_read_back():
    with PtyPort() as pty:
        client = serial.serial_for_url(pty.path, timeout=1)
        client.write(b"status?\n")
        client.flush()
        got = b""
        for _ in range(100):
            got += pty.read_available()
            if got.endswith(b"\n"):
                break
            threading.Event().wait(0.01)
        assert got == b"status?\n"
        client.close()


def test_pty_drops_bytes_nobody_reads_instead_of_blocking():
    with PtyPort() as pty:
        for _ in range(100):
            pty.write(bytes(1024))
        assert pty.lost > 0
        assert pty.written + pty.lost == 100 * 1024


def test_a_running_micropython_gate_talks_both_ways_over_the_pty(tmp_path):
    (tmp_path / "main.py").write_text(ECHO_FIRMWARE)
    with PtyPort() as pty:
        client = serial.serial_for_url(pty.path, timeout=2)
        client.write(b"ping")
        client.flush()
        run_simulation(
            Scenario.scripted([], 2000),
            runtime="micropython",
            sensor=Sensor(),
            pty=pty,
            realtime_factor=20.0,
            micropython_path=[str(tmp_path), str(BOARDS_DIR)],
        )
        assert client.readline() == b"hello from the gate\n"
        assert client.readline() == b"echo ping\n"
        client.close()


def test_a_status_query_over_the_pty_is_answered_by_the_firmware_on_micropython():
    with PtyPort() as pty:
        done = {}

        def simulate():
            done["result"] = run_simulation(
                Scenario.scripted([(1000, 36.6)], 15_000),
                runtime="micropython",
                pty=pty,
                realtime_factor=10.0,
            )

        thread = threading.Thread(target=simulate)
        thread.start()
        try:
            with DeviceLink(pty.path, timeout=5.0) as link:
                status = link.status().of_type("status")
                self_test = link.self_test()
        finally:
            thread.join()
    assert done["result"].interpreter.startswith("micropython")
    assert status and status[-1].fields["people_in"] <= 1
    assert 100_000 < status[-1].fields["mem_free"] <= 2 * 1024 * 1024  # the unix port's heap
    assert self_test.ok  # the sensor's identity and ambient came from the shim's model
