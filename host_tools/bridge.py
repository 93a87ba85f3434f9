"""`fevergate bridge PORT --mqtt URL`: beside one gate, its records to the site's broker.

`BridgeCore` has the shape of a sync session (`start`, `feed`, `poll`: bytes from the gate in,
bytes to the gate out), so `fevergate bridge` drives it on a serial port with the wall clock
and the simulator (`fevergate simulate --gates`) drives it on the simulated UART. Inside:

1. The same sync as `fevergate sync` (host_tools/sync.py): STATUS, TIME_SYNC, BACKLOG from
   where the spool stopped, gap filling, then live records, into the spool
   (host_tools/spool.py) instead of a laptop's store. The session does not acknowledge by
   itself (`ACK_AFTER_DOWNLOAD = False`).
2. Every record new in the spool is published once to `fevergate/<site>/<device>/records`
   with QoS 1 (docs/SITE.md has the message), oldest first, at most `max_in_flight` waiting
   for the broker. The broker's PUBACK removes it from the spool's outbox. After a reconnect
   (broker restarted, network back) and after a bridge restart, whatever the outbox still
   holds is published again: the ingester stores each record once.
3. The gate is acknowledged (ACK, PIN) only up to `spool.ack_point()`: the last record of the
   newest boot before the first one the broker has not acknowledged and before the first gap,
   so the gate's journal keeps everything that is not yet safe at the broker. At most every
   `ack_interval_s` (30 s): each ACK is a write to the gate's flash.
4. Availability: `.../availability` retained `online` once connected, `offline` as the last
   will (the broker says it when the bridge or its network dies) and on a clean stop.
5. Home Assistant MQTT discovery (retained, under `homeassistant/`): sensors people in
   today, fevers today, last temperature, and a problem binary sensor for active faults, all
   read from the retained `.../state` JSON, republished when the spool changed.

The MQTT side connects once the gate said which device it is (the topics and the last will
name it). `network_down(start, until)` cuts this bridge's link to the broker for a while (the
simulator's --bridge-offline).
"""

from __future__ import annotations

import collections
import datetime
import json
import threading
import time

from host_tools.decoder import FAULT_NAMES, Status
from host_tools.device import encode_command
from host_tools.mqttlink import availability_topic, records_topic, state_topic
from host_tools.spool import SpoolStore
from host_tools.store import DEVICE_UNKNOWN
from host_tools.sync import LIVE, SyncSession, pack_key
from host_tools.wire import protocol

__all__ = ["BridgeCore", "BridgeSession", "record_message", "discovery_messages"]

_ACK_TAG0 = 0x7A00  # tags of the bridge's own ACK commands (the session's start at 0x5100)
_MEASURED = (protocol.VERDICT_NORMAL, protocol.VERDICT_FEVER)


