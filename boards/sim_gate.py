"""The simulated gate board for the MicroPython unix port: the MicroPython side of the simulator.

The firmware runs unchanged on `micropython` with this board; the CPython shim
(host_tools/shim/bridge.py) serves its clock, pins, I2C bus and UART over two pipes (fds 3 and
4, or FEVERGATE_SIM_FDS="in,out"). Time is virtual: the shim hands out time slices (100 ms by
default) carrying the beam and tank edges and the UART rx bytes of the slice; `sleep_ms`
advances this board's own clock through the slice, firing pin IRQ handlers at each edge's
instant. I2C transfers are synchronous requests stamped with the virtual time (the shim's
MLX90614 model answers). At the end of a slice the board reports its UART tx bytes, the pump and
buzzer switches (with their times), gc.mem_free() and the longest watchdog feed gap, and waits
for the next slice.

Wire format (little endian), board -> shim:
  'H' n text                hello: sys.implementation, once
  'R' addr mem n t:u32      I2C read of n bytes -> reply status:u8 (0 or errno) + n bytes
  'W' addr mem n t:u32 data I2C write -> reply status:u8
  'C' t:u32                 bus recovery -> reply status:u8
  'T' n:u16 data            UART tx bytes (sent early when the tx buffer fills)
  'O' n:u16 n*(t:u32 which level)   switches sent early (log full); which: 0 pump, 1 buzzer
  'D' t:u32 ntx:u16 nout:u16 mem_free:u32 wdt_gap:u32, tx bytes, switches   slice done
  'F' as 'D'                final report after the shim said end; the board then exits
  'G' timeout:u32           the watchdog is armed (a transfer that hangs ends in its reset)
shim -> board:
  'I' start_ticks:u32 beam_a beam_b tank cause   initial levels, protocol.RESET_* of this boot
  'S' dur:u16 nev:u16 nrx:u16, nev*(offset:u16 which level), nrx bytes   which 0 A, 1 B, 2 tank
  'E' + 6 pad bytes          end of the simulation: sleep_ms raises SystemExit

Flash: with FEVERGATE_SIM_FLASH="path,blocks" the board mounts a littlefs (os.VfsLfs2, as on
an rp2 board) at FS_ROOT "/flash" over an image file the shim owns, 4096-byte blocks written
straight through to it: the flash keeps what was written when the shim cuts the power (kills
this process) and the next boot finds it. Without it the board has no filesystem (FS_ROOT None).

Allocation: nothing on the steady path, slice exchanges included (ticks_ms, sleep_ms, IRQ
dispatch, pin reads, output switches, UART writes, watchdog feeds, I2C transfers: preallocated
buffers, write(buf, off, n), readinto(buf, n)); tests/test_shim_bridge.py runs them under
micropython.heap_lock(). Only a failing I2C transfer allocates (its OSError), as on a board.
Ticks wrap at 2**30 like a 32-bit port.
"""

import gc
import os
import sys

from micropython import const

_TICKS_MASK = const(0x3FFFFFFF)
_IRQ_FALLING = const(1)
_IRQ_RISING = const(2)
_MAX_EVENTS = const(256)
_RX_BYTES = const(256)
_TX_BYTES = const(4096)
_OUT_EVENTS = const(64)
_SLICE_HDR = const(7)
_DONE_HDR = const(17)


_FLASH_BLOCK = const(4096)
_FLASH_ROOT = "/flash"


class _FileFlash:
    """A littlefs block device over an image file (extended block protocol)."""

    def __init__(self, path, blocks):
        self._f = open(path, "r+b")
        self.blocks = blocks
        self._erased = bytearray(b"\xff" * _FLASH_BLOCK)

    def readblocks(self, block, buf, offset=0):
        self._f.seek(block * _FLASH_BLOCK + offset)
        self._f.readinto(buf)

    def writeblocks(self, block, buf, offset=None):
        if offset is None:  # the simple protocol: erase, then program whole blocks
            offset = 0
        self._f.seek(block * _FLASH_BLOCK + offset)
        self._f.write(buf)

    def ioctl(self, op, arg):
        if op == 4:  # block count
            return self.blocks
        if op == 5:  # block size
            return _FLASH_BLOCK
        if op == 6:  # erase
            self._f.seek(arg * _FLASH_BLOCK)
            self._f.write(self._erased)
        return 0


