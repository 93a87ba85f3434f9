"""The wire format as the host sees it: the firmware's own protocol module, imported once."""

from host_tools import compat

compat.install()

import protocol  # noqa: E402  (firmware/protocol.py, the one source of truth)

__all__ = ["protocol"]
