"""The site's load run (issue 15, point 7): many gates' streams through real bridges, a real
Mosquitto (restarted while it runs) and real ingesters into a real PostgreSQL.

Simulating 400 gate-hours of firmware ticks takes far longer than the run itself, so one
gate's day is simulated once (the firmware in-process, a bridge's sync session plugged in from
the start: the stream holds the STATUS, TIME_SYNC and BACKLOG answers a bridge asks for) and
kept in build/site-load/ (ignored); each gate replays it with its own device id and boot count
(BOOT records, identity CONFIG records and REPLAY envelopes rewritten, CRCs recomputed), fed to
a real `BridgeCore` as fast as it takes it. Bridges run in worker processes (spawn), the
ingesters are `fevergate ingest` processes (credentials from the environment), and this
process restarts the broker when the database holds 20 %, 45 % and 70 % of the records.

`run_load(gates, hours, rate, restarts, ingesters)` returns the figures; `python -m
bench.site_load` prints them (`make bench` prints them in its site section). The SQLite
baseline is the single-gate way: the same streams decoded and stored by one writer into one
SQLite file (host_tools.store.ingest_bytes).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "build" / "site-load"
DEVICE_BASE = 0x5A000000
START_UNIX = 1_770_967_800  # 2026-02-13 07:30 UTC
CHUNK = 16 * 1024


def record_day(hours: float, rate: float, seed: int = 77) -> tuple[bytes, int]:
    """The UART bytes of one simulated gate day with a bridge's session plugged in, and how
    many records the gate numbered (cached)."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"day-{hours:g}h-{rate:g}pm-{seed}.bin"
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists():
        return path.read_bytes(), json.loads(meta.read_text())["records"]
    from host_tools.bridge import BridgeSession
    from host_tools.shim.host import SimHost
    from host_tools.shim.runner import run_simulation
    from host_tools.shim.scenario import Scenario
    from host_tools.simulate import summarize
    from host_tools.store import SQLiteStore

    with tempfile.TemporaryDirectory() as tmp:
        store = SQLiteStore(os.path.join(tmp, "rec.db"))
        host = SimHost(store, start_unix=START_UNIX, session_factory=BridgeSession)
        result = run_simulation(
            Scenario.poisson(seed, hours * 60, rate),
            runtime="cpython",
            seed=seed,
            host=host,
            device_id=DEVICE_BASE,
            flash=os.path.join(tmp, "flash"),
        )
        store.close()
    data = bytes(result.world.uart.tx)
    records = summarize(result)["records_sent_by_seq"]
    path.write_bytes(data)
    meta.write_text(json.dumps({"records": records}))
    return data, records


def rewrite_stream(data: bytes, device_id: int, boot_offset: int) -> bytes:
    """The same stream as if another gate sent it: its device id, its boot counts."""
    from cobs import cobs

    from host_tools.decoder import Status, decode_frame, encode_payload, encode_replay
    from host_tools.wire import protocol

    def crc_frame(payload: bytes) -> bytes:
        from binascii import crc_hqx

        return cobs.encode(payload + crc_hqx(payload, 0xFFFF).to_bytes(2, "big")) + b"\x00"

    def rewritten(record):
        fields = dict(record.fields)
        if record.type == "boot":
            fields["device_id"] = device_id
            fields["boot_count"] = fields["boot_count"] + boot_offset
        elif record.type == "config" and fields["key"] == protocol.KEY_DEVICE_ID:
            fields["value"] = device_id - (1 << 32) if device_id >> 31 else device_id
        elif record.type == "config" and fields["key"] == protocol.KEY_BOOT_COUNT:
            fields["value"] = fields["value"] + boot_offset
        else:
            return None
        return encode_payload(record.type, record.seq, record.t_cs, **fields)

    out = bytearray()
    for frame in data.split(b"\x00"):
        if not frame:
            continue
        event = decode_frame(frame)
        if event.status is Status.OK:
            payload = rewritten(event.record)
            out += frame + b"\x00" if payload is None else crc_frame(payload)
        elif event.status is Status.REPLAY:
            payload = rewritten(event.record)
            if payload is None:
                payload = cobs.decode(frame)[protocol.REPLAY_HEAD_SIZE : -2]
            out += encode_replay(event.boot + boot_offset, payload)
        else:
            out += frame + b"\x00"
    return bytes(out)


