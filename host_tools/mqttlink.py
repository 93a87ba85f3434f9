"""Connecting to the site's MQTT broker: URL, credentials, TLS, topics (docs/SITE.md).

`mqtt://host[:1883]` or `mqtts://host[:8883]` (TLS, checked against `--ca-file` or the
system's CAs). Credentials never come from the command line: a file (`--credentials FILE`,
one line `username:password`, or the username and the password on two lines) or the
environment (FEVERGATE_MQTT_USERNAME, FEVERGATE_MQTT_PASSWORD). A URL with a user or password
in it is refused.

Topics, one gate `<device>` (8 hex digits) at site `<site>`:
    fevergate/<site>/<device>/records       QoS 1: one message per record (the gate's frame)
    fevergate/<site>/<device>/availability  retained: online / offline (the bridge's last will)
    fevergate/<site>/<device>/state         retained JSON: people and fevers today, last
                                            temperature, faults (Home Assistant reads it)
    homeassistant/<component>/fevergate_<device>/<object>/config   retained discovery
"""

from __future__ import annotations

import os
import ssl
import urllib.parse
from dataclasses import dataclass

from host_tools.errors import EXIT_USAGE, FevergateError

__all__ = [
    "BrokerURL",
    "parse_url",
    "load_credentials",
    "make_client",
    "records_topic",
    "availability_topic",
    "state_topic",
    "RECORDS_FILTER",
    "ENV_USERNAME",
    "ENV_PASSWORD",
]

ENV_USERNAME = "FEVERGATE_MQTT_USERNAME"
ENV_PASSWORD = "FEVERGATE_MQTT_PASSWORD"
RECORDS_FILTER = "fevergate/+/+/records"


@dataclass(frozen=True)
class BrokerURL:
    tls: bool
    host: str
    port: int

    def __str__(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def parse_url(url: str) -> BrokerURL:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("mqtt", "mqtts"):
        raise FevergateError(f"{url!r}: the broker URL is mqtt://host[:port] or mqtts://", 2)
    if parts.username or parts.password:
        raise FevergateError(
            "no credentials in the broker URL (they would show in the process list): use "
            f"--credentials FILE or {ENV_USERNAME} / {ENV_PASSWORD}",
            EXIT_USAGE,
        )
    if not parts.hostname:
        raise FevergateError(f"{url!r}: no broker host", EXIT_USAGE)
    tls = parts.scheme == "mqtts"
    try:
        port = parts.port or (8883 if tls else 1883)
    except ValueError:
        raise FevergateError(f"{url!r}: bad port", EXIT_USAGE) from None
    return BrokerURL(tls, parts.hostname, port)


def load_credentials(path: str | None) -> tuple[str, str] | None:
    """(username, password) from the file, else from the environment, else None."""
    if path:
        try:
            with open(path, encoding="utf-8") as f:
                lines = [line.rstrip("\r\n") for line in f if line.strip()]
        except OSError as exc:
            raise FevergateError(f"{path}: cannot read ({exc.strerror})", 6) from None
        if len(lines) == 1 and ":" in lines[0]:
            user, password = lines[0].split(":", 1)
            return user, password
        if len(lines) == 2:
            return lines[0], lines[1]
        raise FevergateError(
            f"{path}: write one line username:password, or the username and the password on "
            "two lines",
            EXIT_USAGE,
        )
    user = os.environ.get(ENV_USERNAME)
    if user:
        return user, os.environ.get(ENV_PASSWORD, "")
    return None


def make_client(
    broker: BrokerURL,
    client_id: str,
    credentials: tuple[str, str] | None,
    *,
    clean_session: bool = True,
    ca_file: str | None = None,
    manual_ack: bool = False,
):
    """A paho client (MQTT 3.1.1), not yet connected, reconnecting by itself once started."""
    import paho.mqtt.client as mqtt

    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean_session,
        protocol=mqtt.MQTTv311,
        manual_ack=manual_ack,
    )
    if credentials is not None:
        client.username_pw_set(*credentials)
    if broker.tls:
        try:
            client.tls_set(ca_certs=ca_file, cert_reqs=ssl.CERT_REQUIRED)
        except (OSError, ssl.SSLError) as exc:
            raise FevergateError(f"{ca_file}: cannot use as a CA file ({exc})", 6) from None
    client.reconnect_delay_set(min_delay=1, max_delay=5)
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    return client


def records_topic(site: str, device_id: int) -> str:
    return f"fevergate/{site}/{device_id:08X}/records"


def availability_topic(site: str, device_id: int) -> str:
    return f"fevergate/{site}/{device_id:08X}/availability"


def state_topic(site: str, device_id: int) -> str:
    return f"fevergate/{site}/{device_id:08X}/state"
