"""The firmware encoder (under CPython and on MicroPython) and the host decoder agree byte for byte
on the shared golden vectors, and protocol.py's tables are consistent."""

import binascii
import os
import random
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from cobs import cobs
from hypothesis import given
from hypothesis import strategies as st

from host_tools.decoder import Status, StreamDecoder, decode_frame, encode_record
from host_tools.wire import protocol

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "firmware"))

import frame  # noqa: E402
from records import RecordWriter  # noqa: E402
from vectors import METHOD_TYPES, RECORD_VECTORS  # noqa: E402

_MICROPYTHON_SCRIPT = """
from records import RecordWriter
from vectors import RECORD_VECTORS

class UART:
    def __init__(self):
        self.out = bytearray()
    def write(self, buf):
        self.out.extend(buf)
        return len(buf)

for method, args, seq, t_cs, fields, wire in RECORD_VECTORS:
    writer = RecordWriter()
    writer.seq = seq
    writer.t_cs = t_cs
    getattr(writer, method)(*args)
    uart = UART()
    writer.drain(uart, 1000)
    print(method, uart.out.hex())
"""


class ListUART:
    def __init__(self):
        self.out = bytearray()

    def write(self, buf):
        self.out += bytes(buf)
        return len(buf)


def _firmware_frame(method, args, seq, t_cs):
    writer = RecordWriter()
    writer.seq = seq
    writer.t_cs = t_cs
    getattr(writer, method)(*args)
    uart = ListUART()
    writer.drain(uart, 1000)
    return bytes(uart.out)


@pytest.mark.parametrize("vector", RECORD_VECTORS, ids=lambda v: v[0])
def test_host_encoder_produces_the_golden_frame(vector):
    method, _args, seq, t_cs, fields, wire = vector
    assert encode_record(METHOD_TYPES[method], seq, t_cs, **fields).hex() == wire


@pytest.mark.parametrize("vector", RECORD_VECTORS, ids=lambda v: v[0])
def test_host_decoder_reads_the_golden_frame_back(vector):
    method, _args, seq, t_cs, fields, wire = vector
    event = decode_frame(bytes.fromhex(wire)[:-1])
    assert event.status is Status.OK
    assert event.record.type == METHOD_TYPES[method]
    assert (event.record.seq, event.record.t_cs) == (seq, t_cs)
    assert event.record.fields == fields


@pytest.mark.parametrize("vector", RECORD_VECTORS, ids=lambda v: v[0])
def test_firmware_on_cpython_matches_the_host_encoder(vector):
    method, args, seq, t_cs, fields, _wire = vector
    assert _firmware_frame(method, args, seq, t_cs) == encode_record(
        METHOD_TYPES[method], seq, t_cs, **fields
    )


def test_firmware_on_micropython_matches_the_host_encoder():
    micropython = shutil.which("micropython", path=str(Path(sys.executable).parent))
    assert micropython, "the micropython unix port is missing from the venv"
    env = dict(os.environ)
    env["MICROPYPATH"] = os.pathsep.join(
        [str(ROOT / "tests" / "firmware"), str(ROOT / "firmware"), ".frozen"]
    )
    result = subprocess.run(
        [micropython, "-c", _MICROPYTHON_SCRIPT],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split()
    got = list(zip(lines[::2], lines[1::2], strict=True))
    expected = [
        (method, encode_record(METHOD_TYPES[method], seq, t_cs, **fields).hex())
        for method, _args, seq, t_cs, fields, _wire in RECORD_VECTORS
    ]
    assert got == expected


def test_every_record_type_has_a_consistent_format_size_and_field_list():
    types = set()
    for type_, name, fmt, size, fields in protocol.RECORDS:
        assert 1 <= type_ <= 9, name
        types.add(type_)
        assert fmt.startswith(protocol.HEADER_FORMAT), name
        assert struct.calcsize(fmt) == size, name
        body = len(fmt) - len(protocol.HEADER_FORMAT)
        assert len(fields) == body, name
        assert getattr(protocol, name.upper()) == type_
    assert len(types) == len(protocol.RECORDS)
    assert struct.calcsize(protocol.HEADER_FORMAT) == protocol.HEADER_SIZE
    assert protocol.MAX_PAYLOAD == max(record[3] for record in protocol.RECORDS)
    assert protocol.MAX_FRAME == protocol.MAX_PAYLOAD + protocol.CRC_SIZE + 2


def test_a_passage_frame_is_at_most_16_bytes_on_the_wire():
    assert protocol.PASSAGE_SIZE + protocol.CRC_SIZE + 1 + 1 <= 16


def test_firmware_stream_through_a_small_ring_decodes_with_gaps_for_the_drops():
    rng = random.Random(7)
    writer = RecordWriter(ring_bytes=120)
    uart = ListUART()
    queued = []
    for i in range(3000):
        writer.t_cs = i
        seq = writer.passage(rng.randrange(7), rng.randrange(3), rng.randrange(-500, 4500), i)
        if seq >= 0:
            queued.append(seq)
        writer.drain(uart, rng.choice((0, 0, 15, 40)))
    writer.drain(uart, 10**6)
    queued.append(writer.fault(protocol.FAULT_TX_OVERFLOW, 0, 0))  # reveals trailing drops
    writer.drain(uart, 10**6)
    decoder = StreamDecoder()
    events = decoder.feed(bytes(uart.out))
    seqs = [e.record.seq for e in events if e.status is Status.OK]
    assert seqs == queued
    assert writer.dropped > 0
    assert decoder.counts["lost"] == writer.dropped
    assert set(e.status for e in events) == {Status.OK, Status.GAP}


@given(st.binary(max_size=600))
def test_firmware_crc16_equals_binascii_crc_hqx(data):
    assert frame.crc16(data, len(data), 0) == binascii.crc_hqx(data, 0xFFFF)


@given(st.binary(max_size=800))
def test_firmware_cobs_equals_the_cobs_package(data):
    dst = bytearray(len(data) + len(data) // 254 + 2)
    n = frame.cobs_encode_into(data, len(data), dst, 0)
    assert bytes(dst[:n]) == cobs.encode(data)
