"""The bridge beside a gate (host_tools/bridge.py) with the real Mosquitto and PostgreSQL of
tests/conftest.py: the firmware runs in-process on a simulated gate, its UART drives the bridge
in virtual time, the bridge publishes for real, an ingester stores into PostgreSQL."""

import itertools
import json
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

from host_tools.bridge import BridgeCore
from host_tools.ingest import IngestLoop, Verifier, start_client, subscription
from host_tools.mqttlink import make_client, parse_url
from host_tools.shim.host import SimHost
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import Scenario
from host_tools.siteparts import LocalMosquitto
from host_tools.spool import SpoolStore
from host_tools.store import open_store
from host_tools.wire import protocol

DEVICE = 0x53470042
START_UNIX = 1_770_967_800  # 2026-02-13 07:30 UTC
BRIDGE = ("bridge", "bridge-pw")
INGEST = ("ingest", "ingest-pw")


def bridge_factory(broker_url, holder, clock_from_world=True, **extra):
    broker = parse_url(broker_url)

    def make(store, pin, unix_time=None, reply_timeout_s=2.0, max_resends=20):
        core = BridgeCore(
            store,
            pin,
            "test",
            broker,
            lambda client_id: make_client(broker, client_id, BRIDGE),
            unix_time=unix_time,
            clock=lambda: START_UNIX + holder["world"].clock.elapsed / 1000.0,
            reply_timeout_s=reply_timeout_s,
            max_resends=max_resends,
            **extra,
        )
        holder["core"] = core
        return core

    return make


def run_gate(spool, broker_url, minutes=3.0, seed=5, flash=None, **extra):
    flash = flash or str(Path(spool.path).parent / "flash")
    holder = {}
    host = SimHost(
        spool, start_unix=START_UNIX, session_factory=bridge_factory(broker_url, holder, **extra)
    )
    attach = host.attach

    def attach_world(world):
        holder["world"] = world
        attach(world)

    host.attach = attach_world
    result = run_simulation(
        Scenario.poisson(seed, minutes, 8), runtime="cpython", seed=seed, host=host,
        device_id=DEVICE, flash=flash,
    )  # fmt: skip
    return result, holder["core"]


_ingesters = itertools.count(1)


class Ingester:
    """An ingester in a thread, like `fevergate ingest`."""

    def __init__(self, broker, db_url, client_id=None, gates=None, group=None):
        client_id = client_id or f"t-ingest-{next(_ingesters)}"  # a session of its own
        self.logged = []
        self.store = open_store(db_url)  # the ingester's (its thread only)
        self.check = open_store(db_url)  # the test's
        self.loop = IngestLoop(self.store, Verifier(gates), log=self.logged.append)
        self.client, connected, refused = start_client(
            self.loop, parse_url(broker.url), INGEST, client_id, subscription(None, group or "")
        )
        assert connected.wait(10) and not refused
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop.is_set():
            self.loop.step(self.client)

    def wait_for(self, count, timeout_s=30):
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.check.count() < count:
            time.sleep(0.1)
        return self.check.count()

    def close(self):
        self.stop.set()
        self.thread.join(10)
        self.loop.finish()
        self.client.loop_stop()
        self.client.disconnect()
        self.store.close()
        self.check.close()


def gate_records(spool):
    """(boot, seq) of every record the spool holds for the gate."""
    return {(r["boot"], r["seq"]) for r in spool.query(device_id=DEVICE)}


def test_every_record_reaches_postgresql_once_and_the_gate_is_acknowledged(
    tmp_path, mqtt_broker, pg_url
):
    ingester = Ingester(mqtt_broker, pg_url, gates={DEVICE})
    spool = SpoolStore(str(tmp_path / "spool.db"))
    try:
        result, core = run_gate(spool, mqtt_broker.url)
        core.close(wait_s=30)
        sent = result.world.uart.tx
        assert sent and spool.pending_count() == 0
        expected = gate_records(spool)
        assert ingester.wait_for(len(expected)) == len(expected)
        stored = {(r["boot"], r["seq"]) for r in ingester.check.query(device_id=DEVICE)}
        assert stored == expected
        assert ingester.check.duplicates() == 0
        assert ingester.check.count("passage") == spool.count("passage") > 5
        assert core.stats["gate_acks"] >= 1  # the gate confirmed an ACK of what the broker took
        assert ingester.loop.counts["malformed"] == ingester.loop.counts["unknown_gate"] == 0
    finally:
        ingester.close()
        spool.close()


