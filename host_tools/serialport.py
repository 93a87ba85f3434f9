"""Open a serial port for the host tools, with one clear FevergateError per way it can fail.

`open_port(url_or_path, baud, timeout)` goes through `serial.serial_for_url`, so a device path
(/dev/ttyUSB0, COM3), a pseudo-terminal path (the simulator's), `loop://` and `socket://host:port`
all work. A local port is opened with an exclusive lock (pyserial's `exclusive=True`: flock on
POSIX) so two programs never read the same gate and each get half of the bytes.

Failures: missing port or permission denied -> EXIT_NO_PORT (3); port in use (EBUSY or another
program holds the lock) -> EXIT_PORT_BUSY (4); a malformed URL -> EXIT_USAGE (2).

The port comes back wrapped in `GuardedPort`: once open, a port that goes away (the cable
pulled, the USB adapter unplugged, the simulator's pty closed) raises FevergateError
EXIT_NO_PORT with one line from every read, write, flush and `in_waiting`, whatever pyserial,
the OS or termios raised, so no command can die of it with a traceback.
"""

from __future__ import annotations

import errno
import sys

try:
    import termios
except ImportError:  # Windows
    termios = None

import serial

from host_tools.errors import EXIT_NO_PORT, EXIT_PORT_BUSY, EXIT_USAGE, FevergateError

__all__ = ["open_port", "GuardedPort", "port_gone", "PORT_ERRORS", "guard"]

_MISSING = {errno.ENOENT, errno.ENODEV, errno.ENXIO, errno.ENOTDIR}
_DENIED = {errno.EACCES, errno.EPERM}
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}
_REFUSED = {errno.ECONNREFUSED, errno.EHOSTUNREACH, errno.ETIMEDOUT}

# What a port that went away raises: pyserial's own errors, OSError (EIO from a hung-up tty),
# termios.error (flush on a hung-up tty; not an OSError)
PORT_ERRORS: tuple[type[BaseException], ...] = (serial.SerialException, OSError)
if termios is not None:
    PORT_ERRORS += (termios.error,)


def port_gone(name: str, exc: BaseException | None = None) -> FevergateError:
    """The one line for a port that went away while in use."""
    detail = f" ({exc})" if exc is not None and str(exc) else ""
    return FevergateError(
        f"{name}: the port went away: is the cable plugged in?{detail}", EXIT_NO_PORT
    )


class GuardedPort:
    """An open pyserial-like port whose failures after opening become `port_gone`."""

    def __init__(self, port, name: str | None = None) -> None:
        self.raw = port
        self.name = name or getattr(port, "port", None) or repr(port)
        self.port = self.name

    def read(self, n: int = 1) -> bytes:
        try:
            return self.raw.read(n)
        except PORT_ERRORS as exc:
            raise port_gone(self.name, exc) from None

    def write(self, data) -> int | None:
        try:
            return self.raw.write(data)
        except PORT_ERRORS as exc:
            raise port_gone(self.name, exc) from None

    def flush(self) -> None:
        flush = getattr(self.raw, "flush", None)
        if flush is None:
            return
        try:
            flush()
        except PORT_ERRORS as exc:
            raise port_gone(self.name, exc) from None

    @property
    def in_waiting(self) -> int:
        try:
            return getattr(self.raw, "in_waiting", 0) or 0
        except PORT_ERRORS as exc:
            raise port_gone(self.name, exc) from None

    def close(self) -> None:
        close = getattr(self.raw, "close", None)
        if close is None:
            return
        try:
            close()
        except PORT_ERRORS:
            pass  # it is gone already

    def __getattr__(self, name: str):
        return getattr(self.raw, name)


def guard(port, name: str | None = None) -> GuardedPort:
    """`port` wrapped in GuardedPort (once)."""
    return port if isinstance(port, GuardedPort) else GuardedPort(port, name)


def open_port(url_or_path: str, baud: int = 115200, timeout: float | None = 0.1, exclusive=True):
    """An open pyserial port (8N1 at `baud`, `timeout` seconds per read); FevergateError if not."""
    import os
    import stat

    if url_or_path == "auto":
        from host_tools.ports import find_gate

        url_or_path = find_gate()
    if "://" not in url_or_path and os.path.exists(url_or_path):
        mode = os.stat(url_or_path).st_mode
        if stat.S_ISDIR(mode):
            raise FevergateError(
                f"{url_or_path} is a folder, not a serial port (the gate is /dev/ttyUSB0, "
                "/dev/ttyACM0 or COM3; `fevergate ports` lists them)",
                EXIT_USAGE,
            )
        if stat.S_ISREG(mode):
            raise FevergateError(
                f"{url_or_path} is a file, not a serial port (to read a capture, use "
                f"`fevergate decode {url_or_path}`; `fevergate ports` lists the ports)",
                EXIT_USAGE,
            )
    try:
        port = serial.serial_for_url(url_or_path, baudrate=baud, timeout=timeout, do_not_open=True)
    except (ValueError, serial.SerialException) as exc:
        raise FevergateError(
            f"{url_or_path}: not a port or pyserial URL ({exc})", EXIT_USAGE
        ) from None
    if exclusive and isinstance(port, serial.Serial) and sys.platform != "win32":
        port.exclusive = True  # Windows ports are exclusive already
    try:
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise _open_error(url_or_path, exc) from None
    return GuardedPort(port, url_or_path)


def _open_error(name: str, exc: Exception) -> FevergateError:
    code = getattr(exc, "errno", None)
    text = str(exc)
    if code in _BUSY or "exclusively lock" in text or "Access is denied" in text:
        return FevergateError(
            f"{name} is in use by another program (close the other monitor or terminal)",
            EXIT_PORT_BUSY,
        )
    if code in _MISSING:
        return FevergateError(
            f"{name}: no such port (is the gate plugged in? list ports with "
            "`python -m serial.tools.list_ports`)",
            EXIT_NO_PORT,
        )
    if code in _DENIED:
        return FevergateError(
            f"{name}: permission denied (on Linux, add yourself to the dialout group)",
            EXIT_NO_PORT,
        )
    if code in _REFUSED:
        return FevergateError(f"{name}: connection failed ({text})", EXIT_NO_PORT)
    return FevergateError(f"cannot open {name}: {text}", EXIT_NO_PORT)
