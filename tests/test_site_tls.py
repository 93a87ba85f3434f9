"""mqtts:// with a CA file (host_tools/mqttlink.py): the bridge's and the ingester's client
connect to a TLS broker whose certificate the site's CA signed, and refuse one that another CA
signed. Certificates are made for the test with the openssl command."""

import ssl
import subprocess
import threading

import pytest

from host_tools.mqttlink import make_client, parse_url
from host_tools.siteparts import LocalMosquitto


def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_ca(folder, name):
    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key",
            "-out", f"{name}.pem", "-days", "2", "-subj", f"/CN={name}", cwd=folder)  # fmt: skip
    return folder / f"{name}.pem"


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tls")
    ca = make_ca(folder, "site-ca")
    other = make_ca(folder, "other-ca")
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "broker.key", "-out",
            "broker.csr", "-subj", "/CN=127.0.0.1", cwd=folder)  # fmt: skip
    (folder / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl("x509", "-req", "-in", "broker.csr", "-CA", "site-ca.pem", "-CAkey", "site-ca.key",
            "-CAcreateserial", "-out", "broker.crt", "-days", "2", "-extfile", "san.ext",
            cwd=folder)  # fmt: skip
    broker = LocalMosquitto(
        folder / "broker", users={"bridge": "bridge-pw", "ingest": "ingest-pw"},
        tls=(str(folder / "broker.crt"), str(folder / "broker.key")),
    )  # fmt: skip
    broker.start()
    yield broker, ca, other
    broker.stop()


def test_a_record_crosses_a_tls_broker_checked_against_the_site_ca(tls_broker):
    broker, ca, _other = tls_broker
    url = parse_url(broker.url)
    assert broker.url.startswith("mqtts://") and url.tls
    got = threading.Event()
    reader = make_client(url, "tls-reader", ("ingest", "ingest-pw"), ca_file=str(ca))
    reader.on_message = lambda _c, _u, msg: got.set() if msg.payload == b"over tls" else None
    subscribed = threading.Event()
    reader.on_subscribe = lambda *_a: subscribed.set()
    reader.connect(url.host, url.port)
    reader.subscribe("fevergate/+/+/records", qos=1)
    reader.loop_start()
    writer = make_client(url, "tls-writer", ("bridge", "bridge-pw"), ca_file=str(ca))
    writer.connect(url.host, url.port)
    writer.loop_start()
    try:
        assert subscribed.wait(10)
        writer.publish("fevergate/t/00000001/records", b"over tls", qos=1).wait_for_publish(10)
        assert got.wait(10)
    finally:
        for c in (reader, writer):
            c.loop_stop()
            c.disconnect()


def test_a_broker_certificate_from_another_ca_is_refused(tls_broker):
    broker, _ca, other = tls_broker
    url = parse_url(broker.url)
    client = make_client(url, "tls-wrong-ca", ("bridge", "bridge-pw"), ca_file=str(other))
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(url.host, url.port)


def test_plain_mqtt_to_the_tls_port_gets_nowhere(tls_broker):
    broker, _ca, _other = tls_broker
    plain = parse_url(broker.url.replace("mqtts://", "mqtt://"))
    client = make_client(plain, "tls-plain", ("bridge", "bridge-pw"))
    connected = threading.Event()
    client.on_connect = lambda _c, _u, _f, reason, _p: (
        connected.set() if not reason.is_failure else None
    )
    try:
        client.connect(plain.host, plain.port)
        client.loop_start()
        assert not connected.wait(2)
    except OSError:
        pass  # the broker closed the connection at once: also nowhere
    finally:
        client.loop_stop()
