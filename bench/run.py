"""The host side of `make bench`: runs every measurement and prints `name: value unit` lines.

Sections, each beside its baseline in the same run:
- tick: bench/mpy_tick.py on the MicroPython unix port (the real Gate.step against
  bench/float_gate.py's float version), once timed with a board-sized heap and once counting
  heap bytes with the collector off;
- record size: the firmware's RecordWriter frame of one passage against a JSON line and a text
  log line of the same record;
- host decode: host_tools.decoder.StreamDecoder over a simulated day of records against
  json.loads over the same records as JSON lines;
- simulation: `fevergate simulate` with the firmware on MicroPython, against the shim with the
  firmware in-process under CPython;
- flash journal: firmware/journal.py's bytes per passage and days on a Pico;
- screening: bench/screening.py, the gate's verdicts against the truth over a fixed set of
  hard-case scenarios (wrong verdicts outside the band, re-measure rates, body sensitivity and
  specificity with and without ambient compensation), and how fast is too fast per sensor.
- site (bench/site_load.py; full runs, or `--only site`): 50 gates' 8-hour days through real
  bridges, a real Mosquitto restarted 3 times and 2 `fevergate ingest` into a real
  PostgreSQL, every record checked exactly once; beside the SQLite single-writer rate of the
  same records.
- pico: the same tick on an emulated Raspberry Pi Pico (bench/pico.py), the Gate beside the
  float gate, and the boot time (skipped by --quick: it deploys and runs for minutes).

A section that cannot run prints its names as `name: unavailable (reason)`. Wall-clock figures
are the best of a few repeats. Nothing here asserts a time: the targets are reported as met or
missed.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
MICROPYTHON = BIN / "micropython"

# issue 7's targets
TARGET_ALLOC_BYTES = 0
TARGET_RECORD_BYTES = 16
TARGET_DECODE_PER_S = 1_000_000
TARGET_SIM_X = 200

# a busy day: passages per day used for the journal's days-on-flash figure (docs/STORAGE.md)
PASSAGES_PER_DAY = 5000
PICO_FS_BYTES = 1408 * 1024  # RPI_PICO littlefs (docs/STORAGE.md)
PICO_W_FS_BYTES = 848 * 1024

TICK_NAMES = (
    "tick_us",
    "tick_us_float_baseline",
    "tick_speedup_vs_float",
    "tick_alloc_bytes",
    "tick_alloc_bytes_float_baseline",
)
RECORD_NAMES = ("passage_record_bytes", "passage_record_bytes_jsonl", "passage_record_bytes_text")
DECODE_NAMES = ("decode_records_per_s", "decode_records_per_s_jsonl", "decode_speedup_vs_jsonl")
SIM_NAMES = ("sim_speed_x_realtime",)
JOURNAL_NAMES = ("journal_bytes_per_passage", "journal_days_on_pico")
SCREENING_NAMES = (
    "screening_wrong_outside_band",
    "screening_remeasure_rate",
    "screening_body_sensitivity_cold_compensated",
    "screening_body_sensitivity_cold_uncompensated",
    "screening_body_specificity_hot_compensated",
    "screening_body_specificity_hot_uncompensated",
)
REQUIRED_NAMES = (
    TICK_NAMES + RECORD_NAMES + DECODE_NAMES + SIM_NAMES + JOURNAL_NAMES + SCREENING_NAMES
)
SITE_NAMES = (
    "site_ingest_records_per_s",
    "site_ingest_records_per_s_sqlite_single_writer",
    "site_latency_p99_ms",
)
TARGET_SITE_S = 600  # issue 15: the load run in under 10 minutes
PICO_NAMES = (
    "pico_tick_us_median",
    "pico_tick_us_p99",
    "pico_tick_us_max",
    "pico_tick_alloc_bytes",
    "pico_boot_ms",
    "pico_tick_gap_us_max",
)
PICO_QUICK_REASON = "--quick: the emulated Pico runs in make bench only"


class Report:
    """Prints figures as they come and keeps them for the targets summary."""

    def __init__(self, out=None):
        self.out = out if out is not None else sys.stdout
        self.values = {}

    def line(self, name, value, unit="", note=""):
        text = f"{name}: {value}"
        if unit:
            text += " " + unit
        if note:
            text += "  # " + note
        print(text, file=self.out, flush=True)

    def figure(self, name, value, unit, fmt="{:.2f}", note=""):
        self.values[name] = value
        self.line(name, fmt.format(value), unit, note)

    def unavailable(self, names, reason):
        reason = " ".join(str(reason).split())[:200]
        for name in names:
            self.line(name, f"unavailable ({reason})")

    def line_note(self, text):
        print("# " + text, file=self.out, flush=True)

    def target(self, name, met, text):
        self.line("target_" + name, ("met" if met else "MISSED") + f" ({text})")


def best_of(repeats, fn):
    """The shortest wall time of `repeats` calls of fn(), and fn's last result."""
    best = None
    result = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        elapsed = time.perf_counter() - t0
        best = elapsed if best is None else min(best, elapsed)
    return best, result


