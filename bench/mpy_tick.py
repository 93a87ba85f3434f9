"""Control tick benchmark, run ON MicroPython by `python -m bench` (bench/__main__.py).

Times the real Gate.step (firmware/gate.py: the tick and the flash work after it) built as
main.run() builds it (site config, storage on a filesystem: counters, settings and the flash
journal in the folder given as the third argument) on the fake board of
tests/firmware/fakes_board.py and, in the same process, bench/float_gate.py's FloatGate on a
fake board of its own. Both see the same walkers: one every 200 ticks of 10 ms (A blocked
0..200 ms, B blocked 800..1000 ms), skin temperatures cycling through normal and fever values,
and a STATUS or GET_CONFIG command frame arriving on the UART every 200 ticks (the float gate
does not read it). So each tick polls beams, about one in twenty-five reads the sensor over the
fake bus (PEC computed by the fake), one in two hundred encodes a passage and one in two hundred
answers a command with its records; every record is journaled and flushed to the files. The
cost of the driving loop alone is measured the same way with a step that does nothing, and
subtracted.

The fake bus is fakes_board.FakeI2C with its PEC computed over a preallocated bytearray: the
original builds a tuple per read, which would be counted against the Gate.

Usage: MICROPYPATH=bench:firmware:boards:tests/firmware micropython bench/mpy_tick.py MODE
[ticks [storage_folder]]
MODE `time`: microseconds for `ticks` ticks, garbage collector on as on a board (give the
interpreter a board-sized heap, -X heapsize=384K), then the longest single step of `ticks`
more (a collection pause shows up there). MODE `alloc`: the collector off, heap bytes
left allocated (micropython.mem_current() difference: what the collector must reclaim) and
heap bytes requested in all (micropython.mem_total() difference: this includes the VM's frame
state for calls with big frames, freed on return and taken from the C stack under heap_lock);
give it a big heap (-X heapsize=64M). Then the Gate goes on under micropython.heap_lock().
Prints `key value` lines, each key `<gate>_<figure>` for gate in empty, gate, float.
"""

import gc
import sys
import time

import micropython
from float_gate import FloatGate

import main as firmware_main
import protocol
from config import Config
from fakes_board import CommandUART, FakeBoard, FakeI2C, raw_from_cc
from fakes_service import command_frame
from gate import Gate
from storage import Storage

_TICK = 10
_WRAP = 1 << 30
_PERIOD = 200  # ticks per walker
_SKINS = (3550, 3600, 3620, 3650, 3700, 3720, 3610)  # skin cC; with the 0.5 C offset 3700+ fever
_RAWS = tuple(raw_from_cc(cc) for cc in _SKINS)
_ADDR = 0x5A
_COMMANDS = (
    command_frame(protocol.CMD_STATUS, tag=7),
    command_frame(protocol.CMD_GET_CONFIG, key=protocol.KEY_EMISSIVITY, tag=8),
)
_STORAGE = ["/tmp/fevergate-bench"]
_FLASH_ALLOC = [0]  # heap bytes the Gate's flash work (journal flushes, commits) left
_LOCK_ERRORS = [0]


class QuietI2C(FakeI2C):
    """FakeI2C answering with the same bytes, its PEC input in a preallocated buffer."""

    def __init__(self):
        super().__init__()
        self._pec_in = bytearray(5)
        self._pec_in[0] = _ADDR << 1
        self._pec_in[2] = (_ADDR << 1) | 1

    def readfrom_mem_into(self, addr, memaddr, buf):
        if self.nack or addr != _ADDR:
            raise OSError(5)
        self.reads += 1
        word = self._word(memaddr)
        pec_in = self._pec_in
        pec_in[1] = memaddr
        pec_in[3] = word & 0xFF
        pec_in[4] = word >> 8
        pec = 0
        for byte in pec_in:
            pec ^= byte
            for _ in range(8):
                pec = ((pec << 1) ^ 0x07) & 0xFF if pec & 0x80 else (pec << 1) & 0xFF
        buf[0] = pec_in[3]
        buf[1] = pec_in[4]
        buf[2] = pec


class NoGate:
    """The driving loop's own cost: a step that does nothing."""

    def __init__(self, board):
        pass

    def step(self, now):
        pass