def _bridges_main(config: dict, results) -> None:
    """A worker process: several bridges fed their gate streams round-robin."""
    try:
        results.put(_run_bridges(config))
    except Exception as exc:  # noqa: BLE001
        import traceback

        results.put({"error": f"{exc}\n{traceback.format_exc()}"})


def _run_bridges(config: dict) -> dict:
    from host_tools.bridge import BridgeCore
    from host_tools.mqttlink import make_client, parse_url
    from host_tools.spool import SpoolStore
    from host_tools.wire import protocol

    broker = parse_url(config["mqtt"])
    credentials = tuple(config["credentials"])
    day, _ = record_day(config["hours"], config["rate"])
    cores, streams, spools = [], [], []
    for index in config["gates"]:
        device_id = DEVICE_BASE + index + 1
        stream = rewrite_stream(day, device_id, boot_offset=index * 3)
        spool = SpoolStore(os.path.join(config["folder"], f"spool{index}.db"))
        core = BridgeCore(
            spool,
            protocol.PIN_DEFAULT,
            "load",
            broker,
            lambda client_id: make_client(broker, client_id, credentials),
            unix_time=time.time,
        )
        core.start(time.monotonic())
        cores.append(core)
        streams.append(memoryview(stream))
        spools.append(spool)
    offsets = [0] * len(cores)
    fed = True
    while fed:
        fed = False
        for i, core in enumerate(cores):
            if offsets[i] < len(streams[i]):
                chunk = bytes(streams[i][offsets[i] : offsets[i] + CHUNK])
                offsets[i] += len(chunk)
                core.feed(chunk, time.monotonic())
                fed = True
            else:
                core.poll(time.monotonic())
    deadline = time.monotonic() + config["drain_s"]
    while time.monotonic() < deadline and any(s.pending_count() for s in spools):
        for core in cores:
            core.poll(time.monotonic())
        time.sleep(0.01)
    out = {"spooled": sum(s.count() for s in spools), "pending": 0, "published": 0}
    for core, spool in zip(cores, spools, strict=True):
        out["pending"] += spool.pending_count()
        out["published"] += core.stats["published"]
        core.close()
        spool.close()
    return out


def sqlite_single_writer_rate(streams: list[bytes], folder: str) -> float:
    """Records/s of the single-gate way: each stream decoded and stored by one writer."""
    from host_tools.store import SQLiteStore, ingest_bytes

    store = SQLiteStore(os.path.join(folder, "single.db"))
    t0 = time.perf_counter()
    stored = 0
    for stream in streams:
        stored += ingest_bytes(store, stream).inserted
    elapsed = time.perf_counter() - t0
    store.close()
    return stored / elapsed