# -- control tick on MicroPython -----------------------------------------------------------


def run_mpy_tick(mode, ticks, heapsize):
    with tempfile.TemporaryDirectory(prefix="fevergate-bench-") as storage:
        return _run_mpy_tick(mode, ticks, heapsize, storage)


def _run_mpy_tick(mode, ticks, heapsize, storage):
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(
        str(ROOT / p) for p in ("bench", "firmware", "boards", "tests/firmware")
    )
    result = subprocess.run(
        [str(MICROPYTHON), "-X", f"heapsize={heapsize}", str(ROOT / "bench" / "mpy_tick.py")]
        + [mode, str(ticks), storage],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=str(ROOT),
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"mpy_tick.py {mode} failed: {' '.join(tail)}")
    values = {}
    for row in result.stdout.splitlines():
        key, _, value = row.partition(" ")
        values[key] = int(value) if value.lstrip("-").isdigit() else value
    return values


def bench_tick(report, quick):
    if not MICROPYTHON.exists():
        report.unavailable(TICK_NAMES, f"no MicroPython at {MICROPYTHON}")
        return
    ticks = 2000 if quick else 20000
    # time: a board-sized heap (an RP2040 gives MicroPython about 190 KiB of 32-bit objects;
    # the 64-bit unix port's objects are twice that), 3 processes
    runs = [run_mpy_tick("time", ticks, "384K") for _ in range(1 if quick else 3)]
    per_tick = {}
    for gate in ("gate", "float"):
        per_tick[gate] = min((r[gate + "_us"] - r["empty_us"]) / ticks for r in runs)
    alloc = run_mpy_tick("alloc", ticks, "64M")
    base = alloc["empty_alloc_bytes"]
    requested_base = alloc["empty_requested_bytes"]
    report.figure(
        "tick_us",
        per_tick["gate"],
        "us/tick",
        note="Gate.step as main.run() builds it (storage, commands arriving), fake board",
    )
    report.figure("tick_us_float_baseline", per_tick["float"], "us/tick")
    report.figure("tick_speedup_vs_float", per_tick["float"] / per_tick["gate"], "x")
    longest = {gate: max(r[gate + "_max_us"] for r in runs) for gate in ("gate", "float")}
    report.figure(
        "tick_max_us",
        longest["gate"],
        "us",
        fmt="{}",
        note=f"longest step (tick and flash work) of {len(runs)} runs",
    )
    report.figure("tick_max_us_float_baseline", longest["float"], "us", fmt="{}")
    gate_alloc = alloc["gate_alloc_bytes"] - base
    float_alloc = alloc["float_alloc_bytes"] - base
    report.figure(
        "tick_alloc_bytes",
        max(gate_alloc, 0) / ticks,
        "bytes/tick",
        note=f"{gate_alloc:+d} bytes left on the heap over {ticks} ticks",
    )
    report.figure("tick_alloc_bytes_float_baseline", float_alloc / ticks, "bytes/tick")
    report.figure(
        "tick_after_tick_alloc_bytes",
        alloc["gate_flash_alloc_bytes"] / ticks,
        "bytes/tick",
        note="journal flushes and counter commits, after the tick (Gate.after_tick)",
    )
    report.line(
        "tick_heap_lock",
        alloc["heap_lock"],
        note=f"Gate.tick x {ticks} under heap_lock, the flash work between ticks",
    )
    report.figure(
        "tick_heap_requested_bytes",
        (alloc["gate_requested_bytes"] - requested_base) / ticks,
        "bytes/tick",
        fmt="{:.0f}",
        note="VM frame state of big-frame calls, freed on return (mem_total)",
    )
    report.figure(
        "tick_heap_requested_bytes_float_baseline",
        (alloc["float_requested_bytes"] - requested_base) / ticks,
        "bytes/tick",
        fmt="{:.0f}",
    )
    for gate, label in (("gate", ""), ("float", "_float_baseline")):
        r = runs[0]
        report.line(
            "tick_workload" + label,
            f"{r[gate + '_ticks']} ticks, {r[gate + '_passages']} passages "
            f"({r[gate + '_fevers']} fevers), "
            f"{r[gate + '_reads']} sensor reads, {r[gate + '_uart_bytes']} UART bytes",
        )
    report.target(
        "tick_alloc_bytes",
        gate_alloc <= TARGET_ALLOC_BYTES and alloc["heap_lock"] == "ok",
        f"{max(gate_alloc, 0) / ticks:.2f} bytes/tick, target {TARGET_ALLOC_BYTES}",
    )


