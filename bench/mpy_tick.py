"""Control tick benchmark, run ON MicroPython by `python -m bench` (bench/__main__.py).

Times the real Gate.step (firmware/gate.py) on the fake board of tests/firmware/fakes_board.py
and, in the same process, bench/float_gate.py's FloatGate on a fake board of its own. Both see
the same walkers: one every 200 ticks of 10 ms (A blocked 0..200 ms, B blocked 800..1000 ms),
skin temperatures cycling through normal and fever values, so each tick polls beams and about
one in twenty-five reads the sensor over the fake bus (PEC computed by the fake) and one in two
hundred encodes a passage. The cost of the driving loop alone is measured the same way with a
step that does nothing, and subtracted.

The fake bus is fakes_board.FakeI2C with its PEC computed over a preallocated bytearray: the
original builds a tuple per read, which would be counted against the Gate.

Usage: MICROPYPATH=bench:firmware:boards:tests/firmware micropython bench/mpy_tick.py MODE [ticks]
MODE `time`: microseconds for `ticks` ticks, garbage collector on as on a board (give the
interpreter a board-sized heap, -X heapsize=192K), then the longest single step of `ticks`
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

from fakes_board import FakeBoard, FakeI2C, raw_from_cc
from gate import Gate

_TICK = 10
_WRAP = 1 << 30
_PERIOD = 200  # ticks per walker
_SKINS = (3550, 3600, 3620, 3650, 3700, 3720, 3610)  # skin cC; with the 0.5 C offset 3700+ fever
_RAWS = tuple(raw_from_cc(cc) for cc in _SKINS)
_ADDR = 0x5A


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


def drive(board, gate, ticks, start, timed=False):
    """`ticks` ticks of walkers from loop index `start`; returns the next index, or with
    `timed` the longest single step in microseconds."""
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
        now = (now + _TICK) % _WRAP
        board.now = now
        if timed:
            t0 = ticks_us()
            gate.step(now)
            t = ticks_diff(ticks_us(), t0)
            if t > longest:
                longest = t
        else:
            gate.step(now)
        i += 1
    return longest if timed else end


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
    board.uart.data = bytearray(0)  # count bytes only: capturing would slice (allocate)
    gate = make_gate(board)
    i = drive(board, gate, warmup, 0)  # first walkers, first status: lazy setup done
    reads = board.i2c.reads
    written = board.uart.written
    people = passages(gate)
    fevered = fevers(gate)
    gc.collect()
    if mode == "alloc":
        gc.disable()
        current = micropython.mem_current()
        total = micropython.mem_total()
        drive(board, gate, ticks, i)
        print(name + "_alloc_bytes", micropython.mem_current() - current)
        print(name + "_requested_bytes", micropython.mem_total() - total)
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
    measure("empty", NoGate, mode, ticks, warmup)
    board, gate, i = measure("gate", Gate, mode, ticks, warmup)
    measure("float", FloatGate, mode, ticks, warmup)
    if mode == "alloc":
        # The proof: the same Gate goes on under heap_lock (any allocation raises MemoryError).
        micropython.heap_lock()
        try:
            drive(board, gate, ticks, i)
            ok = True
        except MemoryError:
            ok = False
        finally:
            micropython.heap_unlock()
        print("heap_lock", "ok" if ok else "failed")


if __name__ == "__main__":
    main()