def run_load(
    gates: int = 50,
    hours: float = 8.0,
    rate: float = 10.0,
    restarts: int = 3,
    ingesters: int = 2,
    workers: int = 2,
    log=print,
) -> dict:
    from host_tools.siteparts import LocalMosquitto, LocalPostgres
    from host_tools.store import open_store

    t_record = time.perf_counter()
    day, per_gate = record_day(hours, rate)
    record_s = time.perf_counter() - t_record
    log(f"site load: one {hours:g} h gate day recorded ({per_gate} records, {record_s:.0f} s)")
    scratch = tempfile.mkdtemp(prefix="fevergate-load-")
    users = {"bridge": secrets.token_hex(8), "ingest": secrets.token_hex(8)}
    broker = LocalMosquitto(Path(scratch) / "broker", users=users).start()
    db = LocalPostgres(Path(scratch) / "pg").start()
    procs = []
    try:
        with open_store(db.url):
            pass  # the tables, before the ingesters race for them
        env = dict(os.environ, FEVERGATE_MQTT_USERNAME="ingest")
        env["FEVERGATE_MQTT_PASSWORD"] = users["ingest"]
        for k in range(ingesters):
            procs.append(
                subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "host_tools",
                        "ingest",
                        "--mqtt",
                        broker.url,
                        "--db",
                        db.url,
                        "--client-id",
                        f"load-ingest-{k}",
                        "--group",
                        "load",
                    ],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )  # fmt: skip
            )
        time.sleep(1.5)  # connected and subscribed
        expected = gates * per_gate
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        workers = max(1, min(workers, gates))
        t0 = time.perf_counter()
        children = []
        for w in range(workers):
            config = {
                "gates": list(range(w, gates, workers)),
                "mqtt": broker.url,
                "credentials": ["bridge", users["bridge"]],
                "hours": hours,
                "rate": rate,
                "folder": scratch,
                "drain_s": 600.0,
            }
            child = context.Process(target=_bridges_main, args=(config, results), daemon=True)
            child.start()
            children.append(child)
        marks = [0.2 + 0.25 * i for i in range(restarts)]
        done_restarts = 0
        count = 0
        with open_store(db.url) as store:
            deadline = time.perf_counter() + 1200
            while time.perf_counter() < deadline:
                count = store.count()
                if done_restarts < len(marks) and count >= marks[done_restarts] * expected:
                    broker.restart(down_s=1.0)
                    done_restarts += 1
                    log(f"site load: broker restarted at {count} records in the database")
                if count >= expected:
                    break
                time.sleep(0.1)
            wall = time.perf_counter() - t0
            worker_results = [results.get(timeout=600) for _ in children]
            time.sleep(1.0)
            count = store.count()
            duplicates = store.duplicates()
            missing = 0
            for device in store.devices():
                for boot in store.boots(device):
                    missing += sum((b - a) % 65536 + 1 for a, b in store.gaps(device, boot))
            devices = len(store.devices())
            passages = store.count("passage")
        for child in children:
            child.join(30)
        errors = [r["error"] for r in worker_results if "error" in r]
        if errors:
            raise RuntimeError(errors[0])
        ingest_lines = []
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            out, err = proc.communicate(timeout=60)
            ingest_lines.append(out.strip())
        p99 = [_p99(line) for line in ingest_lines]
        streams = [rewrite_stream(day, DEVICE_BASE + i + 1, i * 3) for i in range(gates)]
        sqlite_rate = sqlite_single_writer_rate(streams, scratch)
        return {
            "gates": devices,
            "passages_in_db": passages,
            "records_expected": expected,
            "records_in_db": count,
            "duplicates_in_db": duplicates,
            "records_missing": missing,
            "broker_restarts": done_restarts,
            "wall_s": wall,
            "site_ingest_records_per_s": count / wall,
            "sqlite_single_writer_records_per_s": sqlite_rate,
            "site_latency_p99_ms": max(p for p in p99 if p is not None) if any(p99) else None,
            "published": sum(r["published"] for r in worker_results),
            "spooled": sum(r["spooled"] for r in worker_results),
            "pending_at_end": sum(r["pending"] for r in worker_results),
            "ingesters": ingest_lines,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
        broker.stop()
        db.remove()
        shutil.rmtree(scratch, ignore_errors=True)


def _p99(line: str) -> float | None:
    marker = "latency p99 "
    if marker not in line:
        return None
    return float(line.split(marker, 1)[1].split()[0])


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(prog="python -m bench.site_load")
    parser.add_argument("--gates", type=int, default=50)
    parser.add_argument("--hours", type=float, default=8.0)
    parser.add_argument("--rate", type=float, default=10.0)
    parser.add_argument("--restarts", type=int, default=3)
    parser.add_argument("--ingesters", type=int, default=2)
    args = parser.parse_args()
    figures = run_load(args.gates, args.hours, args.rate, args.restarts, args.ingesters)
    print(json.dumps(figures, indent=1, sort_keys=True))
