"""`fevergate simulate --gates N`: a whole site, each gate with its bridge, a broker, ingesters
and one PostgreSQL database, checked against what the gates sent.

Each gate runs in a process of its own (the firmware in-process under CPython, each with its
own device id 0x53470000 + i; MicroPython for a single gate), its bridge
(host_tools/bridge.py) driven by the simulated UART in virtual time exactly as a SimHost
laptop would be, with its own spool, publishing for real to the broker. This process runs
the ingesters (host_tools/ingest.py, a shared subscription) into PostgreSQL. Without --mqtt
and --db it starts a Mosquitto broker (users with random passwords, anonymous access off) and
a PostgreSQL server of its own in a temporary folder, and removes them at the end.

Faults: --broker-restarts K stops and restarts the broker K times while the gates run, when
the database holds 1/(K+1), 2/(K+1)... of the passages expected (a clean stop: it saves its
sessions and queued messages); --bridge-offline S cuts gate 0's bridge
from the broker for S seconds of the gate's (simulated) time, a third into the run.

Summary: gates, people_countable (walkers a two-beam channel can separate, from the
scenarios), people_counted (passage records the gates sent), people_in_db,
records_sent (records the gates numbered), records_in_db, duplicates_in_db, records_missing
(numbered by a gate, not in the database), broker_restarts, latency_p99_ms (from the bridge
reading a frame to its row committed), and the ingesters' and bridges' counts.
"""

from __future__ import annotations

import multiprocessing
import secrets
import shutil
import tempfile
import threading
import time
from pathlib import Path

DEVICE_BASE = 0x53470000  # "SG": simulated site gates
DRAIN_TIMEOUT_S = 180.0


def gate_device_id(index: int) -> int:
    return DEVICE_BASE + index + 1


def _gate_main(config: dict, results) -> None:
    """One gate and its bridge, in a process of its own; puts its summary on `results`."""
    try:
        results.put(_run_gate(config))
    except Exception as exc:  # noqa: BLE001  (reported by the parent as a failed gate)
        import traceback

        results.put({"index": config["index"], "error": f"{exc}\n{traceback.format_exc()}"})


