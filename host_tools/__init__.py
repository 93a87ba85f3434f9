"""fevergate host tools: CPython programs for the technician's laptop, and the simulated gate."""

from host_tools import compat

compat.install()