def _mount_flash(spec):
    """Mounts the shim's flash image ("path,blocks") at _FLASH_ROOT, formatting a blank one."""
    path, blocks = spec.split(",")
    dev = _FileFlash(path, int(blocks))
    try:
        vfs = os.VfsLfs2(dev)
    except OSError:
        os.VfsLfs2.mkfs(dev)
        vfs = os.VfsLfs2(dev)
    os.mount(vfs, _FLASH_ROOT)
    return int(blocks) * _FLASH_BLOCK


class _Pin:
    """A beam or tank input: level from the shim's slices, IRQ handler called at each edge."""

    def __init__(self, level):
        self._level = level
        self._handler = None
        self._trigger = 0

    def value(self, v=None):
        if v is None:
            return self._level
        return None

    def irq(self, handler=None, trigger=3, hard=False):
        self._handler = handler
        self._trigger = trigger

    def _drive(self, level):
        if level == self._level:
            return
        self._level = level
        edge = _IRQ_RISING if level else _IRQ_FALLING
        if self._handler is not None and self._trigger & edge:
            self._handler(self)


class _Signal:
    """Pump or buzzer output: every switch is logged with its virtual time for the shim."""

    def __init__(self, board, which):
        self._board = board
        self._which = which
        self._state = 0

    def value(self, v=None):
        if v is None:
            return self._state
        v = 1 if v else 0
        if v != self._state:
            self._state = v
            self._board._switch(self._which, v)
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)


class _I2C:
    """I2C at 100 kHz whose transfers the shim's device models answer."""

    def __init__(self, board):
        self._board = board

    def readfrom_mem_into(self, addr, memaddr, buf):
        self._board._i2c_read(addr, memaddr, buf)

    def writeto_mem(self, addr, memaddr, buf):
        self._board._i2c_write(addr, memaddr, buf)


class _UART:
    """UART0 at 115200: tx bytes go to the shim with the slice report, rx bytes come in slices."""

    def __init__(self, board):
        self._board = board

    def write(self, buf):
        return self._board._tx_write(buf)

    def any(self):
        return self._board._rx_n - self._board._rx_i

    def readinto(self, buf, nbytes=-1):
        return self._board._rx_read(buf, nbytes)


class _Watchdog:
    def __init__(self, board, timeout_ms):
        self._board = board
        self.timeout_ms = timeout_ms

    def feed(self):
        self._board._feed()