def _run_gate(config: dict) -> dict:
    from host_tools.bridge import BridgeCore
    from host_tools.mqttlink import make_client, parse_url
    from host_tools.shim.host import SimHost
    from host_tools.shim.runner import run_simulation
    from host_tools.shim.scenario import Scenario
    from host_tools.simulate import summarize
    from host_tools.spool import SpoolStore
    from host_tools.wire import protocol

    index = config["index"]
    folder = Path(config["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    broker = parse_url(config["mqtt"])
    credentials = config["credentials"]
    spool = SpoolStore(str(folder / "spool.db"))
    start_unix = config["start_unix"]
    holder = {}

    def make_bridge(store, pin, unix_time=None, reply_timeout_s=2.0, max_resends=20):
        world_clock = holder["clock"]
        core = BridgeCore(
            store,
            pin,
            config["site"],
            broker,
            lambda client_id: make_client(
                broker, client_id, credentials, ca_file=config.get("ca_file")
            ),
            unix_time=unix_time,
            clock=lambda: start_unix + world_clock(),
            reply_timeout_s=reply_timeout_s,
            max_resends=max_resends,
        )
        if config.get("offline_s"):
            at = config["offline_at_s"]
            core.network_down(at, at + config["offline_s"])
        holder["core"] = core
        return core

    host = SimHost(spool, start_unix=start_unix, session_factory=make_bridge)
    original_attach = host.attach

    def attach(world):
        holder["clock"] = lambda: world.clock.elapsed / 1000.0
        original_attach(world)

    host.attach = attach
    scenario = Scenario.poisson(config["seed"], config["minutes"], config["rate"])
    result = run_simulation(
        scenario,
        runtime=config["runtime"],
        seed=config["seed"],
        flash=str(folder / "flash"),
        host=host,
        device_id=config["device_id"],
    )
    core = holder["core"]
    core.close(wait_s=DRAIN_TIMEOUT_S)
    summary = summarize(result)
    pending = spool.pending_count()
    in_spool = spool.count()
    spool.close()
    return {
        "index": index,
        "device_id": summary["device_id"],
        "records_sent": summary["records_sent_by_seq"],
        "people_countable": summary["people_countable"],  # walkers the channel can separate
        "people_counted": summary["people_counted"],  # passage records the gate sent
        "records_in_spool": in_spool,
        "pending_in_spool": pending,
        "simulated_s": summary["simulated_s"],
        "bridge": dict(core.stats),
        "sync_error": core.session.result.error,
        "pin": protocol.PIN_DEFAULT,
    }


class _Restarter(threading.Thread):
    """Restarts the broker `count` times while records flow: when the database holds
    1/(K+1), 2/(K+1)... of the passages expected (`expected_passages`), at least `every_s`
    apart; whatever is left when the gates have finished is done then."""

    def __init__(self, broker, count, every_s, running, db_url, expected_passages) -> None:
        super().__init__(daemon=True)
        self.broker = broker
        self.count = count
        self.every_s = every_s
        self.running = running
        self.db_url = db_url
        self.expected = expected_passages
        self.done = 0
        self.during_run = 0  # restarts while the gates were still running
        self.at_passages: list[int] = []

    def run(self) -> None:
        from host_tools.store import open_store

        last = 0.0
        with open_store(self.db_url) as db:
            while self.done < self.count:
                passages = db.count("passage")
                due = passages >= self.expected * (self.done + 1) / (self.count + 1)
                if (due and time.monotonic() - last >= self.every_s) or not self.running.is_set():
                    self.during_run += self.running.is_set()
                    self.at_passages.append(passages)
                    self.broker.restart(down_s=0.5)
                    self.done += 1
                    last = time.monotonic()
                time.sleep(0.1)


def run_site(args, log) -> dict:
    from host_tools.ingest import IngestLoop, Verifier, percentile, start_client, subscription
    from host_tools.mqttlink import load_credentials, parse_url
    from host_tools.siteparts import LocalMosquitto, LocalPostgres
    from host_tools.store import open_store

    n = args.gates
    scratch = Path(tempfile.mkdtemp(prefix="fevergate-site-"))
    broker_proc = db_proc = None
    ingesters = []
    wall0 = time.monotonic()
    try:
        if args.mqtt:
            mqtt_url = args.mqtt
            bridge_cred = ingest_cred = load_credentials(getattr(args, "credentials", None))
        else:
            users = {"bridge": secrets.token_hex(8), "ingest": secrets.token_hex(8)}
            broker_proc = LocalMosquitto(scratch / "broker", users=users).start()
            mqtt_url = broker_proc.url
            bridge_cred = ("bridge", users["bridge"])
            ingest_cred = ("ingest", users["ingest"])
        if args.db:
            db_url = args.db
        else:
            db_proc = LocalPostgres(scratch / "postgres").start()
            db_url = db_proc.url
        broker = parse_url(mqtt_url)
        devices = {gate_device_id(i) for i in range(n)}
        # MicroPython's board says its own id (one gate): the ingesters take any device then
        verifier = Verifier(devices if args.runtime == "cpython" else None)
        stop = threading.Event()
        for k in range(max(1, args.ingesters)):
            store = open_store(db_url)
            loop = IngestLoop(store, verifier, log=log)
            client, connected, refused = start_client(
                loop, broker, ingest_cred, f"fevergate-sim-ingest-{k}",
                subscription(args.site, "fevergate-sim"), ca_file=getattr(args, "ca_file", None),
            )  # fmt: skip
            connected.wait(10)
            if refused:
                raise RuntimeError(f"the broker refused the ingester: {refused[0]}")

            def work(loop=loop, client=client):
                while not stop.is_set():
                    loop.step(client)
                while loop.step(client, wait_s=0.3):
                    pass

            thread = threading.Thread(target=work, daemon=True)
            thread.start()
            ingesters.append((loop, client, thread, store))
        running = threading.Event()
        running.set()
        restarter = None
        if args.broker_restarts:
            if broker_proc is None:
                raise RuntimeError("--broker-restarts needs the broker this command starts")
            every = getattr(args, "restart_every", 2.0)
            expected = 0.9 * args.rate * args.minutes * n  # passages, roughly: some walk abreast
            restarter = _Restarter(
                broker_proc, args.broker_restarts, every, running, db_url, expected
            )
            restarter.start()
        context = multiprocessing.get_context("spawn")
        results = context.Queue()
        processes = []
        start_unix = int(time.time()) - int(args.minutes * 60) - 60
        for i in range(n):
            config = {
                "index": i,
                "folder": str(scratch / f"gate{i}"),
                "mqtt": mqtt_url,
                "credentials": bridge_cred,
                "ca_file": getattr(args, "ca_file", None),
                "site": args.site or "site",
                "seed": args.seed + i,
                "minutes": args.minutes,
                "rate": args.rate,
                "runtime": args.runtime,
                "device_id": gate_device_id(i),
                "start_unix": start_unix,
                "offline_s": args.bridge_offline if i == 0 else 0,
                "offline_at_s": args.minutes * 20.0,
            }
            process = context.Process(target=_gate_main, args=(config, results), daemon=True)
            process.start()
            processes.append(process)
        gates = [results.get() for _ in processes]
        for process in processes:
            process.join(30)
        running.clear()
        if restarter is not None:
            restarter.join()
        failed = [g for g in gates if "error" in g]
        if failed:
            raise RuntimeError(f"gate {failed[0]['index']} failed: {failed[0]['error']}")
        devices = {g["device_id"] for g in gates}
        expected = sum(g["records_sent"] for g in gates)
        with open_store(db_url) as db:
            deadline = time.monotonic() + DRAIN_TIMEOUT_S
            while time.monotonic() < deadline and _site_count(db, devices) < expected:
                time.sleep(0.2)
        stop.set()
        for _loop, _client, thread, _store in ingesters:
            thread.join(30)
        for loop, client, _thread, _store in ingesters:
            loop.finish()
            client.loop_stop()
            client.disconnect()
        with open_store(db_url) as db:
            summary = _site_summary(db, devices, gates)
        latencies = [ms for loop, *_ in ingesters for ms in loop.latencies_ms]
        ingest_counts: dict[str, int] = {}
        for loop, *_ in ingesters:
            for key, value in loop.counts.items():
                ingest_counts[key] = ingest_counts.get(key, 0) + value
        p99 = percentile(latencies, 0.99)
        summary.update(
            {
                "gates": n,
                "broker_restarts": 0 if restarter is None else restarter.done,
                "broker_restarts_while_gates_ran": 0
                if restarter is None
                else restarter.during_run,
                "broker_restarted_at_passages_in_db": []
                if restarter is None
                else restarter.at_passages,
                "bridge_offline_s": args.bridge_offline,
                "latency_p99_ms": None if p99 is None else round(p99, 1),
                "latency_p50_ms": None if not latencies else round(percentile(latencies, 0.5), 1),
                "ingest": ingest_counts,
                "ingesters": len(ingesters),
                "wall_s": round(time.monotonic() - wall0, 1),
                "own_broker": broker_proc is not None,
                "own_database": db_proc is not None,
                "per_gate": [
                    {
                        k: g[k]
                        for k in (
                            "device_id",
                            "records_sent",
                            "people_countable",
                            "people_counted",
                            "bridge",
                        )
                    }  # fmt: skip
                    for g in gates
                ],
            }
        )
        return summary
    finally:
        for _loop, client, _thread, store in ingesters:
            try:
                client.loop_stop()
                store.close()
            except Exception:  # noqa: BLE001,S110  (best effort while stopping)
                pass
        if broker_proc is not None:
            broker_proc.stop()
        if db_proc is not None:
            db_proc.remove()
        shutil.rmtree(scratch, ignore_errors=True)


def _site_count(db, devices) -> int:
    marks = ",".join("?" * len(devices))
    return db._read(f"SELECT COUNT(*) FROM records WHERE device_id IN ({marks})", tuple(devices))[
        0
    ][0]


def _site_summary(db, devices, gates) -> dict:
    marks = ",".join("?" * len(devices))
    params = tuple(devices)
    records = db._read(f"SELECT COUNT(*) FROM records WHERE device_id IN ({marks})", params)[0][0]
    people = db._read(
        f"SELECT COUNT(*) FROM records WHERE type = 'passage' AND device_id IN ({marks})", params
    )[0][0]
    missing = 0
    for device in devices:
        for boot in db.boots(device):
            missing += sum((b - a) % 65536 + 1 for a, b in db.gaps(device, boot))
    sent = sum(g["records_sent"] for g in gates)
    return {
        "people_countable": sum(g["people_countable"] for g in gates),
        "people_counted": sum(g["people_counted"] for g in gates),
        "people_in_db": people,
        "records_sent": sent,
        "records_in_db": records,
        "duplicates_in_db": db.duplicates(),
        "records_missing": max(missing, sent - records),
    }