# -- record size ---------------------------------------------------------------------------

SAMPLE_PASSAGE = {
    "seq": 41234,
    "t_cs": 4_320_057,  # 12:00:00.57 of uptime
    "verdict": 0,
    "direction": 1,
    "temp_cc": 3667,
    "transit_cs": 85,
}


class CaptureUART:
    def __init__(self):
        self.data = bytearray()

    def write(self, buf):
        self.data += buf
        return len(buf)


def firmware_passage_frame(sample):
    """The bytes the firmware's RecordWriter puts on the UART for one passage."""
    from host_tools import compat

    compat.install()
    import records  # firmware/records.py

    writer = records.RecordWriter()
    writer.seq = sample["seq"]
    writer.t_cs = sample["t_cs"]
    writer.passage(sample["verdict"], sample["direction"], sample["temp_cc"], sample["transit_cs"])
    uart = CaptureUART()
    writer.drain(uart, 1000)
    return bytes(uart.data)


def json_line(record_dict):
    return (json.dumps(record_dict) + "\n").encode()


def bench_record_size(report):
    from bench.float_gate import passage_text
    from host_tools import decoder

    frame = firmware_passage_frame(SAMPLE_PASSAGE)
    events = decoder.StreamDecoder().feed(frame)
    if len(events) != 1 or events[0].record is None:
        raise RuntimeError(f"the firmware's passage frame does not decode: {events}")
    record = events[0].record
    same = {"type": record.type, "seq": record.seq, "t_cs": record.t_cs, **record.fields}
    jsonl = json_line(same)
    text = passage_text(
        record.seq,
        record.t_cs / 100,
        decoder.VERDICT_NAMES[record.fields["verdict"]],
        decoder.DIRECTION_NAMES[record.fields["direction"]],
        record.fields["temp_cc"] / 100,
        record.fields["transit_cs"] / 100,
    ).encode()
    n = len(frame)
    report.figure("passage_record_bytes", n, "bytes", fmt="{}", note="COBS + CRC + 0x00 included")
    report.figure("passage_record_bytes_jsonl", len(jsonl), "bytes", fmt="{}")
    report.figure("passage_record_bytes_text", len(text), "bytes", fmt="{}")
    report.figure("passage_record_jsonl_vs_ours", len(jsonl) / n, "x")
    report.figure("passage_record_text_vs_ours", len(text) / n, "x")
    report.target(
        "passage_record_bytes",
        n <= TARGET_RECORD_BYTES,
        f"{n} bytes, at most {TARGET_RECORD_BYTES}",
    )
    return n


# -- host decode ---------------------------------------------------------------------------


