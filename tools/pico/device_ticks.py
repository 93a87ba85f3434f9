"""Runs ON the emulated Pico (PicoEmulator.run_script): the gate's loop, measured.

The host sets the upper-case parameters below. KIND "gate" builds the Gate as main.run()
builds it (board, site config, watchdog, storage on flash); "float" builds
bench/float_gate.py's FloatGate on the same board. It prints GO (the host then schedules
walkers and commands), runs TICKS ticks of Gate.run()'s loop (the tick at the real ticks_ms,
the flash work after it, the sleep to the next period) and prints `R name value` lines. With
LOCK, each tick runs under heap_lock (the flash work between ticks does not) and a refused
allocation is counted; with TIMED, every tick is timed (ticks_us), the heap growth of the rest
of the loop is counted by gc.mem_alloc() every CHUNK ticks (it walks the whole heap: too slow
to call every tick), the flash work's own allocation taken out, chunks with a collection in
them left out. The longest gap between two tick starts (`gap_max_us`) leaves out the time of
this loop's own gc.mem_alloc() calls; `after_tick_busy_max_us` is the longest flash work done
while someone was in the channel, a passage's or an alarm's own flush (defect 10) left out.
START_MS (unless -1) sets the board's clock there (ticks_ms near its wrap); UPTIME_S and
UPTIME_CS start the gate's uptime there.
"""

import gc
import time
from array import array

import machine
import micropython

# set by pico_ticks.run_ticks
KIND = "gate"
TICKS = 1000
LOCK = False
TIMED = True
START_MS = -1
UPTIME_S = 0
UPTIME_CS = 0

wdt = machine.WDT(timeout=8300)
wdt.feed()
t_boot = time.ticks_us()
import gate_board  # noqa: E402
import gate_main as main  # noqa: E402  (main.py, renamed by pico_ticks.prepare_flash)

from config import Config  # noqa: E402

ticks_add = time.ticks_add
ticks_diff = time.ticks_diff
ticks_us = time.ticks_us
_real_ms = time.ticks_ms
OFFSET_MS = 0 if START_MS < 0 else ticks_diff(START_MS, _real_ms())


def shifted_ms():
    return ticks_add(_real_ms(), OFFSET_MS)


board = gate_board.make_board()
board.pump.off()
if OFFSET_MS:
    board.ticks_ms = shifted_ms
if KIND == "gate":
    from gate import Gate

    storage = main.open_storage(board, wdt.feed)
    g = Gate(board, main.apply_site_config(Config()), 0, storage=storage, watchdog=wdt)
    g.uptime_s = UPTIME_S
    g.uptime_cs = UPTIME_CS
    tick = g.tick
    after_tick = g.after_tick
    period = g.config.tick_ms
else:
    from float_gate import FloatGate

    g = FloatGate(board)
    tick = g.step
    after_tick = None
    period = 10
