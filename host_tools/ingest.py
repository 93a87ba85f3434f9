"""`fevergate ingest --mqtt URL --db postgresql://...`: the site's records from the broker into
one store, each once.

The ingester subscribes to `fevergate/<site>/+/records` (docs/SITE.md) with a persistent
session (clean_session false, a fixed client id, QoS 1): what is published while it is down
waits at the broker. Several ingesters share the load through a shared subscription
(`$share/<group>/...`). A message is acknowledged to the broker (manual PUBACK) only after its
row is committed, so an ingester that dies mid-batch gets the batch again; rows are unique on
(device_id, boot, seq, t_cs), so whatever is delivered twice is stored once.

Nothing handed over is trusted (`Verifier`): the message must be the JSON of docs/SITE.md;
its `frame` is decoded again here (COBS, CRC-16, version, type, size); the device id must be
the one in the topic and, when the site lists its gates (`--gate`, `--gates-file`), one of
them; a BOOT frame must carry that device id; a replayed frame must carry the boot the message
says. A message that fails is counted (`malformed`, `unknown_gate`), logged, acknowledged so
the broker does not send it again, and never stored; the ingester goes on.
"""

from __future__ import annotations

import collections
import json
import queue
import sys
import threading
import time

from host_tools.decoder import Status, decode_frame
from host_tools.store import RecordStore, _fields_json

__all__ = ["Verifier", "Rejected", "IngestLoop", "argparse_ingest", "do_ingest"]


class Rejected(Exception):
    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind  # "malformed" or "unknown_gate"
        self.reason = reason


class Verifier:
    """Turns one MQTT message into a store row, or raises Rejected."""

    def __init__(self, gates: set[int] | None = None) -> None:
        self.gates = gates  # the site's device ids; None: any device named by its topic

    def row(self, topic: str, payload: bytes) -> tuple[tuple, float | None]:
        """((device_id, boot, seq, t_cs, type, wall_time, fields_json), read_at)."""
        parts = topic.split("/")
        if len(parts) != 4 or parts[0] != "fevergate" or parts[3] != "records":
            raise Rejected(
                "malformed", f"topic {topic!r} is not fevergate/<site>/<device>/records"
            )
        try:
            topic_device = int(parts[2], 16)
        except ValueError:
            raise Rejected("malformed", f"topic device {parts[2]!r} is not hex") from None
        try:
            message = json.loads(payload)
            device_id = message["device_id"]
            boot = message["boot"]
            frame = bytes.fromhex(message["frame"])
            wall_time = message.get("wall_time")
            read_at = message.get("read_at")
        except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
            raise Rejected("malformed", f"not a record message ({type(exc).__name__})") from None
        if not isinstance(device_id, int) or not isinstance(boot, int):
            raise Rejected("malformed", "device_id and boot must be integers")
        if wall_time is not None and not isinstance(wall_time, int | float):
            raise Rejected("malformed", "wall_time must be a number")
        if read_at is not None and not isinstance(read_at, int | float):
            read_at = None
        if device_id != topic_device:
            raise Rejected(
                "unknown_gate", f"device {device_id:08X} published under {parts[2]}'s topic"
            )
        if self.gates is not None and device_id not in self.gates:
            raise Rejected("unknown_gate", f"device {device_id:08X} is not a gate of this site")
        event = decode_frame(frame[:-1] if frame.endswith(b"\x00") else frame)
        if event.status is Status.REPLAY:
            if event.boot != boot & 0xFFFF:
                raise Rejected("malformed", f"replayed frame of boot {event.boot}, says {boot}")
        elif event.status is not Status.OK:
            raise Rejected("malformed", f"frame {event.status.value}: {event.detail}")
        record = event.record
        if record.type == "boot" and record.fields["device_id"] != device_id:
            raise Rejected(
                "unknown_gate",
                f"BOOT frame of device {record.fields['device_id']:08X} sent as {device_id:08X}",
            )
        row = (
            device_id,
            boot,
            record.seq,
            record.t_cs,
            record.type,
            wall_time,
            _fields_json(record),
        )
        return row, read_at


