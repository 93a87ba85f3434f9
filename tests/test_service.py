"""Host side of the service link (host_tools/device.py, host_tools/service.py) against the
firmware's Commands with a real RecordWriter, joined by an in-process serial stand-in."""

import types

import pytest

from fakes_service import FakeBeam, FakeControl, FakeSensor, MemoryStore, command_frame
from host_tools import errors, service
from host_tools.decoder import decode_frame
from host_tools.device import (
    EXIT_BAD_FRAME,
    EXIT_FAILED,
    EXIT_NO_ANSWER,
    EXIT_REFUSED,
    EXIT_USAGE,
    DeviceLink,
    FevergateError,
    encode_command,
    key_id,
)
from host_tools.serialport import open_port
from host_tools.shim.pty_port import PtyPort
from host_tools.wire import protocol as p

PIN = p.PIN_DEFAULT


class FirmwareSerial:
    """A pyserial-like port whose far end is the firmware's Commands (virtual time: every
    read runs the device for 50 ms of ticks and drains its RecordWriter)."""

    def __init__(self, store=None):
        from commands import Commands
        from config import Config
        from records import RecordWriter

        self.rx = bytearray()  # host -> device
        self.tx = bytearray()  # device -> host
        self.writer = RecordWriter()
        self.config = Config()
        self.sensor = FakeSensor()
        self.control = FakeControl()
        self.commands = Commands(self, self.writer, self.config, store)
        self.commands.attach(self.sensor, self.control, FakeBeam(), self._status)
        self.now = 0
        self.closed = False
        self.corrupt_next = 0  # host -> device frames to damage on the way
        self._to_host = _ToHost(self)

    def _status(self):
        c = self.control
        self.writer.status(c.people_in, c.people_out, c.fevers, c.remeasures, 1, 2, 0)

    # the device's UART
    def any(self):
        return len(self.rx)

    def readinto(self, buf, nbytes=-1):
        n = min(len(buf), len(self.rx), nbytes if nbytes >= 0 else len(buf))
        if not n:
            return None
        buf[:n] = self.rx[:n]
        del self.rx[:n]
        return n

    # the host's port
    def write(self, data):
        data = bytearray(data)
        if self.corrupt_next:
            self.corrupt_next -= 1
            data[4] ^= 0x40
        self.rx += data
        return len(data)

    @property
    def in_waiting(self):
        return len(self.tx)

    def read(self, n=1):
        for _ in range(5):
            self.now += 10
            self.commands.tick(self.now, self.now // 1000)
            self.writer.drain(self._to_host, 1 << 20)
        out = bytes(self.tx[:n])
        del self.tx[:n]
        return out

    def close(self):
        self.closed = True


class _ToHost:
    """The device UART's transmit side, as RecordWriter.drain sees it."""

    def __init__(self, port):
        self.port = port

    def write(self, frame):
        self.port.tx += frame
        return len(frame)


def link(store=None, pin=PIN, timeout=1.0):
    port = FirmwareSerial(store)
    return DeviceLink(port, pin=pin, timeout=timeout), port


# -- the frame itself --


def test_host_encoder_matches_the_firmware_test_encoder_byte_for_byte():
    for tag in (0, 1, 0x1234, 0xFFFF):
        assert encode_command(p.CMD_SET_CONFIG, tag, PIN, 1, 3800) == command_frame(
            p.CMD_SET_CONFIG, PIN, 1, 3800, tag
        )


def test_encoded_command_has_one_zero_byte_at_the_end():
    frame = encode_command(p.CMD_STATUS, 0, 0, 0, 0)
    assert frame.index(0) == len(frame) - 1
    assert len(frame) == p.COMMAND_MAX_FRAME


def test_command_arguments_out_of_range_are_a_usage_error():
    with pytest.raises(FevergateError) as info:
        encode_command(p.CMD_SET_CONFIG, 1, 1 << 32, 1, 0)
    assert info.value.exit_code == EXIT_USAGE


def test_key_names_resolve_to_ids():
    assert key_id("fever_threshold_cc") == 1
    assert key_id("12") == 12
    with pytest.raises(FevergateError):
        key_id("no_such_setting")


# -- DeviceLink --


def test_status_returns_the_status_record_with_the_reply():
    dev, _ = link()
    reply = dev.status()
    assert reply.ok
    assert [r.fields["people_in"] for r in reply.of_type("status")] == [5]


def test_get_config_all_returns_every_setting():
    dev, _ = link()
    values = dev.get_config()
    assert values[1] == 3730
    assert p.KEY_PIN not in values


def test_set_config_changes_the_device_setting():
    dev, port = link()
    reply = dev.set_config("fever_threshold_cc", 3800)
    assert reply.configs() == {1: 3800}
    assert port.config.fever_threshold_cc == 3800


def test_refusal_raises_with_the_reason_and_the_refused_exit_code():
    dev, port = link()
    with pytest.raises(FevergateError) as info:
        dev.set_config("fever_threshold_cc", 9999)
    assert info.value.exit_code == EXIT_REFUSED
    assert "range" in str(info.value)
    assert port.config.fever_threshold_cc == 3730


def test_wrong_pin_raises_bad_pin():
    dev, _ = link(pin=PIN + 1)
    with pytest.raises(FevergateError) as info:
        dev.set_config(1, 3800)
    assert "wrong PIN" in str(info.value) and "bad_pin" not in str(info.value)


def test_a_pin_command_without_a_pin_is_a_usage_error_and_sends_nothing():
    dev, port = link(pin=None)
    with pytest.raises(FevergateError) as info:
        dev.reset_counters()
    assert info.value.exit_code == EXIT_USAGE
    assert port.rx == bytearray()


def test_calibrate_waits_for_the_final_reply():
    dev, port = link()
    port.sensor.object_cc = 3650
    reply = dev.calibrate(3700)
    assert reply.configs()[p.KEY_CAL_OFFSET] == 50


def test_unstable_calibration_raises_unstable():
    dev, port = link()
    port.sensor.readings = [3600, 3800] * 20
    with pytest.raises(FevergateError) as info:
        dev.calibrate(3700)
    assert "unstable" in str(info.value)


def test_failed_self_test_raises_the_failed_exit_code():
    dev, port = link()
    port.sensor.ambient_cc = 9000
    with pytest.raises(FevergateError) as info:
        dev.self_test()
    assert info.value.exit_code == EXIT_FAILED
    assert "ambient" in str(info.value)


def test_a_frame_damaged_on_the_way_is_sent_again():
    dev, port = link()
    port.corrupt_next = 1
    assert dev.set_config(1, 3800).ok
    assert port.commands.bad_frames == 1


def test_set_filter_changes_the_filter_bits_of_the_sensor_config_register():
    dev, port = link()
    reply = dev.set_filter(0x0700)
    assert reply.configs() == {p.KEY_SENSOR_FILTER: 0x0700}
    assert port.sensor.config_word == 0x9FB0


def test_time_sync_sends_the_time_and_gets_a_time_record():
    dev, _ = link()
    reply = dev.time_sync(1767225600)
    assert [r.fields["unix_s"] for r in reply.of_type("time")] == [1767225600]


def test_time_sync_beyond_2038_with_the_sites_utc_offset():
    dev, port = link()
    reply = dev.time_sync(2208988800, utc_offset_min=480)  # 2040, Shanghai
    assert [r.fields["unix_s"] for r in reply.of_type("time")] == [2208988800]
    assert reply.configs()[p.KEY_UTC_OFFSET] == 480
    assert port.commands.today() == (2208988800 + 8 * 3600) // 86400


def test_cli_time_sync_takes_the_sites_utc_offset(cli):
    lines = cli("time-sync", "sim", "--utc-offset", "+05:30", "--pin", str(PIN))
    assert lines[0].startswith("time set to ") and "UTC+05:30" in lines[0]
    assert cli.ports["sim"].commands.clock.offset_min == 330


def test_cli_time_sync_refuses_an_offset_that_is_not_a_time_zone(cli):
    with pytest.raises(SystemExit) as info:
        cli("time-sync", "sim", "--utc-offset", "+15:00", "--pin", str(PIN))
    assert info.value.code == EXIT_USAGE


def test_a_missing_port_is_the_clis_no_port_error_with_a_readable_message(tmp_path):
    with pytest.raises(FevergateError) as info:
        DeviceLink(str(tmp_path / "ttyUSB9"), pin=PIN)
    assert info.value.exit_code == errors.EXIT_NO_PORT
    assert "no such port" in str(info.value)


def test_a_port_another_program_holds_is_the_clis_port_busy_error():
    with PtyPort() as pty:
        holder = open_port(pty.path)
        try:
            with pytest.raises(FevergateError) as info:
                DeviceLink(pty.path, pin=PIN)
        finally:
            holder.close()
    assert info.value.exit_code == errors.EXIT_PORT_BUSY
    assert "in use by another program" in str(info.value)


def test_a_malformed_port_url_is_a_usage_error():
    with pytest.raises(FevergateError) as info:
        DeviceLink("nosuchscheme://gate", pin=PIN)
    assert info.value.exit_code == errors.EXIT_USAGE


def test_the_device_answer_exit_codes_differ_from_every_cli_exit_code():
    cli_codes = {v for k, v in vars(errors).items() if k.startswith("EXIT_")}
    answers = {EXIT_REFUSED, EXIT_FAILED, EXIT_NO_ANSWER, EXIT_BAD_FRAME}
    assert len(answers) == 4
    assert not answers & cli_codes


def test_no_answer_on_loop_port_times_out_with_a_clear_message():
    # loop:// echoes our own command back: a COMMAND frame is no REPLY
    dev = DeviceLink("loop://", pin=PIN, timeout=0.2)
    with pytest.raises(FevergateError) as info:
        dev.status()
    assert info.value.exit_code == EXIT_NO_ANSWER
    assert "no answer to status" in str(info.value)
    dev.close()


def test_stale_replies_to_earlier_tags_are_skipped():
    dev, port = link()
    port.rx += command_frame(p.CMD_STATUS, tag=(dev._tag + 500) & 0xFFFF)  # someone else's
    assert dev.self_test().ok


def test_device_replies_decode_as_reply_records():
    port = FirmwareSerial()
    port.write(command_frame(p.CMD_STATUS, tag=77))
    data = port.read(4096)
    frames = [f for f in data.split(b"\x00") if f]
    records = [decode_frame(f).record for f in frames]
    assert records[-1].type == "reply"
    assert records[-1].fields["arg"] == 77


# -- CLI handlers --


@pytest.fixture
def cli(monkeypatch):
    ports = {}
    lines = []

    def connect(port, pin):
        if port not in ports:
            ports[port] = FirmwareSerial(ports.get("store"))
        return DeviceLink(ports[port], pin=pin, timeout=1.0)

    monkeypatch.setattr(service, "connect", connect)
    monkeypatch.delenv(service.PIN_ENV, raising=False)
    state = types.SimpleNamespace(print=lines.append)

    def run(name, *argv):
        do, build = service.COMMANDS[name]
        do(state, build().parse_args(list(argv)))
        return lines

    run.ports = ports
    return run


def test_cli_config_all_prints_every_setting(cli):
    lines = cli("config", "sim", "--all")
    assert "fever_threshold_cc = 3730  (37.30 C)" in lines


def test_cli_config_set_changes_and_prints_the_echo(cli):
    lines = cli("config", "sim", "--set", "fever_threshold_cc=3800", "--pin", str(PIN))
    assert lines == ["set fever_threshold_cc = 3800  (38.00 C)"]
    assert cli.ports["sim"].config.fever_threshold_cc == 3800


def test_cli_takes_the_pin_from_the_environment(cli, monkeypatch):
    monkeypatch.setenv(service.PIN_ENV, str(PIN))
    cli("config", "sim", "--set", "hysteresis_cc=30")
    assert cli.ports["sim"].config.hysteresis_cc == 30


def test_cli_refusal_exits_with_the_refused_code(cli):
    with pytest.raises(FevergateError) as info:
        cli("config", "sim", "--set", "fever_threshold_cc=100", "--pin", str(PIN))
    assert info.value.exit_code == EXIT_REFUSED


def test_cli_bad_assignment_is_a_usage_error(cli):
    with pytest.raises(FevergateError) as info:
        cli("config", "sim", "--set", "fever_threshold_cc", "--pin", str(PIN))
    assert info.value.exit_code == EXIT_USAGE


def test_cli_calibrate_converts_degrees_to_centidegrees(cli):
    lines = cli("calibrate", "sim", "--reference", "37.0", "--pin", str(PIN))
    assert "calibration_reference_cc = 3700  (37.00 C)" in lines


def test_cli_time_sync_reports_the_time_set(cli):
    lines = cli("time-sync", "sim", "--pin", str(PIN))
    assert lines[0].startswith("time set to ")


def test_cli_service_prime_runs_the_pump(cli):
    cli("service", "sim", "prime", "--seconds", "2", "--pin", str(PIN))
    assert cli.ports["sim"].commands.priming


def test_cli_service_self_test_needs_no_pin(cli):
    assert cli("service", "sim", "self-test") == ["self-test passed"]


def test_cli_service_emissivity_writes_the_word(cli):
    cli("service", "sim", "emissivity", "--value", "0.95", "--pin", str(PIN))
    assert cli.ports["sim"].sensor.writes == [(0x24, 62258)]


def test_cli_config_all_also_shows_the_sensor_emissivity_and_filter(cli):
    lines = cli("config", "sim", "--all")
    assert "emissivity = 65535  (1.000)" in lines
    assert "sensor_filter = 1796  (IIR off, FIR 1024: settles in 100 ms)" in lines


def test_cli_config_all_says_so_when_the_sensor_cannot_be_read(cli):
    cli.ports["sim"] = FirmwareSerial()
    cli.ports["sim"].sensor.fail = True
    lines = cli("config", "sim", "--all")
    assert "emissivity: not read (the sensor did not answer)" in lines
    assert "fever_threshold_cc = 3730  (37.30 C)" in lines


def test_cli_service_status_shows_the_counters_and_the_calibration_without_a_pin(cli):
    lines = cli("service", "sim", "status")
    assert "people_in = 5" in lines
    assert "calibration_reference_cc = 0  (0.00 C)" in lines


def test_cli_service_filter_writes_the_iir_and_fir_bits(cli):
    lines = cli("service", "sim", "filter", "--iir", "0.5", "--fir", "512", "--pin", str(PIN))
    assert cli.ports["sim"].sensor.config_word == 0x9EB0
    assert lines == ["sensor filter set: IIR 0.5, FIR 512: settles in 620 ms"]


def test_cli_service_filter_keeps_the_fir_not_given(cli):
    cli("service", "sim", "filter", "--iir", "0.5", "--pin", str(PIN))
    assert cli.ports["sim"].sensor.config_word == 0x9FB0


def test_cli_set_pin_survives_a_reboot_with_the_same_store(cli):
    store = MemoryStore()
    cli.ports["store"] = store
    cli("config", "sim", "--set", "pin=4321", "--pin", str(PIN))
    rebooted = FirmwareSerial(store)
    assert DeviceLink(rebooted, pin=4321).set_config(1, 3800).ok


def test_the_documented_status_command_vector():
    wire = bytes.fromhex("03 30 07 01 01 01 01 02 01 01 01 01 01 01 01 01 01 03 e2 35 00")
    assert encode_command(p.CMD_STATUS, 7) == wire