print("R build_us", ticks_diff(ticks_us(), t_boot))
CHUNK = 100
dts = array("i", [0] * (TICKS if TIMED else 0))
grown = 0  # heap bytes the ticks left, in chunks without a collection
grown_ticks = 0
collections = 0
flash_alloc = 0
flash_max = 0
flash_n = 0
late_max = 0
gap_max = 0  # us between the starts of two ticks in a row (a period, or a stall's length)
gap_at = -1
busy_work_max = 0  # the longest flash work done while someone was in the channel
errors = 0
ticks_ms = board.ticks_ms
mem_alloc = gc.mem_alloc
heap_lock = micropython.heap_lock
heap_unlock = micropython.heap_unlock
gc.collect()
print("GO")
last_start = ticks_us()
measuring = 0  # us this loop spent in its own gc.mem_alloc() calls since the last tick began
# Every global the loop assigns exists before it starts: this script's variables live in the
# module's dict, and a new name can grow it (the 96..112 bytes "per 3,000 ticks" an earlier
# bench counted were that, in the first 100 ticks, not the Gate); a new global under
# heap_lock would also raise.
i = now = start = gap = late = s = d = busy = m = a = wait = 0
flash_alloc_max = 0  # the most one piece of flash work left on the heap
due = ticks_ms()
chunk_start = mem_alloc()
for i in range(TICKS):
    now = ticks_ms()
    start = ticks_us()
    gap = ticks_diff(start, last_start) - measuring
    last_start = start
    measuring = 0
    if gap > gap_max and i:
        gap_max = gap
        gap_at = i
    late = ticks_diff(now, due)
    if late > late_max:
        late_max = late
    if LOCK:
        heap_lock()
        try:
            s = ticks_us()
            tick(now)
            d = ticks_diff(ticks_us(), s)
        except MemoryError:
            d = ticks_diff(ticks_us(), s)
            errors += 1
        heap_unlock()
    else:
        s = ticks_us()
        tick(now)
        d = ticks_diff(ticks_us(), s)
    if TIMED:
        dts[i] = d
    wdt.feed()
    if after_tick is not None and g.work_due(now):
        busy = (g.beam.inside or g.control.inside) and not g.journal.urgent
        m = ticks_us()
        a = mem_alloc()
        s = ticks_us()
        measuring += ticks_diff(s, m)
        after_tick(now)
        d = ticks_diff(ticks_us(), s)
        m = ticks_us()
        a = mem_alloc() - a
        flash_alloc += a
        measuring += ticks_diff(ticks_us(), m)
        if a > flash_alloc_max:
            flash_alloc_max = a
        flash_n += 1
        if d > flash_max:
            flash_max = d
        if busy and d > busy_work_max:
            busy_work_max = d
    if TIMED and i % CHUNK == CHUNK - 1:
        m = ticks_us()
        a = mem_alloc()
        if a >= chunk_start + flash_alloc:
            grown += a - chunk_start - flash_alloc
            grown_ticks += CHUNK
        else:
            collections += 1
        flash_alloc = 0
        chunk_start = mem_alloc()
        measuring += ticks_diff(ticks_us(), m)
    due = ticks_add(due, period)
    wait = ticks_diff(due, ticks_ms())
    if wait > 0:
        time.sleep_ms(wait)
    elif wait < -period:
        due = ticks_ms()
print("R ticks", TICKS)
print("R heap_lock_errors", errors)
print("R late_max_ms", late_max)
print("R after_tick_n", flash_n)
print("R after_tick_max_us", flash_max)
print("R after_tick_busy_max_us", busy_work_max)
print("R after_tick_alloc_max", flash_alloc_max)
print("R gap_max_us", gap_max, gap_at)
if TIMED:
    srt = sorted(dts)
    print("R median_us", srt[TICKS // 2])
    print("R deciles_us", " ".join(str(srt[TICKS * k // 10]) for k in range(10)))
    print("R p99_us", srt[min(TICKS - 1, TICKS * 99 // 100)])
    print("R max_us", srt[-1])
    srt = None
    slow = []  # the six slowest ticks (index, us), found without a list of every index
    for k in range(TICKS):
        if len(slow) < 6 or dts[k] > slow[-1][1]:
            slow.append((k, dts[k]))
            slow.sort(key=lambda e: -e[1])
            del slow[6:]
    print("R slowest", " ".join(str(k) + " " + str(d) for k, d in slow))
    print("R alloc_bytes", grown)
    print("R alloc_ticks", grown_ticks)
    print("R collections", collections)
if KIND == "gate":
    print("R beam_irq_hard", 1 if g.beam.hard else 0)  # edges stamped in a hard interrupt
    c = g.control
    print("R people", c.people_in, c.people_out, c.fevers, c.remeasures)
    print("R commands", g.commands.received, g.commands.bad_frames)
    print("R journal", g.journal.appended if g.journal else -1, g.writer.dropped)
    print("R chatter", g.writer.chattered)
    print("R t_cs", g.writer.t_cs, g.uptime_s)
else:
    print("R people", g.people_in, g.people_out, g.fevers, g.remeasures)