class IngestLoop:
    """Messages in (from paho's thread), rows out in batches, PUBACKs after the commit."""

    def __init__(
        self,
        store: RecordStore,
        verifier: Verifier,
        *,
        log=None,
        clock=time.time,
        batch: int = 2000,
        fill_every_s: float = 2.0,
    ) -> None:
        self.store = store
        self.verifier = verifier
        self.log = log or (lambda line: sys.stderr.write(line + "\n"))
        self.clock = clock
        self.batch = batch
        self.fill_every_s = fill_every_s
        self.inbox: queue.SimpleQueue = queue.SimpleQueue()
        self.counts = collections.Counter()
        self.latencies_ms: list[float] = []
        self._fill_due = False
        self._next_fill = 0.0
        self._logged = collections.Counter()

    def on_message(self, _client, _userdata, message) -> None:
        self.inbox.put((message.topic, message.payload, message.mid, message.qos))

    def step(self, client, wait_s: float = 0.05) -> int:
        """Stores one batch from the inbox and acknowledges it; returns messages handled."""
        try:
            first = self.inbox.get(timeout=wait_s)
        except queue.Empty:
            self._fill(force=False)
            return 0
        messages = [first]
        while len(messages) < self.batch:
            try:
                messages.append(self.inbox.get_nowait())
            except queue.Empty:
                break
        rows, read_ats = [], []
        for topic, payload, _mid, _qos in messages:
            self.counts["received"] += 1
            try:
                row, read_at = self.verifier.row(topic, payload)
            except Rejected as exc:
                self.counts[exc.kind] += 1
                self._log_rejected(exc, topic)
                continue
            rows.append(row)
            read_ats.append(read_at)
            if row[4] == "time":
                self._fill_due = True
        inserted = self.store.insert_rows(rows) if rows else 0
        done = self.clock()
        self.counts["stored"] += inserted
        self.counts["duplicates"] += len(rows) - inserted
        self.latencies_ms += [(done - t) * 1000 for t in read_ats if t is not None]
        if client is not None:
            for _topic, _payload, mid, qos in messages:
                if qos:
                    client.ack(mid, qos)
        self._fill(force=False)
        return len(messages)

    def _fill(self, force: bool) -> None:
        now = time.monotonic()
        if self._fill_due and (force or now >= self._next_fill):
            self._fill_due = False
            self._next_fill = now + self.fill_every_s
            self.counts["wall_times_filled"] += self.store.fill_wall_times()

    def finish(self) -> None:
        self._fill(force=True)

    def _log_rejected(self, exc: Rejected, topic: str) -> None:
        self._logged[exc.kind] += 1
        n = self._logged[exc.kind]
        if n <= 10 or n % 1000 == 0:
            self.log(f"ingest: {exc.kind} message #{n} on {topic}: {exc.reason} (not stored)")