def simulated_day(n_passages):
    """(wire capture, JSON lines, record count) of one day: a boot, n_passages passages spread
    over 24 h (one in 40 a fever with its alarm), a status a minute; seq wraps at 2**16."""
    from host_tools.decoder import encode_record
    from host_tools.wire import protocol

    day_cs = 24 * 3600 * 100
    status_every = 6000  # cs
    frames = []
    dicts = []
    seq = 0
    counts = {"in": 0, "fevers": 0}

    def add(type_name, t_cs, **fields):
        nonlocal seq
        frames.append(encode_record(type_name, seq, t_cs, **fields))
        dicts.append((type_name, seq, t_cs, fields))
        seq = (seq + 1) & 0xFFFF

    add("boot", 0, reset_cause=1, fw_version=protocol.FW_VERSION, boot_count=7, device_id=0xC0FFEE)
    step = day_cs // n_passages
    next_status = status_every
    for i in range(n_passages):
        t_cs = 100 + i * step
        while next_status <= t_cs:
            add(
                "status",
                next_status,
                people_in=counts["in"],
                people_out=0,
                fevers=counts["fevers"],
                remeasures=0,
                uptime_s=next_status // 100,
                mem_free=150_000,
                sensor_errors=0,
                tx_dropped=0,
                people_in_today=counts["in"],
                irq_overflows=0,
                events_dropped=0,
                tx_short=0,
            )
            next_status += status_every
        fever = i % 40 == 0
        temp_cc = 3760 + i % 30 if fever else 3640 + i % 50
        if fever:
            counts["fevers"] += 1
            add("alarm", t_cs, kind=protocol.ALARM_FEVER, temp_cc=temp_cc)
        counts["in"] += 1
        add(
            "passage",
            t_cs,
            verdict=1 if fever else 0,
            direction=1,
            temp_cc=temp_cc,
            transit_cs=60 + i % 90,
        )
    capture = b"".join(frames)
    lines = b"".join(
        json_line({"type": name, "seq": s, "t_cs": t, **fields}) for name, s, t, fields in dicts
    )
    return capture, lines, len(frames)


def bench_decode(report, quick):
    from host_tools.decoder import StreamDecoder

    n_passages = 10_000 if quick else 100_000
    capture, lines, n = simulated_day(n_passages)
    repeats = 1 if quick else 7

    def decode_whole():
        decoder = StreamDecoder()
        return decoder.feed(capture), decoder

    def decode_chunks():
        decoder = StreamDecoder()
        events = 0
        for i in range(0, len(capture), 4096):
            events += len(decoder.feed(capture[i : i + 4096]))
        return events, decoder

    def decode_with_fields():
        decoder = StreamDecoder()
        events = decoder.feed(capture)
        for event in events:
            if event.record is not None:
                event.record.fields  # noqa: B018  (built on first use: pay for every dict)
        return events, decoder

    def json_loads():
        loads = json.loads
        return [loads(line) for line in lines.split(b"\n") if line]

    # interleaved repeats, best of each: the machine's other load hits all three alike
    best = {}
    for _ in range(repeats):
        for name, fn in (
            ("stream", decode_whole),
            ("chunks", decode_chunks),
            ("fields", decode_with_fields),
            ("json", json_loads),
        ):
            elapsed, result = best_of(1, fn)
            best[name] = min(best.get(name, elapsed), elapsed)
            if name == "stream" and result[1].counts["OK"] != n:
                raise RuntimeError(f"StreamDecoder gave {result[1].counts['OK']} records of {n}")
            if name == "json" and len(result) != n:
                raise RuntimeError(f"json.loads gave {len(result)} records of {n}")
            del result
    t_stream, t_chunks, t_json = best["stream"], best["chunks"], best["json"]
    t_fields = best["fields"]
    rate = n / t_stream
    rate_json = n / t_json
    report.line(
        "decode_capture",
        f"{n} records",
        note=f"{len(capture)} wire bytes, {len(lines)} JSON-line bytes, a simulated day",
    )
    report.figure("decode_records_per_s", rate, "records/s", fmt="{:,.0f}", note="one feed")
    report.figure("decode_records_per_s_4k_feeds", n / t_chunks, "records/s", fmt="{:,.0f}")
    report.figure(
        "decode_records_per_s_all_fields",
        n / t_fields,
        "records/s",
        fmt="{:,.0f}",
        note="and every record's fields dict built (they are built on first use)",
    )
    report.figure("decode_records_per_s_jsonl", rate_json, "records/s", fmt="{:,.0f}")
    report.figure("decode_speedup_vs_jsonl", rate / rate_json, "x")
    report.target(
        "decode_records_per_s",
        rate >= TARGET_DECODE_PER_S,
        f"{rate:,.0f} records/s, at least {TARGET_DECODE_PER_S:,}",
    )


