"""host_tools/monitor.py: the live view over a port (loop:// here), its totals and its checks."""

import io
import json
import threading

import pytest
import serial

from host_tools.decoder import encode_payload, encode_record, encode_replay
from host_tools.errors import EXIT_GARBAGE, EXIT_NO_PORT, FevergateError
from host_tools.monitor import Totals, monitor
from host_tools.store import Store
from host_tools.wire import protocol

UNIX = 1_714_550_400  # 2024-05-01 08:00 UTC


def boot(boot_count=3):
    return encode_record(
        "boot", 0, 0, reset_cause=1, fw_version=0x000100, boot_count=boot_count, device_id=42
    )


def passage(seq, t_cs, temp_cc=3650, verdict=protocol.VERDICT_NORMAL, direction=1):
    return encode_record(
        "passage", seq, t_cs, verdict=verdict, direction=direction, temp_cc=temp_cc,
        transit_cs=40,
    )  # fmt: skip


def loop_with(data):
    port = serial.serial_for_url("loop://", timeout=0.02)
    port.write(data)
    return port


def run(data, mode="jsonl", **kw):
    out = io.StringIO()
    totals = monitor(
        loop_with(data), mode=mode, out=out, duration_s=kw.pop("duration", 0.15), **kw
    )
    return totals, out.getvalue()


def test_jsonl_prints_one_object_per_record_with_status():
    _, text = run(boot() + passage(1, 100, 3812, protocol.VERDICT_FEVER))
    objects = [json.loads(line) for line in text.splitlines()]
    records = [o for o in objects if o["status"] == "OK"]
    assert [o["type"] for o in records] == ["boot", "passage"]
    assert records[1]["temp_cc"] == 3812 and records[1]["verdict_name"] == "fever"


def test_jsonl_shows_a_damaged_frame_with_its_status():
    _, text = run(boot() + b"\x02\x01\x00" + passage(1, 100))
    statuses = [json.loads(line)["status"] for line in text.splitlines()]
    assert "FRAMING_ERROR" in statuses


def test_jsonl_wall_time_comes_from_the_time_record():
    data = boot() + encode_record("time", 1, 1000, unix_s=UNIX) + passage(2, 1500)
    _, text = run(data)
    last = json.loads(text.splitlines()[-1])
    assert last["wall_time"] == UNIX + 5.0


def test_jsonl_wall_time_is_the_laptop_clock_without_a_time_record():
    import time

    before = time.time()
    _, text = run(boot() + passage(1, 100))
    assert json.loads(text.splitlines()[-1])["wall_time"] >= before


def test_raw_prints_frames_in_hex():
    frame = passage(1, 12345, 3812, protocol.VERDICT_FEVER)
    _, text = run(boot() + frame, mode="raw")
    assert frame.hex(" ") in text


def test_rich_log_shows_passages_with_temperature_and_verdict():
    _, text = run(boot() + passage(1, 100, 3812, protocol.VERDICT_FEVER), mode="rich")
    line = next(line for line in text.splitlines() if "passage" in line)
    assert "38.12 C" in line and "FEVER" in line


def test_rich_log_shows_faults_and_alarms():
    data = boot() + encode_record("alarm", 1, 100, kind=1, temp_cc=3900)
    data += encode_record("fault", 2, 200, code=protocol.FAULT_TANK_EMPTY, active=1, detail=0)
    _, text = run(data, mode="rich")
    assert "ALARM   FEVER 39.00 C" in text and "FAULT   tank_empty raised" in text


def test_rich_log_ends_with_the_totals_line():
    _, text = run(boot() + passage(1, 100), mode="rich")
    assert text.splitlines()[-1].startswith("== today: 1 in, 0 fevers")


def test_totals_count_people_fevers_remeasures_and_lost():
    data = boot() + passage(1, 100) + passage(2, 200, 3900, protocol.VERDICT_FEVER)
    data += passage(3, 300, 0, protocol.VERDICT_REMEASURE_FAST) + passage(7, 400)
    data += passage(8, 500, direction=protocol.DIR_OUT)
    totals, _ = run(data)
    assert (totals["people_in_today"], totals["people_out_today"]) == (4, 1)
    assert (totals["fevers_today"], totals["remeasures_today"]) == (1, 1)
    assert totals["records_lost"] == 3


def test_totals_measure_link_health():
    totals, _ = run(boot() + b"\x05\x01\x02\x03\x00" + passage(1, 100))
    assert (totals["good_frames"], totals["bad_frames"]) == (2, 1)
    assert totals["bad_frame_rate"] == pytest.approx(1 / 3, abs=1e-3)
    assert 0 <= totals["seconds_since_good"] < 5


def test_passages_of_an_earlier_day_do_not_count_for_today():
    data = boot() + encode_record("time", 1, 0, unix_s=UNIX - 3 * 86400) + passage(2, 100)
    totals, _ = run(data)
    assert totals["people_in_today"] == 0