def percentile(values: list[float], fraction: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def subscription(site: str | None, group: str | None) -> str:
    topic = f"fevergate/{site or '+'}/+/records"
    return f"$share/{group}/{topic}" if group else topic


def start_client(loop: IngestLoop, broker, credentials, client_id, topic, ca_file=None):
    """A persistent-session client feeding `loop`, connected and subscribed (again after
    every reconnect)."""
    from host_tools.mqttlink import make_client

    client = make_client(
        broker, client_id, credentials, clean_session=False, ca_file=ca_file, manual_ack=True
    )
    connected = threading.Event()
    refused = []

    def on_connect(c, _u, _flags, reason, _props):
        if reason.is_failure:
            refused.append(str(reason))
            connected.set()
            return
        c.subscribe(topic, qos=1)
        loop.counts["connects"] += 1
        connected.set()

    client.on_connect = on_connect
    client.on_message = loop.on_message
    client.connect_async(broker.host, broker.port, keepalive=10)
    client.loop_start()
    return client, connected, refused


# -- `fevergate ingest` -----------------------------------------------------------------------


def argparse_ingest(parser) -> None:
    import textwrap

    parser.description = textwrap.fill(
        "Take the site's records from the MQTT broker into one store (PostgreSQL for a site; "
        "an SQLite file works too), each record once, with a persistent session so nothing "
        "published while this was down is lost. Several ingesters with the same --group "
        "share the load. Credentials come from --credentials FILE or FEVERGATE_MQTT_USERNAME "
        "and FEVERGATE_MQTT_PASSWORD, never from the command line. Stop with Ctrl-C.",
        79,
    )
    parser.epilog = (
        "examples:\n"
        "  fevergate ingest --mqtt mqtts://broker.site:8883 --ca-file site-ca.pem \\\n"
        "      --credentials /etc/fevergate/ingest.cred --db postgresql://fevergate@db/fevergate\n"
        "  fevergate ingest --mqtt mqtt://127.0.0.1 --db site.db --gates-file gates.txt"
    )
    parser.add_argument(
        "--mqtt", required=True, metavar="URL", help="mqtt://host[:port] or mqtts://"
    )
    parser.add_argument(
        "--db", required=True, metavar="DB", help="postgresql:// URL or SQLite file"
    )
    parser.add_argument("--credentials", metavar="FILE", help="username:password file")
    parser.add_argument("--ca-file", metavar="PEM", help="CA certificate(s) for mqtts://")
    parser.add_argument("--site", help="only this site's gates (default: every site)")
    parser.add_argument(
        "--group", default="fevergate-ingest", help="shared subscription group ('' for none)"
    )
    parser.add_argument(
        "--client-id", default="fevergate-ingest-1", help="MQTT client id: keep it per ingester"
    )
    parser.add_argument(
        "--gate", action="append", type=lambda s: int(s, 0), metavar="ID",
        help="a device id of this site (repeat); others are refused",
    )  # fmt: skip
    parser.add_argument("--gates-file", metavar="FILE", help="the site's device ids, one a line")
    parser.add_argument("--duration", type=float, metavar="S", help="stop after S seconds")


def _gates(args) -> set[int] | None:
    from host_tools.errors import EXIT_FILE, EXIT_USAGE, FevergateError

    gates = set(args.gate or [])
    if args.gates_file:
        try:
            with open(args.gates_file, encoding="utf-8") as f:
                for line in f:
                    text = line.split("#", 1)[0].strip()
                    if text:
                        gates.add(int(text, 0))
        except OSError as exc:
            raise FevergateError(
                f"{args.gates_file}: cannot read ({exc.strerror})", EXIT_FILE
            ) from None
        except ValueError:
            raise FevergateError(f"{args.gates_file}: one device id a line", EXIT_USAGE) from None
    return gates or None


def do_ingest(state, args) -> int:
    from host_tools.errors import EXIT_DATA, FevergateError
    from host_tools.mqttlink import load_credentials, parse_url
    from host_tools.store import open_store

    broker = parse_url(args.mqtt)
    credentials = load_credentials(args.credentials)
    gates = _gates(args)
    store = open_store(args.db)
    loop = IngestLoop(store, Verifier(gates), log=lambda line: state.err.write(line + "\n"))
    client, connected, refused = start_client(
        loop, broker, credentials, args.client_id, subscription(args.site, args.group),
        ca_file=args.ca_file,
    )  # fmt: skip
    stop_at = None if args.duration is None else time.monotonic() + args.duration
    try:
        connected.wait(10)
        if refused:
            raise FevergateError(f"the broker {broker} refused us: {refused[0]}", EXIT_DATA)
        while stop_at is None or time.monotonic() < stop_at:
            loop.step(client)
    except KeyboardInterrupt:
        pass
    finally:
        while loop.step(client, wait_s=0.2):
            pass
        loop.finish()
        client.loop_stop()
        client.disconnect()
        store.close()
    c = loop.counts
    p99 = percentile(loop.latencies_ms, 0.99)
    state.print(
        f"ingest: {c['received']} messages, {c['stored']} records stored in {store.name}, "
        f"{c['duplicates']} duplicates, {c['malformed']} malformed, "
        f"{c['unknown_gate']} from unknown gates"
        + ("" if p99 is None else f", latency p99 {p99:.0f} ms")
    )
    return 0
