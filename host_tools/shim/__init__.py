"""The simulated gate: a virtual clock, board parts with fault injection, the MLX90614 model,
a crowd scenario, and two runtimes for the firmware (in-process CPython, MicroPython bridge)."""