# -- simulation ----------------------------------------------------------------------------


def run_simulate(runtime, minutes, rate, seed):
    result = subprocess.run(
        [sys.executable, "-m", "host_tools", "simulate", "--json", "--runtime", runtime]
        + ["--minutes", str(minutes), "--rate", str(rate), "--seed", str(seed)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(ROOT),
    )
    if result.returncode != 0:
        tail = (result.stderr or result.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"fevergate simulate --runtime {runtime} failed: {' '.join(tail)}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def bench_simulate(report, quick):
    minutes = 3 if quick else 30
    rate = 20
    summary = run_simulate("micropython", minutes, rate, 2020)
    speed = summary["simulated_s"] / summary["wall_s"]
    report.figure(
        "sim_speed_x_realtime",
        speed,
        "x",
        fmt="{:.0f}",
        note=f"firmware on MicroPython, {minutes} min at {rate}/min, "
        f"{summary['people_counted']} passages",
    )
    try:
        cpython = run_simulate("cpython", minutes, rate, 2020)
        speed_cpython = cpython["simulated_s"] / cpython["wall_s"]
        report.figure(
            "sim_speed_x_realtime_cpython",
            speed_cpython,
            "x",
            fmt="{:.0f}",
            note="--runtime cpython",
        )
        report.figure("sim_micropython_vs_cpython", speed / speed_cpython, "x")
    except (RuntimeError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        report.unavailable(("sim_speed_x_realtime_cpython",), exc)
    report.target(
        "sim_speed_x_realtime", speed >= TARGET_SIM_X, f"{speed:.0f}x, at least {TARGET_SIM_X}x"
    )


# -- flash journal -------------------------------------------------------------------------


def bench_journal(report, passage_frame_bytes):
    from host_tools import compat

    compat.install()
    import journal  # firmware/journal.py
    import protocol

    status_frame = protocol.STATUS_SIZE + protocol.CRC_SIZE + 2
    per_passage = passage_frame_bytes + journal.OVERHEAD
    report.figure(
        "journal_bytes_per_passage",
        per_passage,
        "bytes",
        fmt="{}",
        note=f"{passage_frame_bytes}-byte frame + {journal.OVERHEAD}-byte entry header and CRC",
    )
    for name, fs_bytes in (("pico", PICO_FS_BYTES), ("pico_w", PICO_W_FS_BYTES)):
        tenths = journal.days_on_flash(
            fs_bytes,
            PASSAGES_PER_DAY,
            passage_frame=passage_frame_bytes,
            status_frame=status_frame,
            scale=10,
        )
        report.figure(
            "journal_days_on_" + name,
            tenths / 10,
            "days",
            fmt="{:.1f}",
            note=f"{fs_bytes // 1024} KiB littlefs, {PASSAGES_PER_DAY} passages + 1440 status/day",
        )
    per_day = journal.bytes_per_day(
        PASSAGES_PER_DAY, passage_frame=passage_frame_bytes, status_frame=status_frame
    )
    report.figure("journal_bytes_per_day", per_day, "bytes", fmt="{:,}")


# -- the emulated Pico ----------------------------------------------------------------------


def bench_pico(report):
    sys.path.insert(0, str(ROOT / "tools" / "pico"))
    import pico_rig

    why = pico_rig.unavailable()
    if why:
        report.unavailable(PICO_NAMES, why)
        return
    from bench import pico

    got = pico.measure()
    g, f = got["gate"], got["float"]
    unix = report.values
    unix_mean = unix.get("tick_us")
    unix_max = unix.get("tick_max_us")
    unix_note = (
        f"unix port (fake board) this run: {unix_mean:.1f} us mean, {unix_max} us max"
        if unix_mean is not None
        else "no unix-port figure this run"
    )
    ticks = g["ticks"][0]
    for name, key, unit in (
        ("pico_tick_us_median", "median_us", "us"),
        ("pico_tick_us_p99", "p99_us", "us"),
        ("pico_tick_us_max", "max_us", "us"),
    ):
        report.figure(name, g[key][0], unit, fmt="{}", note=unix_note)
        report.figure(name + "_float_baseline", f[key][0], unit, fmt="{}")
    # Each Gate tick ran under heap_lock: a refused allocation is at least one 16-byte block.
    refused = g["heap_lock_errors"][0]
    gate_alloc = 16 * refused / ticks
    float_alloc = f["alloc_bytes"][0] / max(f["alloc_ticks"][0], 1)
    unix_alloc = unix.get("tick_alloc_bytes")
    report.figure(
        "pico_tick_alloc_bytes",
        gate_alloc,
        "bytes/tick",
        note=f"{ticks} ticks each under heap_lock, {refused} refused an allocation"
        + (f"; unix port this run: {unix_alloc:.2f}" if unix_alloc is not None else ""),
    )
    report.figure(
        "pico_loop_alloc_bytes",
        g["alloc_bytes"][0] / max(g["alloc_ticks"][0], 1),
        "bytes/tick",
        note="heap growth of the loop around the ticks (watchdog, sleep, measuring), flash "
        f"work apart; {g['collections'][0]} collections",
    )
    report.figure(
        "pico_after_tick_alloc_bytes_max",
        g["after_tick_alloc_max"][0],
        "bytes",
        fmt="{}",
        note="the most one piece of flash work after the tick left (a counter commit's file "
        "objects and paths, every 10 s at most)",
    )
    report.figure(
        "pico_tick_alloc_bytes_float_baseline",
        float_alloc,
        "bytes/tick",
        note=f"{f['collections'][0]} collections in {f['ticks'][0]} ticks",
    )
    report.figure("pico_boot_ms", got["boot_ms"], "ms", fmt="{:.0f}", note="power on to 1st tick")
    report.figure(
        "pico_after_tick_us_max",
        g["after_tick_max_us"][0],
        "us",
        fmt="{}",
        note=f"{g['after_tick_n'][0]} journal flushes / counter commits after the tick",
    )
    report.figure(
        "pico_after_tick_busy_us_max",
        g["after_tick_busy_max_us"][0],
        "us",
        fmt="{}",
        note="flash work while someone was in the channel, but a passage's or alarm's own flush",
    )
    report.figure("pico_loop_late_ms_max", g["late_max_ms"][0], "ms", fmt="{}")
    report.figure(
        "pico_tick_gap_us_max",
        g["gap_max_us"][0],
        "us",
        fmt="{}",
        note="longest start-to-start of two ticks (the period is 10,000 us); "
        f"float gate {f['gap_max_us'][0]} us",
    )
    people = g["people"]
    report.line(
        "pico_workload",
        f"{ticks} ticks, {people[0]} in, {people[1]} out, {people[2]} fevers, "
        f"{g['commands'][0]} commands; float gate {f['people'][0]} in, {f['people'][1]} out, "
        f"{f['people'][2]} fevers",
    )
    report.target(
        "pico_tick_alloc_bytes", gate_alloc == 0, f"{gate_alloc:.2f} bytes/tick, target 0"
    )
    report.target(
        "pico_tick_us_max", g["max_us"][0] <= 10_000, f"{g['max_us'][0]} us, target 10,000"
    )
    report.target(
        "pico_tick_us_median",
        g["median_us"][0] <= f["median_us"][0],
        f"{g['median_us'][0]} us, float gate {f['median_us'][0]} us",
    )


# -- main ----------------------------------------------------------------------------------


def bench_site(report, quick):
    from bench.site_load import run_load

    if quick:
        figures = run_load(gates=3, hours=0.25, rate=10, restarts=1, log=report.line_note)
    else:
        figures = run_load(gates=50, hours=8, rate=10, restarts=3, log=report.line_note)
    rate = figures["site_ingest_records_per_s"]
    single = figures["sqlite_single_writer_records_per_s"]
    report.line(
        "site_load",
        f"{figures['gates']} gates, {figures['passages_in_db']} passages, "
        f"{figures['records_in_db']} of {figures['records_expected']} records in PostgreSQL, "
        f"{figures['duplicates_in_db']} duplicates, {figures['records_missing']} missing, "
        f"{figures['broker_restarts']} broker restarts",
    )
    report.figure("site_load_wall_s", figures["wall_s"], "s", "{:.1f}")
    end_to_end = "bridges + broker + ingesters + PostgreSQL, end to end"
    report.figure("site_ingest_records_per_s", rate, "records/s", "{:,.0f}", note=end_to_end)
    one_writer = "the same streams decoded and stored by one SQLite writer"
    report.figure(
        "site_ingest_records_per_s_sqlite_single_writer", single, "records/s", "{:,.0f}",
        note=one_writer,
    )  # fmt: skip
    report.figure("site_vs_sqlite_single_writer", rate / single, "x")
    p99 = figures["site_latency_p99_ms"]
    if p99 is None:
        report.line("site_latency_p99_ms", "unavailable (no latency from the ingesters)")
    else:
        note = "frame read by the bridge to row committed, under full load"
        report.figure("site_latency_p99_ms", p99, "ms", "{:.0f}", note=note)
    exact = (
        figures["records_in_db"] == figures["records_expected"]
        and not figures["duplicates_in_db"]
        and not figures["records_missing"]
    )
    report.target(
        "site_load",
        exact and figures["wall_s"] < TARGET_SITE_S and not quick,
        f"every record exactly once: {exact}; {figures['wall_s']:.0f} s, target under "
        f"{TARGET_SITE_S} s" + ("; quick run: small sizes" if quick else ""),
    )


def section(report, names, fn, *args):
    try:
        return fn(report, *args)
    except Exception as exc:  # noqa: BLE001  (one broken piece must not hide the others)
        report.unavailable(names, f"{type(exc).__name__}: {exc}")
        return None


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="small sizes, one repeat (a smoke run: seconds)"
    )
    parser.add_argument(
        "--only",
        choices=("tick", "records", "decode", "sim", "journal", "screening", "site", "pico"),
        action="append",
        help="run only these sections (repeatable)",
    )
    args = parser.parse_args(argv)
    only = set(args.only or ("tick", "records", "decode", "sim", "journal", "screening", "pico"))
    if not args.only and not args.quick:
        only.add("site")  # minutes: in full runs, or asked for with --only site
    report = Report()
    started = time.perf_counter()
    report.line(
        "machine",
        f"{platform.machine()}, {os.cpu_count()} cores, CPython {platform.python_version()}",
    )
    if "tick" in only:
        section(report, TICK_NAMES, bench_tick, args.quick)
    frame_bytes = None
    if "records" in only or "journal" in only:
        frame_bytes = section(report, RECORD_NAMES, bench_record_size)
    if "decode" in only:
        section(report, DECODE_NAMES, bench_decode, args.quick)
    if "sim" in only:
        section(report, SIM_NAMES, bench_simulate, args.quick)
    if "journal" in only:
        if frame_bytes is None:
            report.unavailable(JOURNAL_NAMES, "no passage frame size (record section failed)")
        else:
            section(report, JOURNAL_NAMES, bench_journal, frame_bytes)
    if "screening" in only:
        from bench import screening

        section(report, screening.NAMES, screening.bench_screening, args.quick)
    if "site" in only:
        section(report, SITE_NAMES, bench_site, args.quick)
    if "pico" in only:
        if args.quick:
            report.unavailable(PICO_NAMES, PICO_QUICK_REASON)
        else:
            section(report, PICO_NAMES, bench_pico)
    report.line("bench_wall_s", f"{time.perf_counter() - started:.1f}", "s")
    return 0
