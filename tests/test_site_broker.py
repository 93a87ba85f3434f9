"""The site's broker as the tests run it (host_tools/siteparts.py): real Mosquitto, anonymous
access off, so a client without the site's credentials can neither publish records nor read
them, while the bridge and ingest users can."""

import threading
import time

import paho.mqtt.client as mqtt
import pytest


def client(broker, username=None, password=None, client_id=""):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if username is not None:
        c.username_pw_set(username, password)
    return c


def connect_code(c, broker) -> int:
    """The CONNACK reason code (0 = accepted)."""
    got = threading.Event()
    code = []

    def on_connect(_c, _u, _flags, reason, _props):
        code.append(reason.value)
        got.set()

    c.on_connect = on_connect
    c.connect("127.0.0.1", broker.port)
    c.loop_start()
    assert got.wait(10)
    return code[0]


def test_a_client_without_credentials_is_refused(mqtt_broker):
    anonymous = client(mqtt_broker)
    try:
        assert connect_code(anonymous, mqtt_broker) != 0  # not authorised
    finally:
        anonymous.loop_stop()
        anonymous.disconnect()


def test_a_wrong_password_is_refused(mqtt_broker):
    intruder = client(mqtt_broker, "bridge", "guess")
    try:
        assert connect_code(intruder, mqtt_broker) != 0
    finally:
        intruder.loop_stop()
        intruder.disconnect()


def test_records_reach_a_reader_only_with_the_site_credentials(mqtt_broker):
    received = []
    reader = client(mqtt_broker, "ingest", "ingest-pw")
    reader.on_message = lambda _c, _u, msg: received.append(msg.payload)
    assert connect_code(reader, mqtt_broker) == 0
    subscribed = threading.Event()
    reader.on_subscribe = lambda *_a: subscribed.set()
    reader.subscribe("fevergate/#", qos=1)
    assert subscribed.wait(10)
    anonymous = client(mqtt_broker)
    anonymous.connect("127.0.0.1", mqtt_broker.port)
    anonymous.loop_start()
    anonymous.publish("fevergate/site/1/records", b"forged", qos=1)
    writer = client(mqtt_broker, "bridge", "bridge-pw")
    assert connect_code(writer, mqtt_broker) == 0
    writer.publish("fevergate/site/1/records", b"real", qos=1).wait_for_publish(10)
    deadline = time.monotonic() + 10
    while not received and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    for c in (reader, writer, anonymous):
        c.loop_stop()
        c.disconnect()
    assert received == [b"real"]


@pytest.mark.parametrize("user", ["", "bridge"])
def test_only_the_ingest_user_reads_records(mqtt_broker, user):
    """An anonymous client is refused; the bridge user may write records but not read them."""
    received = []
    eavesdropper = client(mqtt_broker, user or None, "bridge-pw" if user else None)
    eavesdropper.on_message = lambda _c, _u, msg: received.append(msg.payload)
    eavesdropper.connect("127.0.0.1", mqtt_broker.port)
    eavesdropper.loop_start()
    time.sleep(0.3)
    eavesdropper.subscribe("fevergate/#", qos=1)
    writer = client(mqtt_broker, "bridge", "bridge-pw")
    assert connect_code(writer, mqtt_broker) == 0
    time.sleep(0.3)
    writer.publish("fevergate/site/1/records", b"secret", qos=1).wait_for_publish(10)
    time.sleep(0.5)
    for c in (eavesdropper, writer):
        c.loop_stop()
        c.disconnect()
    assert received == []
