"""`fevergate ingest` (host_tools/ingest.py) against the real Mosquitto and PostgreSQL of
tests/conftest.py: persistent session, shared subscriptions, each record once, and nothing
stored that it cannot verify."""

import io
import json
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from host_tools.bridge import record_message
from host_tools.cli import State, main
from host_tools.decoder import encode_record, encode_replay
from host_tools.errors import FevergateError
from host_tools.ingest import IngestLoop, Verifier, start_client, subscription
from host_tools.mqttlink import load_credentials, parse_url
from host_tools.store import open_store
from host_tools.wire import protocol

GATE = 0x53470007
OTHER = 0x53470999
TOPIC = f"fevergate/t/{GATE:08X}/records"
BRIDGE = ("bridge", "bridge-pw")
INGEST = ("ingest", "ingest-pw")


def boot_frame(device_id=GATE, boot_count=2):
    return encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=protocol.FW_VERSION, boot_count=boot_count,
        device_id=device_id,
    )[:-1]  # fmt: skip


def passage_frame(seq):
    return encode_record(
        "passage", seq, seq * 100, verdict=0, direction=0, temp_cc=3600 + seq, transit_cs=40
    )[:-1]


def message(frame, boot=2, device_id=GATE):
    return record_message(device_id, boot, 1_770_000_000.0, frame, time.time())


def publisher(broker):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="", protocol=mqtt.MQTTv311)
    c.username_pw_set(*BRIDGE)
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    return c


def publish_all(client, items):
    infos = [client.publish(topic, payload, qos=1) for topic, payload in items]
    for info in infos:
        info.wait_for_publish(10)


class Runner:
    def __init__(self, broker, db_url, client_id, gates=None, group=None):
        group = client_id if group is None else group  # a group per test: see docs/SITE.md
        self.logged = []
        self.store = open_store(db_url)  # the ingester's (its thread only)
        self.check = open_store(db_url)  # the test's
        self.loop = IngestLoop(self.store, Verifier(gates), log=self.logged.append)
        self.client, connected, refused = start_client(
            self.loop, parse_url(broker.url), INGEST, client_id, subscription("t", group)
        )
        assert connected.wait(10) and not refused
        time.sleep(0.2)  # the SUBACK
        self.stop_flag = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stop_flag.is_set():
            self.loop.step(self.client)

    def settle(self, received, timeout_s=20):
        deadline = time.monotonic() + timeout_s
        while self.loop.counts["received"] < received and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)

    def stop(self):
        self.stop_flag.set()
        self.thread.join(10)
        self.client.loop_stop()
        self.client.disconnect()
        self.store.close()
        self.check.close()


def test_a_message_that_fails_a_check_is_counted_logged_and_never_stored(mqtt_broker, pg_url):
    runner = Runner(mqtt_broker, pg_url, "t-checks", gates={GATE})
    damaged = bytearray(passage_frame(3))
    damaged[5] ^= 0x40
    bad = [
        (TOPIC, b"not json"),
        (TOPIC, json.dumps({"device_id": GATE}).encode()),  # no frame
        (TOPIC, message(bytes(damaged))),  # CRC mismatch
        (TOPIC, message(b"\x01\x02")),  # not a frame
        (TOPIC, message(passage_frame(4), device_id=OTHER)),  # under another gate's topic
        (f"fevergate/t/{OTHER:08X}/records", message(passage_frame(5), device_id=OTHER)),
        (TOPIC, message(boot_frame(device_id=OTHER))),  # a BOOT of another device
        (TOPIC, message(encode_replay(9, bytes(3))[:-1])),  # a REPLAY of nothing
    ]
    good = [(TOPIC, message(boot_frame())), (TOPIC, message(passage_frame(1)))]
    client = publisher(mqtt_broker)
    try:
        publish_all(client, bad + good)
        runner.settle(len(bad) + len(good))
        counts = runner.loop.counts
        assert counts["received"] == len(bad) + len(good)
        assert (counts["malformed"], counts["unknown_gate"]) == (5, 3)
        assert runner.check.count() == 2
        assert [r["type"] for r in runner.check.query()] == ["boot", "passage"]
        assert len(runner.logged) == 8 and all("not stored" in line for line in runner.logged)
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()


