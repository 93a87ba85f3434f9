"""A simulated NOR flash block device for littlefs tests, with power-cut injection.

`FlashDevice` implements MicroPython's extended block protocol (`readblocks(n, buf, offset)`,
`writeblocks(n, buf, offset)`, `ioctl(op, arg)` with erase op 6) over a bytearray of 4096-byte
blocks, so `os.VfsLfs2(dev)` formats and mounts it exactly as on an rp2 board. Like NOR flash,
erase sets a block to 0xFF and programming can only clear bits (new = old AND data).

Power cuts: `cut_after(n)` makes the n-th later write (program or erase) the last one: with
`tear=True` only its first half reaches the flash; that write raises `PowerCut`, so the
program under test stops where a dead CPU would, and later writes (from finalisers of files
left open) silently do nothing. `clone()` gives a
device holding the same bytes, as the flash is found at the next power-up.

Helpers mount a fresh filesystem: `mount_fresh()` returns (device, mount point); on an
interpreter without `os.VfsLfs2` (CPython) `need_littlefs()` skips the calling test with a
message under pytest. `scratch_dir()` gives an empty directory on any interpreter: a littlefs
mount where there is one, a temporary directory on CPython.
"""

import os

BLOCK_SIZE = 4096
_IOCTL_BLOCK_COUNT = 4
_IOCTL_BLOCK_SIZE = 5
_IOCTL_BLOCK_ERASE = 6
HAVE_LITTLEFS = hasattr(os, "VfsLfs2")
_mounts = [0]


class PowerCut(Exception):
    """The power failed during a flash write (not an OSError: nothing may catch it by mistake)."""


class FlashDevice:
    def __init__(self, blocks=32, data=None):
        self.blocks = blocks
        self.data = (
            bytearray(data) if data is not None else bytearray(b"\xff" * (blocks * BLOCK_SIZE))
        )
        self.writes = 0  # programs and erases since creation
        self.erases = 0
        self._cut_at = 0  # the write number that is the last one; 0 = no cut planned
        self._tear = True
        self.dead = False

    def cut_after(self, n, tear=True):
        """The n-th write from now is cut (torn in half when `tear`); every later one is lost."""
        self._cut_at = self.writes + n
        self._tear = tear

    def clone(self):
        """A new device holding these bytes: the flash as the next boot finds it."""
        return FlashDevice(self.blocks, self.data)

    def _begin_write(self):
        """Counts a write; returns the halves of it that reach the flash (2, 1 or 0 when this
        write is cut; -1 when the power is already off)."""
        if self.dead:
            return -1  # the power is off: nothing reaches the flash any more
        self.writes += 1
        if self._cut_at and self.writes >= self._cut_at:
            self.dead = True
            return 1 if self._tear else 0
        return 2

    def readblocks(self, block, buf, offset=0):
        start = block * BLOCK_SIZE + offset
        data = self.data
        for i in range(len(buf)):  # no allocation: littlefs may read from a GC finaliser
            buf[i] = data[start + i]

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # the simple protocol: erase, then program whole blocks
            for i in range(len(buf) // BLOCK_SIZE):
                self.ioctl(_IOCTL_BLOCK_ERASE, block + i)
            offset = 0
        halves = self._begin_write()
        if halves < 0:
            return
        start = block * BLOCK_SIZE + offset
        n = len(buf) if halves == 2 else (len(buf) // 2 if halves == 1 else 0)
        data = self.data
        for i in range(n):
            data[start + i] &= buf[i]
        if halves < 2:
            raise PowerCut("power cut during a program of block %d" % block)

    def ioctl(self, op, arg):
        if op == _IOCTL_BLOCK_COUNT:
            return self.blocks
        if op == _IOCTL_BLOCK_SIZE:
            return BLOCK_SIZE
        if op == _IOCTL_BLOCK_ERASE:
            halves = self._begin_write()
            if halves < 0:
                return 0
            self.erases += 1
            start = arg * BLOCK_SIZE
            n = BLOCK_SIZE if halves == 2 else (BLOCK_SIZE // 2 if halves == 1 else 0)
            data = self.data
            for i in range(start, start + n):
                data[i] = 0xFF
            if halves < 2:
                raise PowerCut("power cut during an erase of block %d" % arg)
            return 0
        return 0


def need_littlefs():
    """Skip the calling test (under pytest) where the interpreter has no os.VfsLfs2."""
    if HAVE_LITTLEFS:
        return
    import sys

    pytest = sys.modules.get("pytest")
    message = "needs os.VfsLfs2 (littlefs): runs on MicroPython via tests/test_on_micropython.py"
    if pytest is not None:
        pytest.skip(message)
    raise AssertionError(message)


def format_device(dev):
    os.VfsLfs2.mkfs(dev)


def mount(dev):
    """Mounts `dev` (already formatted) at a new mount point; returns the mount point."""
    _mounts[0] += 1
    point = "/lfs%d" % _mounts[0]
    os.mount(os.VfsLfs2(dev), point)
    return point


def unmount(point):
    try:
        os.umount(point)
    except OSError:
        pass


def mount_fresh(blocks=32):
    """A newly formatted device and its mount point (littlefs only)."""
    need_littlefs()
    dev = FlashDevice(blocks)
    format_device(dev)
    return dev, mount(dev)


_scratch = [None]


def scratch_dir(blocks=64):
    """An empty directory: on a fresh littlefs mount where the interpreter has one, else a new
    temporary directory. The previous scratch directory is released first."""
    if _scratch[0] is not None:
        _scratch[0]()
        _scratch[0] = None
    if HAVE_LITTLEFS:
        dev, point = mount_fresh(blocks)
        _scratch[0] = lambda: unmount(point)
        return point
    import shutil
    import tempfile

    path = tempfile.mkdtemp(prefix="fevergate-")
    _scratch[0] = lambda: shutil.rmtree(path, ignore_errors=True)
    return path
