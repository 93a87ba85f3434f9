"""Smoke test of `make bench`: the quick run works and prints every figure issue 7 asks for,
each as a number; only the emulated Pico's figures (which `make bench` measures, not --quick)
may say unavailable, and then with the quick run's reason.

No figure's value is checked here: benchmarks print, they do not assert times.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench.run import PICO_NAMES, PICO_QUICK_REASON, REQUIRED_NAMES

ROOT = Path(__file__).resolve().parent.parent
FIGURE = re.compile(r"^-?[\d,]+(\.\d+)? \S+")


@pytest.fixture(scope="module")
def quick_run():
    return subprocess.run(
        [sys.executable, "-m", "bench", "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=str(ROOT),
    )


def figures(stdout):
    out = {}
    for line in stdout.splitlines():
        name, sep, value = line.partition(": ")
        if sep:
            out[name] = value
    return out


def test_quick_bench_exits_cleanly(quick_run):
    assert quick_run.returncode == 0, quick_run.stderr


def test_quick_bench_prints_every_required_name(quick_run):
    printed = figures(quick_run.stdout)
    missing = [name for name in REQUIRED_NAMES if name not in printed]
    assert not missing, quick_run.stdout


def test_quick_bench_prints_each_required_figure_as_a_value_and_unit(quick_run):
    printed = figures(quick_run.stdout)
    for name in REQUIRED_NAMES:
        value = printed.get(name, "")
        assert FIGURE.match(value), f"{name}: {value!r}"


def test_quick_bench_leaves_only_the_pico_figures_to_make_bench(quick_run):
    printed = figures(quick_run.stdout)
    for name in PICO_NAMES:
        assert printed.get(name) == f"unavailable ({PICO_QUICK_REASON})", name
    unavailable = [n for n, v in printed.items() if v.startswith("unavailable")]
    assert sorted(unavailable) == sorted(PICO_NAMES), quick_run.stdout


def test_figure_pattern_refuses_unavailable():
    assert not FIGURE.match("unavailable (no MicroPython)")
    assert FIGURE.match("11.12 us/tick")