def test_people_in_today_restart_at_a_new_day():
    day = {"now": UNIX}
    totals = Totals(now=lambda: day["now"])
    from host_tools.decoder import StreamDecoder

    (event,) = StreamDecoder().feed(passage(1, 100))
    totals.add(event, UNIX)
    totals.add(event, UNIX + 86400)
    assert totals.people_in == 1


def test_garbage_stream_is_exit_5():
    with pytest.raises(FevergateError) as info:
        run(bytes(range(1, 256)) * 3 + b"\x00" * 10, duration=2)
    assert info.value.exit_code == EXIT_GARBAGE
    assert "wrong baud rate" in info.value.message


def test_a_stream_with_good_frames_is_not_garbage():
    totals, _ = run(boot() + b"\x07" * 600 + b"\x00", duration=0.3)
    assert totals["bad_frames"] == 1


def test_db_stores_every_good_record(tmp_path):
    totals, _ = run(boot() + passage(1, 100) + passage(2, 200), db=str(tmp_path / "m.db"))
    assert totals["stored"] == 3
    with Store(tmp_path / "m.db") as store:
        assert store.count() == 3


def test_stop_event_ends_the_monitor():
    stop = threading.Event()
    stop.set()
    totals = monitor(loop_with(boot()), mode="quiet", stop=stop)
    assert totals["good_frames"] == 0 and not totals["interrupted"]


def test_ctrl_c_ends_with_the_totals_marked_interrupted():
    class Port:
        port = "fake"
        calls = 0

        def read(self, n):
            self.calls += 1
            if self.calls > 1:
                raise KeyboardInterrupt
            return boot()

    totals = monitor(Port(), mode="quiet")
    assert totals["interrupted"] and totals["good_frames"] == 1


def test_a_port_that_goes_away_is_exit_3():
    class Port:
        port = "fake"

        def read(self, n):
            raise serial.SerialException("device reports readiness to read but returned no data")

    with pytest.raises(FevergateError) as info:
        monitor(Port(), mode="quiet", duration_s=1)
    assert info.value.exit_code == EXIT_NO_PORT and "went away" in info.value.message


def test_monitor_in_a_thread_on_a_pty_path_stops_when_told():
    import os
    import time
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)
    out, stop, result = io.StringIO(), threading.Event(), {}

    def show():
        result.update(monitor(os.ttyname(slave), mode="rich", out=out, stop=stop))

    thread = threading.Thread(target=show)
    thread.start()
    try:
        time.sleep(0.3)
        os.write(master, boot() + passage(1, 100))
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=5)
        os.close(master)
        os.close(slave)
    assert not thread.is_alive()
    assert result["good_frames"] == 2 and "passage" in out.getvalue()


def test_rich_on_a_terminal_keeps_a_live_totals_panel_under_the_log():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    out = Terminal()
    monitor(loop_with(boot() + passage(1, 100)), mode="rich", out=out, duration_s=0.15)
    text = out.getvalue()
    assert "fevergate monitor" in text and "today: 1 in" in text
    assert "passage in" in text


def replayed_passage(boot_number, seq):
    payload = encode_payload(
        "passage", seq, 500, verdict=0, direction=1, temp_cc=3650, transit_cs=40
    )
    return encode_replay(boot_number, payload)


def test_jsonl_shows_a_replayed_record_with_its_boot():
    _, text = run(boot() + replayed_passage(2, 17))
    replays = [o for o in map(json.loads, text.splitlines()) if o["status"] == "REPLAY"]
    assert len(replays) == 1
    assert (replays[0]["type"], replays[0]["seq"], replays[0]["boot"]) == ("passage", 17, 2)


def test_rich_view_calls_a_replay_a_record_from_the_journal_not_a_bad_frame():
    totals, text = run(boot() + replayed_passage(2, 17), mode="rich")
    assert "from the journal, boot 2" in text
    assert "! bad frame" not in text
    assert totals["bad_frames"] == 0


def test_a_full_disk_while_storing_the_held_records_counts_every_record_that_got_in(tmp_path):
    """Records held until the gate says who it is are stored batch by batch; when the disk
    fills up half-way through them, the totals count the batches that did get in."""
    batches = [
        passage(5, 500),
        passage(6, 600),
        encode_record("config", 7, 700, key=protocol.KEY_DEVICE_ID, value=42)
        + encode_record("config", 8, 700, key=protocol.KEY_BOOT_COUNT, value=3),
    ]

    class Port:
        port = "fake"
        in_waiting = 0

        def read(self, n):
            return batches.pop(0) if batches else b""

    db = tmp_path / "m.db"
    store = Store(str(db))
    real_ingest = store.ingest
    calls = []

    def ingest(events, received_at=None):
        calls.append(1)
        if len(calls) > 1:
            raise FevergateError("m.db: cannot write (database or disk is full)", 6)
        return real_ingest(events, received_at)

    store.ingest = ingest
    with pytest.raises(FevergateError) as raised:
        monitor(Port(), mode="quiet", duration_s=1.0, db=store)
    store.close()
    with Store(str(db), readonly=True) as kept:
        assert raised.value.totals["stored"] == kept.count() == 1