class Board:
    NAME = "sim_gate"
    BEAM_BLOCKED = 0
    TANK_OK = 1
    IRQ_BOTH = _IRQ_FALLING | _IRQ_RISING
    UART_BAUD = 115200

    def __init__(self, fd_in=3, fd_out=4):
        self._in = open("/dev/fd/%d" % fd_in, "rb")
        self._out = open("/dev/fd/%d" % fd_out, "wb")
        self._msg = bytearray(32)
        self._ev = bytearray(4 * _MAX_EVENTS)
        self._rx = bytearray(_RX_BYTES)
        self._tx = bytearray(_TX_BYTES)
        self._outlog = bytearray(6 * _OUT_EVENTS)
        self._tx_n = 0
        self._out_n = 0
        self._rx_i = 0
        self._rx_n = 0
        self._ev_i = 0
        self._ev_n = 0
        self._t = 0
        self._slice_t0 = 0
        self._slice_end = 0
        self._last_feed = 0
        self._wdt_gap = 0
        self._ended = False
        self.exchanges = 0
        self._irq_off = 0
        self._hello()
        m = self._msg
        self._read(m, 9)
        self._start = m[1] | m[2] << 8 | m[3] << 16 | m[4] << 24
        self.beam_a = _Pin(m[5])
        self.beam_b = _Pin(m[6])
        self.tank_ok = _Pin(m[7])
        self._reset_cause = m[8] or 1  # protocol.RESET_POWER_ON unless the shim says
        self._pins = (self.beam_a, self.beam_b, self.tank_ok)
        self.pump = _Signal(self, 0)
        self.buzzer = _Signal(self, 1)
        self.i2c = _I2C(self)
        self.uart = _UART(self)
        self.FS_ROOT = None
        self._fs_bytes = 0
        flash = os.getenv("FEVERGATE_SIM_FLASH")
        if flash:
            self._fs_bytes = _mount_flash(flash)
            self.FS_ROOT = _FLASH_ROOT

    # the beam edge log's critical section: the shim's edges reach the handlers between two
    # reads of the pipe, never inside a poll, so this only checks the pairing
    def disable_irq(self):
        self._irq_off += 1
        return self._irq_off

    def enable_irq(self, state):
        self._irq_off = state - 1

    # pipe helpers -------------------------------------------------------------------
    def _hello(self):
        impl = sys.implementation
        text = "%s %d.%d.%d %s" % (
            impl.name,
            impl.version[0],
            impl.version[1],
            impl.version[2],
            sys.platform,
        )
        data = text.encode()
        self._out.write(b"H" + bytes((len(data),)) + data)

    def _read(self, buf, n):
        if n and self._in.readinto(buf, n) != n:
            raise SystemExit("sim_gate: the shim closed the pipe")

    def _put_u32(self, buf, i, v):
        buf[i] = v & 0xFF
        buf[i + 1] = (v >> 8) & 0xFF
        buf[i + 2] = (v >> 16) & 0xFF
        buf[i + 3] = (v >> 24) & 0xFF

    # board API ----------------------------------------------------------------------
    def ticks_ms(self):
        return (self._start + self._t) & _TICKS_MASK

    def sleep_ms(self, ms):
        target = self._t + ms
        while True:
            ev = self._ev
            pins = self._pins
            while self._ev_i < self._ev_n:
                j = self._ev_i * 4
                at = self._slice_t0 + (ev[j] | ev[j + 1] << 8)
                if at > target:
                    break
                self._ev_i += 1
                if at > self._t:
                    self._t = at
                pins[ev[j + 2]]._drive(ev[j + 3])
            if target < self._slice_end:
                self._t = target
                return
            self._t = self._slice_end
            self._exchange()

    def recover_i2c(self):
        m = self._msg
        m[0] = 0x43  # 'C'
        self._put_u32(m, 1, self._t)
        self._out.write(m, 0, 5)
        self._read(m, 1)
        return self.i2c

    def watchdog(self, timeout_ms):
        self._last_feed = self._t
        m = self._msg
        m[0] = 0x47  # 'G'
        self._put_u32(m, 1, timeout_ms)
        self._out.write(m, 0, 5)
        return _Watchdog(self, timeout_ms)

    def reset_cause(self):
        return self._reset_cause

    def mem_free(self):
        return gc.mem_free()

    def fs_bytes(self):
        return self._fs_bytes

    def device_id(self):
        """'MP' and the interpreter version: the boot record shows the unix port ran this."""
        v = sys.implementation.version
        return 0x4D500000 | (v[0] << 8) | v[1]

    # parts' back ends ----------------------------------------------------------------
    def _feed(self):
        gap = self._t - self._last_feed
        if gap > self._wdt_gap:
            self._wdt_gap = gap
        self._last_feed = self._t

    def _switch(self, which, level):
        if self._out_n == _OUT_EVENTS:
            self._flush_switches()
        j = self._out_n * 6
        self._put_u32(self._outlog, j, self._t)
        self._outlog[j + 4] = which
        self._outlog[j + 5] = level
        self._out_n += 1

    def _flush_switches(self):
        m = self._msg
        m[0] = 0x4F  # 'O'
        m[1] = self._out_n & 0xFF
        m[2] = self._out_n >> 8
        self._out.write(m, 0, 3)
        self._out.write(self._outlog, 0, self._out_n * 6)
        self._out_n = 0

    def _flush_tx(self):
        m = self._msg
        m[0] = 0x54  # 'T'
        m[1] = self._tx_n & 0xFF
        m[2] = self._tx_n >> 8
        self._out.write(m, 0, 3)
        self._out.write(self._tx, 0, self._tx_n)
        self._tx_n = 0

    def _tx_write(self, buf):
        n = len(buf)
        if self._tx_n + n > _TX_BYTES:
            self._flush_tx()
            if n > _TX_BYTES:
                m = self._msg
                m[0] = 0x54
                m[1] = n & 0xFF
                m[2] = n >> 8
                self._out.write(m, 0, 3)
                self._out.write(buf)
                return n
        tx = self._tx
        i = self._tx_n
        for k in range(n):
            tx[i + k] = buf[k]
        self._tx_n = i + n
        return n

    def _rx_read(self, buf, nbytes):
        n = self._rx_n - self._rx_i
        if nbytes >= 0 and nbytes < n:
            n = nbytes
        if len(buf) < n:
            n = len(buf)
        if n <= 0:
            return None
        rx = self._rx
        i = self._rx_i
        for k in range(n):
            buf[k] = rx[i + k]
        self._rx_i = i + n
        return n

    def _i2c_read(self, addr, memaddr, buf):
        n = len(buf)
        m = self._msg
        m[0] = 0x52  # 'R'
        m[1] = addr
        m[2] = memaddr
        m[3] = n
        self._put_u32(m, 4, self._t)
        self._out.write(m, 0, 8)
        self._read(m, 1 + n)
        if m[0]:
            raise OSError(m[0])
        for k in range(n):
            buf[k] = m[1 + k]

    def _i2c_write(self, addr, memaddr, buf):
        n = len(buf)
        m = self._msg
        m[0] = 0x57  # 'W'
        m[1] = addr
        m[2] = memaddr
        m[3] = n
        self._put_u32(m, 4, self._t)
        for k in range(n):
            m[8 + k] = buf[k]
        self._out.write(m, 0, 8 + n)
        self._read(m, 1)
        if m[0]:
            raise OSError(m[0])

    # slices --------------------------------------------------------------------------
    def _report(self, kind):
        m = self._msg
        m[0] = kind
        self._put_u32(m, 1, self._t)
        m[5] = self._tx_n & 0xFF
        m[6] = self._tx_n >> 8
        m[7] = self._out_n & 0xFF
        m[8] = self._out_n >> 8
        self._put_u32(m, 9, gc.mem_free())
        self._put_u32(m, 13, self._wdt_gap)
        self._out.write(m, 0, _DONE_HDR)
        self._out.write(self._tx, 0, self._tx_n)
        self._out.write(self._outlog, 0, self._out_n * 6)
        self._tx_n = 0
        self._out_n = 0
        self._wdt_gap = 0

    def _exchange(self):
        if self._ended:
            raise SystemExit(0)
        self._report(0x44)  # 'D'
        self.exchanges += 1
        m = self._msg
        self._read(m, _SLICE_HDR)
        if m[0] != 0x53:  # not 'S': the end
            self._ended = True
            raise SystemExit(0)
        dur = m[1] | m[2] << 8
        nev = m[3] | m[4] << 8
        nrx = m[5] | m[6] << 8
        self._read(self._ev, nev * 4)
        self._read(self._rx, nrx)
        self._ev_i = 0
        self._ev_n = nev
        self._rx_i = 0
        self._rx_n = nrx
        self._slice_t0 = self._slice_end
        self._slice_end = self._slice_end + dur

    def finish(self):
        """The final report (UART bytes and switches made while the firmware stopped)."""
        self._report(0x46)  # 'F'


def make_board():
    fds = os.getenv("FEVERGATE_SIM_FDS")
    if fds:
        fd_in, fd_out = fds.split(",")
        return Board(int(fd_in), int(fd_out))
    return Board()


def _emergency_buffer_stand_in():
    """The unix port has no micropython.alloc_emergency_exception_buf (boards do): give
    main.py a stand-in module with everything else from the real one."""
    import micropython

    if hasattr(micropython, "alloc_emergency_exception_buf"):
        return

    class _MicroPython:
        pass

    module = _MicroPython()
    for name in dir(micropython):
        if not name.startswith("__"):
            setattr(module, name, getattr(micropython, name))
    module.alloc_emergency_exception_buf = lambda size: None
    sys.modules["micropython"] = module


def main():
    """Run the firmware's own entry point (firmware/main.py) on this board until the end."""
    board = make_board()
    _emergency_buffer_stand_in()
    import main as firmware_main

    try:
        firmware_main.run(board)
    except SystemExit:
        pass
    board.finish()
