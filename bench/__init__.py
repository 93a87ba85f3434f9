"""`make bench`: what the gate costs, each figure measured beside a baseline in the same run.

`python -m bench` (bench/__main__.py) prints one `name: value unit` line per figure, the ratio
to its baseline where there is one, and whether each target of issue 7 is met. bench/run.py
holds the host-side measurements, bench/mpy_tick.py runs on the MicroPython unix port, and
bench/float_gate.py is the float baseline of the control tick. docs/PERFORMANCE.md has the
figures of one run and how to reproduce them.
"""
