"""The Pico tier: the firmware deployed with `make deploy` onto an emulated Raspberry Pi Pico
(tools/pico: rp2040js running the real MicroPython rp2 images), driven through its pins and its
MLX90614 target, its UART0 decoded on the host.

Skipped, with one line saying how to provide them, when the images (FEVERGATE_PICO_DIR, default
../shared/pico) or node and rp2040js (`make pico-rig`) are missing. One fresh board is flashed
and deployed once per session (`deployed_flash`); each test starts its own emulator on a copy of
that flash file (`pico`) and the fixture always stops it, pass or fail.
"""

import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
for folder in (ROOT / "tools" / "pico", ROOT / "tests" / "pico"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

import pico_rig  # noqa: E402
from pico_tier import deploy_or_fail  # noqa: E402

UNAVAILABLE = pico_rig.unavailable()
HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    if UNAVAILABLE is None:
        return
    skip = pytest.mark.skip(reason=UNAVAILABLE)
    for item in items:
        if HERE in Path(str(item.fspath)).resolve().parents:
            item.add_marker(skip)


def pytest_terminal_summary(terminalreporter):
    if UNAVAILABLE is not None:
        terminalreporter.write_line(UNAVAILABLE)


@pytest.fixture(scope="session")
def deployed_flash(tmp_path_factory):
    """A 1.29 board's flash after `make deploy` onto a fresh board (made once a session)."""
    if UNAVAILABLE is not None:
        pytest.skip(UNAVAILABLE)
    folder = tmp_path_factory.mktemp("pico-deployed")
    with pico_rig.PicoEmulator(folder) as emu:
        emu.wait_ms(1000)  # MicroPython formats its filesystem on the first boot
        deploy_or_fail(emu.tty)
    return emu.flash


@pytest.fixture
def pico(tmp_path):
    """start(flash=..., **options) -> a running PicoEmulator in its own folder; every emulator
    started through it is stopped at teardown (also when the test failed)."""
    started = []

    def start(flash=None, image_name=pico_rig.IMAGE_1_29, folder=None, **options):
        folder = Path(folder) if folder else tmp_path / f"pico{len(started)}"
        folder.mkdir(parents=True, exist_ok=True)
        if flash is not None and Path(flash) != folder / "flash.bin":
            shutil.copyfile(flash, folder / "flash.bin")
        emu = pico_rig.PicoEmulator(folder, image_name, **options)
        started.append(emu)
        return emu.start()

    yield start
    for emu in started:
        emu.stop()