class BridgeSession(SyncSession):
    """The sync session of a bridge: no ACK of its own; REPLYs to the bridge's ACKs go to
    `on_ack_reply(tag, ok)`."""

    ACK_AFTER_DOWNLOAD = False

    def __init__(self, *args, on_ack_reply=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.on_ack_reply = on_ack_reply

    def _on_event(self, event, now: float) -> bytes:
        record = event.record
        if (
            event.status is Status.OK
            and record.type == "reply"
            and record.fields["command"] == protocol.CMD_ACK
            and record.fields["arg"] & 0xFF00 == _ACK_TAG0
            and self.on_ack_reply is not None
        ):
            self.on_ack_reply(record.fields["arg"], record.fields["status"] == protocol.REPLY_OK)
            self._events.append(event)
            return b""
        return super()._on_event(event, now)


def record_message(device_id: int, boot: int, wall_time, frame: bytes, read_at: float) -> bytes:
    """The JSON message of one record (docs/SITE.md)."""
    message = {
        "v": 1,
        "device_id": device_id,
        "boot": boot,
        "frame": frame.hex(),
        "wall_time": wall_time,
        "read_at": read_at,
    }
    return json.dumps(message, separators=(",", ":")).encode()


def discovery_messages(site: str, device_id: int) -> list[tuple[str, bytes]]:
    """Home Assistant MQTT discovery: (topic, retained config) for one gate."""
    dev = f"{device_id:08X}"
    node = f"fevergate_{dev}"
    common = {
        "state_topic": state_topic(site, device_id),
        "availability_topic": availability_topic(site, device_id),
        "device": {
            "identifiers": [node],
            "name": f"Fevergate {site} {dev}",
            "manufacturer": "fevergate",
            "model": "walk-through screening gate",
        },
    }
    sensors = [
        ("sensor", "people_today", "People in today", {"unit_of_measurement": "people"}),
        ("sensor", "fevers_today", "Fevers today", {"unit_of_measurement": "people"}),
        (
            "sensor",
            "last_temp_c",
            "Last temperature",
            {"device_class": "temperature", "unit_of_measurement": "°C"},
        ),
    ]
    out = []
    for component, key, name, extra in sensors:
        config = {
            "name": name,
            "unique_id": f"{node}_{key}",
            "value_template": "{{ value_json." + key + " }}",
            **extra,
            **common,
        }
        out.append((f"homeassistant/{component}/{node}/{key}/config", config))
    fault = {
        "name": "Fault",
        "unique_id": f"{node}_fault",
        "device_class": "problem",
        "value_template": "{{ 'ON' if value_json.faults else 'OFF' }}",
        "json_attributes_topic": state_topic(site, device_id),
        "json_attributes_template": "{{ {'faults': value_json.faults} | tojson }}",
        **common,
    }
    out.append((f"homeassistant/binary_sensor/{node}/fault/config", fault))
    return [(topic, json.dumps(config, sort_keys=True).encode()) for topic, config in out]


class BridgeCore:
    """One gate's bridge: sync into the spool, publish, acknowledge what the broker took."""

    def __init__(
        self,
        spool: SpoolStore,
        pin: int,
        site: str,
        broker,
        client_factory,
        *,
        unix_time=None,
        clock=time.time,
        tz: datetime.tzinfo | None = None,
        reply_timeout_s: float = 5.0,
        max_resends: int = 5,
        ack_interval_s: float = 30.0,
        state_interval_s: float = 5.0,
        max_in_flight: int = 1000,
    ) -> None:
        self.spool = spool
        self.pin = pin
        self.site = site
        self.broker = broker  # mqttlink.BrokerURL
        self.client_factory = client_factory  # (client_id) -> paho client, credentials, TLS
        self.clock = clock  # Unix seconds for "today" and read_at
        self.tz = tz
        self.ack_interval_s = ack_interval_s
        self.state_interval_s = state_interval_s
        self.max_in_flight = max_in_flight
        self.session = BridgeSession(
            spool,
            pin,
            unix_time=unix_time,
            utc_offset_min=utc_offset_min(tz, clock()),
            reply_timeout_s=reply_timeout_s,
            max_resends=max_resends,
            on_ack_reply=self._ack_reply,
        )
        self.client = None
        self.device_id = DEVICE_UNKNOWN
        known = [d for d in spool.devices() if d != DEVICE_UNKNOWN]
        self._spooled_device = known[0] if len(known) == 1 else None  # after a restart
        self.stats = collections.Counter()
        self._lock = threading.Lock()
        self._acks: collections.deque[int] = collections.deque()  # mids PUBACKed
        self._mids: dict[int, int] = {}  # mid -> spool rec
        self._connected = False
        self._reconnected = False
        self._sent_upto = 0  # outbox recs handed to the client since the last (re)connect
        self._next_ack_at = 0.0
        self._next_state_at = 0.0
        self._state_dirty = True
        self._ack_tag = _ACK_TAG0
        self._acked_point: tuple[int, int] | None = None  # the gate confirmed this
        self._asked_point: tuple[int, int] | None = None  # an ACK of this is under way
        self._asked_at = 0.0
        self._offline: tuple[float, float] | None = None
        self._cut = False

    # -- the session's shape ---------------------------------------------------------------
    @property
    def done(self) -> bool:
        return self.session.state == "failed"

    def start(self, now: float) -> bytes:
        return self.session.start(now)

    def feed(self, data: bytes, now: float) -> bytes:
        out = self.session.feed(data, now)
        return out + self._pump(now)

    def poll(self, now: float) -> bytes:
        return self.session.poll(now) + self._pump(now)

    def finish(self):
        return self.session.finish()

    # -- MQTT --------------------------------------------------------------------------------
    def _connect(self, device_id: int) -> None:
        self.device_id = device_id
        client = self.client_factory(f"fevergate-bridge-{self.site}-{self.device_id:08X}")
        client.will_set(
            availability_topic(self.site, self.device_id), b"offline", qos=1, retain=True
        )
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.connect_async(self.broker.host, self.broker.port, keepalive=10)
        client.loop_start()
        self.client = client

    def _on_connect(self, client, _userdata, _flags, reason, _props) -> None:
        if reason.is_failure:
            self.stats["connect_refused"] += 1
            return
        with self._lock:
            self._connected = True
            self._reconnected = True
        self.stats["connects"] += 1
        client.publish(availability_topic(self.site, self.device_id), b"online", 1, True)
        for topic, config in discovery_messages(self.site, self.device_id):
            client.publish(topic, config, qos=1, retain=True)

    def _on_disconnect(self, _client, _userdata, _flags, _reason, _props) -> None:
        with self._lock:
            self._connected = False
        self.stats["disconnects"] += 1

    def _on_publish(self, _client, _userdata, mid, reason, _props) -> None:
        if not reason.is_failure:
            self._acks.append(mid)

    def network_down(self, start: float, until: float) -> None:
        """Cut the link to the broker from `start` to `until` (the clock of `poll`)."""
        self._offline = (start, until)

    # -- the pump: acks in, records out, the gate's ACK, HA state -----------------------------
    def _pump(self, now: float) -> bytes:
        if self.client is None:
            if self.session.device_id != DEVICE_UNKNOWN and self.session.state != "identify":
                self._connect(self.session.device_id)
            elif self._spooled_device is not None:
                self._connect(self._spooled_device)  # publish the spool before the gate talks
            else:
                return b""
        elif self.session.device_id not in (DEVICE_UNKNOWN, self.device_id):
            self.stats["other_gate"] += 1  # another gate on this port: its own bridge, please
        self._take_acks()
        self._network(now)
        with self._lock:
            connected = self._connected
            if self._reconnected:
                self._reconnected = False
                self._sent_upto = 0  # publish the whole outbox again
                self._state_dirty = True
        if connected:
            self._publish()
            if now >= self._next_state_at and self._state_dirty:
                self._next_state_at = now + self.state_interval_s
                self._publish_state()
        return self._gate_ack(now)

    def _network(self, now: float) -> None:
        if self._offline is None:
            return
        start, until = self._offline
        if start <= now < until and not self._cut:
            self._cut = True
            self.stats["network_cuts"] += 1
            sock = self.client.socket()
            self.client.loop_stop()
            if sock is not None:
                try:
                    sock.close()  # as a dead network: no DISCONNECT, the broker sends the will
                except OSError:
                    pass
            with self._lock:
                self._connected = False
        elif now >= until and self._cut:
            self._cut = False
            self._offline = None
            self.client.reconnect_delay_set(min_delay=1, max_delay=5)
            try:
                self.client.reconnect()
            except OSError:
                pass
            self.client.loop_start()

    def _take_acks(self) -> None:
        recs = []
        acks = self._acks
        while acks:
            mid = acks.popleft()
            rec = self._mids.pop(mid, None)
            if rec is not None:
                recs.append(rec)
        if recs:
            self.spool.acked(recs)
            self.stats["acked"] += len(recs)
            self._state_dirty = True

    def _publish(self) -> None:
        room = self.max_in_flight - len(self._mids)
        if room <= 0 or self.spool.queued_upto <= self._sent_upto:
            return
        rows = self.spool.pending(self._sent_upto, room)
        topic = records_topic(self.site, self.device_id)
        for rec, device_id, boot, wall_time, frame, read_at in rows:
            if device_id != self.device_id:
                continue  # a record of another gate on this port before: not ours to send
            info = self.client.publish(
                topic, record_message(device_id, boot, wall_time, frame, read_at), qos=1
            )
            self._mids[info.mid] = rec
            self._sent_upto = rec
            self.stats["published"] += 1

    def _gate_ack(self, now: float) -> bytes:
        if self.session.state != LIVE or now < self._next_ack_at:
            return b""
        self._next_ack_at = now + self.ack_interval_s
        point = self.spool.ack_point(self.device_id, self.session._is_absent)
        if point is None or point == self._acked_point:
            return b""
        if point == self._asked_point and now - self._asked_at < 3 * self.ack_interval_s:
            return b""
        self._ack_tag = _ACK_TAG0 | ((self._ack_tag + 1) & 0xFF)
        self._asked_point = point
        self._asked_at = now
        self.stats["gate_acks_sent"] += 1
        return encode_command(protocol.CMD_ACK, self._ack_tag, self.pin, 0, pack_key(*point))

    def _ack_reply(self, tag: int, ok: bool) -> None:
        if tag == self._ack_tag and ok:
            self._acked_point = self._asked_point
            self.stats["gate_acks"] += 1
        elif not ok:
            self.stats["gate_ack_refused"] += 1

    # -- Home Assistant state -----------------------------------------------------------------
    def state(self) -> dict:
        """People in and fevers today (the site's timezone), last temperature, faults."""
        now = datetime.datetime.fromtimestamp(self.clock(), self.tz or datetime.timezone.utc)
        midnight = now.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        read = self.spool._read
        dev = self.device_id
        people, fevers = read(
            "SELECT COALESCE(SUM(json_extract(fields, '$.direction') = ?), 0), "
            "COALESCE(SUM(json_extract(fields, '$.verdict') = ?), 0) FROM records "
            "WHERE device_id = ? AND type = 'passage' AND wall_time >= ?",
            (protocol.DIR_IN, protocol.VERDICT_FEVER, dev, midnight),
        )[0]
        last = read(
            "SELECT json_extract(fields, '$.temp_cc') FROM records WHERE device_id = ? "
            "AND type = 'passage' AND json_extract(fields, '$.verdict') IN (?, ?) "
            "ORDER BY boot DESC, t_cs DESC LIMIT 1",
            (dev, *_MEASURED),
        )
        boots = self.spool.boots(dev)
        active: dict[str, bool] = {}
        if boots:
            for code, on in read(
                "SELECT json_extract(fields, '$.code'), json_extract(fields, '$.active') "
                "FROM records WHERE device_id = ? AND boot = ? AND type = 'fault' ORDER BY t_cs",
                (dev, boots[-1]),
            ):
                active[FAULT_NAMES.get(code, str(code))] = bool(on)
        return {
            "people_today": people,
            "fevers_today": fevers,
            "last_temp_c": None if not last else round(last[0][0] / 100, 2),
            "faults": sorted(name for name, on in active.items() if on),
            "pending": self.spool.pending_count(),
        }

    def _publish_state(self) -> None:
        self._state_dirty = False
        payload = json.dumps(self.state(), sort_keys=True).encode()
        self.client.publish(state_topic(self.site, self.device_id), payload, qos=1, retain=True)

    def close(self, wait_s: float = 0.0) -> None:
        """Waits up to `wait_s` for the outbox to empty, says offline, disconnects."""
        if self.client is not None:
            deadline = time.monotonic() + wait_s
            while time.monotonic() < deadline and self.spool.pending_count():
                self._pump(float("inf"))
                time.sleep(0.02)
            self._take_acks()
            if not self._cut:
                info = self.client.publish(
                    availability_topic(self.site, self.device_id), b"offline", 1, True
                )
                try:
                    info.wait_for_publish(2)
                except (RuntimeError, ValueError):
                    pass
                self.client.disconnect()
            self.client.loop_stop()


# -- `fevergate bridge PORT` ---------------------------------------------------------------


def argparse_bridge(parser) -> None:
    import textwrap

    parser.description = textwrap.fill(
        "Run beside one gate: sync its journal and live records as `fevergate sync` does, "
        "keep them in a local spool, publish each to the site's MQTT broker (QoS 1) and "
        "acknowledge to the gate only what the broker acknowledged. Publishes availability "
        "(with a last will) and Home Assistant discovery. Credentials come from --credentials "
        "FILE or FEVERGATE_MQTT_USERNAME and FEVERGATE_MQTT_PASSWORD, never from the command "
        "line. Stop with Ctrl-C.",
        79,
    )
    parser.epilog = (
        "examples:\n"
        "  fevergate bridge /dev/ttyUSB0 --mqtt mqtts://broker.site:8883 --ca-file ca.pem \\\n"
        "      --credentials /etc/fevergate/bridge.cred --site campus --spool gate.spool\n"
        "  FEVERGATE_PIN=1234 FEVERGATE_MQTT_USERNAME=bridge FEVERGATE_MQTT_PASSWORD=... \\\n"
        "      fevergate bridge /dev/ttyACM0 --mqtt mqtt://127.0.0.1 --spool gate.spool"
    )
    parser.add_argument("port", metavar="PORT", help="serial port or pyserial URL")
    parser.add_argument(
        "--mqtt", required=True, metavar="URL", help="mqtt://host[:port] or mqtts://"
    )
    parser.add_argument("--site", default="site", help="the site's name in the topics (site)")
    parser.add_argument(
        "--spool", required=True, metavar="FILE", help="local SQLite spool (kept across restarts)"
    )
    parser.add_argument("--credentials", metavar="FILE", help="username:password file")
    parser.add_argument("--ca-file", metavar="PEM", help="CA certificate(s) for mqtts://")
    parser.add_argument("--pin", help="service PIN (default: $FEVERGATE_PIN)")
    parser.add_argument("--tz", help="the site's timezone for 'today' (default: this computer's)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the gate")
    parser.add_argument("--no-time-sync", action="store_true", help="leave the gate's clock")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")


def utc_offset_min(tz: datetime.tzinfo | None, unix_s: float) -> int:
    """The site's UTC offset in minutes at `unix_s`, sent to the gate with the time (its day)."""
    when = datetime.datetime.fromtimestamp(unix_s, tz or datetime.timezone.utc)
    offset = when.utcoffset()
    return 0 if offset is None else int(offset.total_seconds()) // 60


def site_tz(name: str | None) -> datetime.tzinfo:
    from host_tools.errors import EXIT_USAGE, FevergateError

    if not name:
        return datetime.datetime.now().astimezone().tzinfo
    try:
        import zoneinfo

        return zoneinfo.ZoneInfo(name)
    except (ImportError, ValueError, zoneinfo.ZoneInfoNotFoundError):
        raise FevergateError(
            f"{name!r} is not a timezone (Europe/Paris, UTC...)", EXIT_USAGE
        ) from None


def do_bridge(state, args) -> int:
    from host_tools.errors import EXIT_DATA, EXIT_USAGE, FevergateError
    from host_tools.mqttlink import load_credentials, make_client, parse_url
    from host_tools.serialport import open_port
    from host_tools.service import parse_pin

    broker = parse_url(args.mqtt)
    credentials = load_credentials(args.credentials)
    tz = site_tz(args.tz)
    pin = parse_pin(args)
    if pin is None:
        raise FevergateError(
            "the bridge acknowledges what the broker took: give --pin or set FEVERGATE_PIN",
            EXIT_USAGE,
        )
    make_client(broker, "check", credentials, ca_file=args.ca_file)  # a bad CA file fails now
    spool = SpoolStore(args.spool)
    core = BridgeCore(
        spool,
        pin,
        args.site,
        broker,
        lambda client_id: make_client(broker, client_id, credentials, ca_file=args.ca_file),
        unix_time=None if args.no_time_sync else time.time,
        tz=tz,
        reply_timeout_s=args.timeout,
    )
    port = open_port(args.port, timeout=0.05)
    stop_at = None if args.duration is None else time.monotonic() + args.duration
    try:
        port.write(core.start(time.monotonic()))
        while not core.done and (stop_at is None or time.monotonic() < stop_at):
            now = time.monotonic()
            data = port.read(port.in_waiting or 1)
            out = core.feed(data, now) if data else core.poll(now)
            if out:
                port.write(out)
    except KeyboardInterrupt:
        pass
    finally:
        core.session.finish()
        core.close(wait_s=5.0)
        port.close()
        pending = spool.pending_count()
        spool.close()
    stats = core.stats
    state.print(
        f"bridge: {stats['published']} records published, {stats['acked']} acknowledged by "
        f"the broker, {pending} waiting in {args.spool}; gate acknowledged "
        f"{stats['gate_acks']} time(s)"
    )
    if core.session.result.error:
        raise FevergateError(f"bridge: {core.session.result.error}", EXIT_DATA)
    return 0