def test_no_gate_ack_while_the_broker_is_down_and_a_restarted_bridge_publishes_its_spool(
    tmp_path, pg_url
):
    broker = LocalMosquitto(tmp_path / "broker", users=dict([BRIDGE, INGEST]))
    spool_path = str(tmp_path / "spool.db")
    spool = SpoolStore(spool_path)
    result, core = run_gate(spool, broker.url, minutes=2.0)  # the broker is not running
    assert core.stats["gate_acks_sent"] == 0  # nothing is safe at a broker: no ACK
    assert spool.ack_point(DEVICE) is None
    waiting = spool.pending_count()
    assert waiting == spool.count() > 10
    core.close()
    spool.close()
    broker.start()
    ingester = Ingester(broker, pg_url)
    spool = SpoolStore(spool_path)  # the bridge restarted: same spool, no gate talking yet
    again = BridgeCore(
        spool, protocol.PIN_DEFAULT, "test", parse_url(broker.url),
        lambda client_id: make_client(parse_url(broker.url), client_id, BRIDGE),
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while spool.pending_count() and time.monotonic() < deadline:
            again.poll(time.monotonic())
            time.sleep(0.02)
        assert spool.pending_count() == 0
        assert ingester.wait_for(waiting) == waiting
        assert spool.ack_point(DEVICE) is not None  # now the gate may be told
    finally:
        again.close()
        ingester.close()
        spool.close()
        broker.stop()


def test_records_survive_a_broker_restart_and_a_network_cut(tmp_path, pg_url):
    broker = LocalMosquitto(tmp_path / "broker", users=dict([BRIDGE, INGEST])).start()
    ingester = Ingester(broker, pg_url)
    spool = SpoolStore(str(tmp_path / "spool.db"))
    holder = {}
    make = bridge_factory(broker.url, holder)

    def restarting_bridge(*a, **k):
        core = make(*a, **k)
        poll = core.poll

        def poll_and_restart(now):
            if now >= 120.0 and not broker.restarts:  # two minutes into the run
                assert core.stats["published"] > 0
                broker.restart(down_s=0.3)
            return poll(now)

        core.poll = poll_and_restart
        return core

    host = SimHost(spool, start_unix=START_UNIX, session_factory=restarting_bridge)
    attach = host.attach
    host.attach = lambda world: (holder.__setitem__("world", world), attach(world))
    try:
        run_simulation(Scenario.poisson(9, 5.0, 8), runtime="cpython", seed=9, host=host,
                       device_id=DEVICE, flash=str(tmp_path / "flash"))  # fmt: skip
        core = holder["core"]
        assert core.stats["disconnects"] >= 1
        core.close(wait_s=30)
        expected = spool.count()
        assert spool.pending_count() == 0
        assert ingester.wait_for(expected) == expected
        assert ingester.check.duplicates() == 0
        assert broker.restarts == 1
    finally:
        ingester.close()
        spool.close()
        broker.stop()


def test_a_bridge_cut_from_the_network_keeps_its_records_and_publishes_them_later(
    tmp_path, mqtt_broker, pg_url
):
    ingester = Ingester(mqtt_broker, pg_url)
    spool = SpoolStore(str(tmp_path / "spool.db"))
    try:
        holder = {}
        make = bridge_factory(mqtt_broker.url, holder)

        def cut_bridge(*a, **k):
            core = make(*a, **k)
            core.network_down(30.0, 150.0)  # simulated seconds 30..150 of a 4-minute run
            return core

        host = SimHost(spool, start_unix=START_UNIX, session_factory=cut_bridge)
        attach = host.attach
        host.attach = lambda world: (holder.__setitem__("world", world), attach(world))
        run_simulation(Scenario.poisson(3, 4.0, 8), runtime="cpython", seed=3, host=host,
                       device_id=DEVICE, flash=str(tmp_path / "flash"))  # fmt: skip
        core = holder["core"]
        assert core.stats["network_cuts"] == 1
        core.close(wait_s=30)
        assert spool.pending_count() == 0
        assert ingester.wait_for(spool.count()) == spool.count()
    finally:
        ingester.close()
        spool.close()


def test_availability_with_a_last_will_and_home_assistant_discovery(tmp_path, pg_url):
    users = dict([BRIDGE, INGEST, ("homeassistant", "ha-pw")])
    broker = LocalMosquitto(tmp_path / "broker", users=users).start()
    seen = {}
    ha = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ha", protocol=mqtt.MQTTv311)
    ha.username_pw_set("homeassistant", "ha-pw")
    ha.on_message = lambda _c, _u, m: seen.__setitem__(m.topic, (m.payload, m.retain))
    ha.on_connect = lambda c, *_: c.subscribe([("homeassistant/#", 1), ("fevergate/#", 1)])
    spool = SpoolStore(str(tmp_path / "spool.db"))
    try:
        _result, core = run_gate(spool, broker.url, minutes=3.0, seed=11)
        time.sleep(0.5)
        core._publish_state()
        time.sleep(0.5)
        # a late Home Assistant gets the retained discovery, state and availability
        ha.connect("127.0.0.1", broker.port)
        ha.loop_start()
        node = f"fevergate_{DEVICE:08X}"
        avail = f"fevergate/test/{DEVICE:08X}/availability"
        deadline = time.monotonic() + 10
        while len([t for t in seen if t.startswith("homeassistant/")]) < 4:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        config = json.loads(seen[f"homeassistant/sensor/{node}/people_today/config"][0])
        assert config["state_topic"] == f"fevergate/test/{DEVICE:08X}/state"
        assert config["availability_topic"] == avail
        assert f"homeassistant/binary_sensor/{node}/fault/config" in seen
        state = json.loads(seen[f"fevergate/test/{DEVICE:08X}/state"][0])
        passages_in = sum(
            1 for r in spool.query(type_="passage") if r["fields"]["direction"] == protocol.DIR_IN
        )
        assert state["people_today"] == passages_in > 0
        assert state["last_temp_c"] is not None and state["faults"] == []
        assert seen[avail] == (b"online", True)
        core.network_down(0, float("inf"))
        core.poll(1.0)  # the link dies without a DISCONNECT: the broker sends the will
        deadline = time.monotonic() + 10
        while seen[avail][0] != b"offline":
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        ha.loop_stop()
        ha.disconnect()
        spool.close()
        broker.stop()


def test_the_ack_point_stops_before_a_gap_and_before_what_the_broker_has_not_taken(tmp_path):
    from host_tools.decoder import StreamDecoder, encode_record

    def passage(seq):
        return encode_record("passage", seq, seq * 100, verdict=0, direction=0, temp_cc=3650,
                             transit_cs=40)  # fmt: skip

    boot = encode_record("boot", 0, 0, reset_cause=1, fw_version=protocol.FW_VERSION,
                         boot_count=4, device_id=DEVICE)  # fmt: skip
    spool = SpoolStore(str(tmp_path / "s.db"))
    decoder = StreamDecoder()
    spool.ingest(decoder.feed(boot + b"".join(passage(s) for s in (1, 2, 3, 5, 6))))
    recs = [row[0] for row in spool.pending(0, 100)]
    assert len(recs) == 6 and spool.ack_point(DEVICE) is None  # seq 0 still waiting
    spool.acked(recs[:2])
    assert spool.ack_point(DEVICE) == (4, 1)
    spool.acked(recs)
    assert spool.ack_point(DEVICE) == (4, 3)  # seq 4 never arrived: not past the gap
    spool.ingest(decoder.feed(boot + passage(1)))  # stored already: not queued again
    assert spool.pending_count() == 0
    spool.close()


def test_the_bridge_sends_the_sites_utc_offset_with_the_time(tmp_path, mqtt_broker):
    import zoneinfo

    spool = SpoolStore(str(tmp_path / "spool.db"))
    try:
        _, core = run_gate(
            spool, mqtt_broker.url, minutes=0.5, tz=zoneinfo.ZoneInfo("Asia/Shanghai")
        )
        core.close(wait_s=10)
        echoed = [
            r["fields"].get("value")
            for r in spool.query(device_id=DEVICE)
            if r["type"] == "config" and r["fields"].get("key") == protocol.KEY_UTC_OFFSET
        ]
        assert echoed and set(echoed) == {480}  # the gate's day is Shanghai's
    finally:
        spool.close()