def drive(board, gate, ticks, start, timed=False, split=False, locked=False):
    """`ticks` ticks of walkers from loop index `start`; returns the next index, or with
    `timed` the longest single step in microseconds. With `split` (a Gate) the tick and the
    flash work are called apart, the flash work's heap bytes counted in _FLASH_ALLOC; with
    `locked` too, each tick runs under heap_lock (MemoryErrors counted in _LOCK_ERRORS)."""
    ticks_us = time.ticks_us
    ticks_diff = time.ticks_diff
    longest = 0
    i2c = board.i2c
    beam_a = board.beam_a
    beam_b = board.beam_b
    raws = _RAWS
    n_raws = len(raws)
    now = board.now
    end = start + ticks
    i = start
    while i < end:
        phase = i % _PERIOD
        if phase == 0:
            i2c.object_raw = raws[(i // _PERIOD) % n_raws]
            beam_a.drive(0)
        elif phase == 20:
            beam_a.drive(1)
        elif phase == 80:
            beam_b.drive(0)
        elif phase == 100:
            beam_b.drive(1)
        elif phase == 150:
            board.uart.send(_COMMANDS[(i // _PERIOD) & 1])
        now = (now + _TICK) % _WRAP
        board.now = now
        if timed:
            t0 = ticks_us()
            gate.step(now)
            t = ticks_diff(ticks_us(), t0)
            if t > longest:
                longest = t
        elif split:
            if locked:
                micropython.heap_lock()
                try:
                    gate.tick(now)
                except MemoryError:
                    _LOCK_ERRORS[0] += 1
                micropython.heap_unlock()
            else:
                gate.tick(now)
            if gate.work_due(now):
                m0 = micropython.mem_current()
                gate.after_tick(now)
                _FLASH_ALLOC[0] += micropython.mem_current() - m0
        else:
            gate.step(now)
        i += 1
    return longest if timed else end


def main_gate(board):
    """The Gate as main.run() builds it: site config, storage opened before it."""
    root = _STORAGE[0] + "/" + str(time.ticks_us())
    return Gate(board, firmware_main.apply_site_config(Config()), storage=Storage.open(root))


def passages(gate):
    if isinstance(gate, Gate):
        return gate.control.people_in + gate.control.people_out
    if isinstance(gate, FloatGate):
        return gate.people_in + gate.people_out
    return 0


def fevers(gate):
    if isinstance(gate, Gate):
        return gate.control.fevers
    if isinstance(gate, FloatGate):
        return gate.fevers
    return 0


def measure(name, make_gate, mode, ticks, warmup):
    board = FakeBoard()
    board.i2c = QuietI2C()
    board.uart = CommandUART()  # counts bytes only: capturing would slice (allocate)
    gate = make_gate(board)
    i = drive(board, gate, warmup, 0)  # first walkers, first status: lazy setup done
    reads = board.i2c.reads
    written = board.uart.written
    people = passages(gate)
    fevered = fevers(gate)
    gc.collect()
    if mode == "alloc":
        gc.disable()
        split = isinstance(gate, Gate)
        _FLASH_ALLOC[0] = 0
        current = micropython.mem_current()
        total = micropython.mem_total()
        drive(board, gate, ticks, i, split=split)
        print(name + "_alloc_bytes", micropython.mem_current() - current - _FLASH_ALLOC[0])
        print(name + "_requested_bytes", micropython.mem_total() - total)
        if split:
            print(name + "_flash_alloc_bytes", _FLASH_ALLOC[0])
        i += ticks
        gc.enable()
        gc.collect()
    else:
        t0 = time.ticks_us()
        drive(board, gate, ticks, i)
        print(name + "_us", time.ticks_diff(time.ticks_us(), t0))
        i += ticks
    print(name + "_ticks", ticks)
    print(name + "_passages", passages(gate) - people)
    print(name + "_fevers", fevers(gate) - fevered)
    print(name + "_reads", board.i2c.reads - reads)
    print(name + "_uart_bytes", board.uart.written - written)
    if mode != "alloc":
        print(name + "_max_us", drive(board, gate, ticks, i, True))
        i += ticks
    return board, gate, i


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "time"
    ticks = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    warmup = 6200  # past the first status record (60 s) and 31 walkers
    if len(sys.argv) > 3:
        _STORAGE[0] = sys.argv[3]
    measure("empty", NoGate, mode, ticks, warmup)
    board, gate, i = measure("gate", main_gate, mode, ticks, warmup)
    measure("float", FloatGate, mode, ticks, warmup)
    if mode == "alloc":
        # The proof: the same Gate goes on under heap_lock (any allocation raises MemoryError).
        # each Gate.tick under the lock; the flash work between ticks, as Gate.run() does it
        _LOCK_ERRORS[0] = 0
        drive(board, gate, ticks, i, split=True, locked=True)
        print("heap_lock", "failed" if _LOCK_ERRORS[0] else "ok")


if __name__ == "__main__":
    main()
