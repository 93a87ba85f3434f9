"""`fevergate bridge PORT` over a pseudo-terminal against the firmware on MicroPython, the
real broker and an ingester into PostgreSQL: the command a site installs beside each gate,
credentials from the environment."""

import io
import threading
import time

from host_tools.cli import State, main
from host_tools.ingest import IngestLoop, Verifier, start_client, subscription
from host_tools.mqttlink import parse_url
from host_tools.shim.pty_port import PtyPort
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.spool import SpoolStore
from host_tools.store import open_store

PEOPLE = [(2000 + 3000 * i, 36.6 + 0.1 * (i % 5)) for i in range(6)]


def test_fevergate_bridge_on_a_serial_port_publishes_every_passage(
    tmp_path, mqtt_broker, pg_url, monkeypatch
):
    monkeypatch.setenv("FEVERGATE_MQTT_USERNAME", "bridge")
    monkeypatch.setenv("FEVERGATE_MQTT_PASSWORD", "bridge-pw")
    store = open_store(pg_url)
    loop = IngestLoop(store, Verifier(), log=lambda line: None)
    client, connected, refused = start_client(
        loop, parse_url(mqtt_broker.url), ("ingest", "ingest-pw"), "t-cli-ingest",
        subscription("cli", "t-cli"),
    )  # fmt: skip
    assert connected.wait(10) and not refused
    stop = threading.Event()

    def ingest():
        while not stop.is_set():
            loop.step(client)

    ingester = threading.Thread(target=ingest, daemon=True)
    ingester.start()
    spool = str(tmp_path / "gate.spool")
    out, err = io.StringIO(), io.StringIO()
    with PtyPort() as pty:

        def gate():
            run_simulation(
                Scenario.scripted(PEOPLE, 90_000), runtime="micropython", pty=pty,
                realtime_factor=20.0, flash=str(tmp_path / "flash"),
            )  # fmt: skip

        thread = threading.Thread(target=gate)
        thread.start()
        try:
            time.sleep(1.0)
            argv = ["bridge", pty.path, "--mqtt", mqtt_broker.url, "--site", "cli", "--spool",
                    spool, "--pin", "1234", "--duration", "4"]  # fmt: skip
            code = main(argv, State(out, err))
        finally:
            thread.join()
    try:
        assert code == 0, err.getvalue()
        assert "records published" in out.getvalue()
        with SpoolStore(spool) as kept:
            in_spool = kept.count()
            assert kept.count("passage") == len(PEOPLE)
            assert kept.pending_count() == 0
        with open_store(pg_url) as check:
            deadline = time.monotonic() + 15
            while check.count() < in_spool and time.monotonic() < deadline:
                time.sleep(0.1)
            assert check.count() == in_spool
            assert check.count("passage") == len(PEOPLE)
    finally:
        stop.set()
        ingester.join(10)
        client.loop_stop()
        client.disconnect()
        store.close()
