"""The firmware's UART as a pseudo-terminal: host tools open `path` with pyserial exactly as
they would /dev/ttyUSB0.

The shim writes the bytes that came through the simulated wire to the master side and reads
what the host wrote to the slave (it reaches the firmware's UART rx). Like a real UART with
nobody listening, bytes that do not fit in the terminal's buffer are lost (counted in `lost`),
so a simulation never blocks on a slow reader.
"""

import os
import termios
import tty


class PtyPort:
    def __init__(self):
        self.master, self._slave = os.openpty()
        tty.setraw(self._slave, termios.TCSANOW)
        os.set_blocking(self.master, False)
        self.path = os.ttyname(self._slave)
        self.written = 0
        self.lost = 0

    def write(self, data):
        """Write bytes for the reader on the slave side; what does not fit is lost."""
        view = memoryview(bytes(data))
        while view:
            try:
                n = os.write(self.master, view)
            except BlockingIOError:
                break
            except OSError:
                break
            self.written += n
            view = view[n:]
        self.lost += len(view)

    def read_available(self, limit=4096):
        """Bytes the host wrote to the slave side, b'' if none."""
        try:
            return os.read(self.master, limit)
        except (BlockingIOError, OSError):
            return b""

    def close(self):
        for fd in (self.master, self._slave):
            try:
                os.close(fd)
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
