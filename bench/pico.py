"""The `pico_*` figures of `make bench`: the gate's tick on an emulated Raspberry Pi Pico.

tools/pico runs the real MicroPython 1.29 rp2 image on rp2040js at 125 MHz with I2C timing
(10 us a bit, 100 kHz) and flash timing (45 ms a 4 KiB erase, 0.4 ms a 256-byte page) on.
The firmware goes on with the project's own `make deploy`; then, in the same bench:
- `pico_boot_ms`: power on to the gate's first tick (main.py; the first tick drains the BOOT
  record, so the time of the first UART0 byte after the reset);
- the Gate as main.run() builds it (storage on flash, site config, watchdog) and the hobby
  float gate (bench/float_gate.py, compiled) each run TICKS ticks of Gate.run()'s loop on a
  fresh power-on, with the same walkers on the beam pins and the MLX90614 and, for the Gate,
  STATUS and GET_CONFIG commands arriving on UART0 every 700 ms (tools/pico/pico_ticks.py);
  each tick timed with ticks_us (median, p99, max), the Gate's each under heap_lock
  (`pico_tick_alloc_bytes` is 0 when no tick had an allocation refused), the heap growth of
  the rest of the loop counted every 100 ticks (gc.mem_alloc; the flash work's own shown
  apart), the longest gap between two tick starts (the loop's own measuring taken out).
"""

import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools" / "pico"))

import pico_rig  # noqa: E402
import pico_ticks  # noqa: E402

TICKS = 3000
BENCH_PIN = 424242  # the bench's site PIN: make deploy refuses a site config without its own


def site_config(folder):
    """The shipped site config with the bench's own PIN, written in `folder`."""
    text = (ROOT / "config" / "site_config.py").read_text()
    if "\nPIN = None\n" not in text:
        raise RuntimeError("config/site_config.py has no 'PIN = None' line to give a PIN")
    path = Path(folder) / "site_config.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.replace("\nPIN = None\n", f"\nPIN = {BENCH_PIN}\n"))
    return path


def deploy(folder):
    """A fresh emulated board, `make deploy` onto it; returns its flash file."""
    config = site_config(folder)
    with pico_rig.PicoEmulator(folder) as emu:
        emu.wait_ms(1000)  # MicroPython formats its filesystem on the first boot
        result = subprocess.run(
            [
                "make",
                "--no-print-directory",
                "deploy",
                f"PORT={emu.tty}",
                "BOARD=rp2_pico",
                f"SITE_CONFIG={config}",
            ],
            cwd=str(ROOT),
            capture_output=True,
            text=True,
            timeout=600,
        )
        if result.returncode != 0:
            raise RuntimeError(
                "make deploy failed: " + result.stdout[-500:] + result.stderr[-500:]
            )
    return emu.flash


def boot_ms(flash, folder):
    """Power on a board whose main.py runs the gate: ms to its first UART0 byte."""
    emu = pico_rig.PicoEmulator(folder, i2c_timing=True, flash_timing=True)
    emu.flash.parent.mkdir(parents=True, exist_ok=True)
    emu.flash.write_bytes(Path(flash).read_bytes())
    with emu:
        emu.wait_ms(3000)
        first = emu.stats()["first_uart0_tx_chip_ms"]
    if first is None:
        raise RuntimeError("the gate sent nothing on UART0 within 3 s of power-on")
    return first


def run_gate(kind, flash, folder, ticks):
    emu = pico_rig.PicoEmulator(folder, i2c_timing=True, flash_timing=True)
    emu.flash.parent.mkdir(parents=True, exist_ok=True)
    emu.flash.write_bytes(Path(flash).read_bytes())
    with emu:
        emu.wait_ms(300)
        # the Gate's ticks each under heap_lock (an allocation would be refused and counted),
        # and timed; the hobby gate allocates by design: timed only
        results, walkers, commands = pico_ticks.run_ticks(
            emu, kind, ticks=ticks, lock=kind == "gate", timed=True
        )
    return results, walkers, commands


def measure(ticks=TICKS):
    """{'gate': results, 'float': results, 'boot_ms': ms, ...} from one deploy."""
    with tempfile.TemporaryDirectory(prefix="fevergate-pico-bench-") as tmp:
        tmp = Path(tmp)
        deployed = deploy(tmp / "deploy")
        out = {"boot_ms": boot_ms(deployed, tmp / "boot")}
        measuring = pico_ticks.prepare_flash(deployed, tmp / "measuring.bin")
        for kind in ("gate", "float"):
            out[kind], out[kind + "_walkers"], out[kind + "_commands"] = run_gate(
                kind, measuring, tmp / kind, ticks
            )
    return out