def test_a_record_delivered_twice_is_stored_once(mqtt_broker, pg_url):
    runner = Runner(mqtt_broker, pg_url, "t-twice")
    items = [(TOPIC, message(boot_frame()))] + [(TOPIC, message(passage_frame(s))) for s in (1, 2)]
    client = publisher(mqtt_broker)
    try:
        publish_all(client, items + items[1:])
        runner.settle(5)
        assert runner.check.count() == 3
        assert runner.loop.counts["duplicates"] == 2
        assert runner.check.duplicates() == 0
    finally:
        client.loop_stop()
        client.disconnect()
        runner.stop()


def test_nothing_published_while_the_ingester_was_down_is_lost(mqtt_broker, pg_url):
    first = Runner(mqtt_broker, pg_url, "t-persistent", group="")
    first.stop()  # its session stays at the broker
    client = publisher(mqtt_broker)
    items = [(TOPIC, message(boot_frame()))] + [
        (TOPIC, message(passage_frame(s))) for s in range(1, 40)
    ]
    try:
        publish_all(client, items)
    finally:
        client.loop_stop()
        client.disconnect()
    again = Runner(mqtt_broker, pg_url, "t-persistent", group="")
    try:
        again.settle(len(items))
        assert again.check.count() == len(items)
    finally:
        again.stop()


def test_two_ingesters_share_the_load(mqtt_broker, pg_url):
    one = Runner(mqtt_broker, pg_url, "t-share-1", group="share")
    two = Runner(mqtt_broker, pg_url, "t-share-2", group="share")
    items = [(TOPIC, message(boot_frame()))] + [
        (TOPIC, message(passage_frame(s))) for s in range(1, 300)
    ]
    client = publisher(mqtt_broker)
    try:
        publish_all(client, items)
        deadline = time.monotonic() + 20
        while (
            one.loop.counts["received"] + two.loop.counts["received"] < len(items)
            and time.monotonic() < deadline
        ):
            time.sleep(0.05)
        time.sleep(0.3)
        got = (one.loop.counts["received"], two.loop.counts["received"])
        assert sum(got) == len(items)  # each message to one of them
        assert min(got) > 0
        assert one.check.count() == len(items)
    finally:
        client.loop_stop()
        client.disconnect()
        one.stop()
        two.stop()


def test_credentials_come_from_a_file_or_the_environment_never_the_url(tmp_path, monkeypatch):
    cred = tmp_path / "ingest.cred"
    cred.write_text("ingest:s3cret:with:colons\n")
    assert load_credentials(str(cred)) == ("ingest", "s3cret:with:colons")
    cred.write_text("ingest\nline two\n")
    assert load_credentials(str(cred)) == ("ingest", "line two")
    monkeypatch.setenv("FEVERGATE_MQTT_USERNAME", "env-user")
    monkeypatch.setenv("FEVERGATE_MQTT_PASSWORD", "env-pw")
    assert load_credentials(None) == ("env-user", "env-pw")
    with pytest.raises(FevergateError) as info:
        parse_url("mqtt://ingest:s3cret@127.0.0.1:1883")
    assert "s3cret" not in info.value.message
    err = io.StringIO()
    code = main(
        ["ingest", "--mqtt", "mqtt://u:p@127.0.0.1", "--db", str(tmp_path / "x.db")],
        State(out=io.StringIO(), err=err),
    )
    assert code == 2 and "no credentials in the broker URL" in err.getvalue()


def test_fevergate_ingest_refused_without_credentials_says_so(mqtt_broker, tmp_path, monkeypatch):
    monkeypatch.delenv("FEVERGATE_MQTT_USERNAME", raising=False)
    err = io.StringIO()
    code = main(
        ["ingest", "--mqtt", mqtt_broker.url, "--db", str(tmp_path / "x.db"), "--duration", "1"],
        State(out=io.StringIO(), err=err),
    )
    assert code == 1
    assert "refused" in err.getvalue()
