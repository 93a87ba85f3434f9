"""`fevergate report`: the day from the store, its numbers checked against the ground truth
of a simulated day that landed on 2026-02-13 (the laptop synced the gate's clock)."""

import datetime
import io
import statistics

import pytest

from host_tools import screening
from host_tools.cli import State, main
from host_tools.decoder import encode_record
from host_tools.report import SCREENING_NOTE, day_report
from host_tools.shim.host import SimHost
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, Scenario
from host_tools.store import Store, ingest_bytes
from host_tools.wire import protocol

DAY = datetime.date(2026, 2, 13)
START = 1770967800  # 2026-02-13 07:30 UTC
THRESHOLD_C = 37.30
MARGIN_C = 0.30


def seen_body_c(person):
    """What the gate can know: the forehead read as configured (offset, ambient correction)."""
    return screening.instrument_body_c(person, screening.effective_settings())


@pytest.fixture(scope="module")
def simulated_day(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("report")
    scenario = Scenario.poisson(41, 150, rate=3, min_gap_s=3.0, fever_fraction=0.08)
    path = str(tmp / "day.db")
    store = Store(path)
    host = SimHost(store, start_unix=START)
    run_simulation(scenario, runtime="cpython", seed=41, flash=str(tmp / "flash"), host=host)
    store.close()
    with Store(path, readonly=True) as readonly:
        (report,) = day_report(readonly, DAY)
    return scenario, report, path


def hour_of(person):
    return int((START + person.exit_ms / 1000) % 86400 // 3600)


def test_the_days_total_is_every_walker_who_came_in(simulated_day):
    scenario, report, _ = simulated_day
    assert report.people_in == len(scenario.people_in()) > 300
    assert report.people_out == len(scenario.people) - len(scenario.people_in())


def test_people_per_hour_match_the_ground_truth_exits(simulated_day):
    scenario, report, _ = simulated_day
    # the passage record comes a debounce (30 ms) after the exit: nobody of this seed leaves
    # in the last half second of an hour, so the hour of the exit is the hour of the record
    assert not [p for p in scenario.people if (START + p.exit_ms / 1000) % 3600 > 3599.5]
    expected = [0] * 24
    for person in scenario.people_in():
        expected[hour_of(person)] += 1
    assert report.people_in_by_hour == expected
    assert [h for h, n in enumerate(expected) if n] == [7, 8, 9]  # 07:30 .. 10:00


def test_every_clear_fever_is_a_screening_result(simulated_day):
    scenario, report, _ = simulated_day
    clear = [p for p in scenario.people if seen_body_c(p) >= THRESHOLD_C + MARGIN_C]
    assert clear
    assert report.fevers >= len(clear)
    assert report.fevers == report.fever_alarms


def test_the_histogram_holds_every_measured_passage(simulated_day):
    scenario, report, _ = simulated_day
    assert sum(n for _, n in report.histogram()) == len(report.temperatures_cc)
    assert len(report.temperatures_cc) == len(scenario.people) - sum(report.remeasures.values())


def test_the_mean_and_spread_match_what_the_sensor_saw(simulated_day):
    scenario, report, _ = simulated_day
    seen = [seen_body_c(p) for p in scenario.people]
    assert abs(report.mean_c - statistics.fmean(seen)) < 0.05
    assert abs(report.spread_c - statistics.pstdev(seen)) < 0.05


def test_the_text_report_says_fevers_are_screening_results(simulated_day, tmp_path):
    _, report, path = simulated_day
    out, err = io.StringIO(), io.StringIO()
    code = main(["report", "--store", path, "--day", "2026-02-13"], State(out, err))
    text = out.getvalue()
    assert code == 0, err.getvalue()
    assert f"people in     {report.people_in}" in text
    assert SCREENING_NOTE in text
    assert "calibration   none recorded" in text


def test_the_png_report_is_written(simulated_day, tmp_path):
    _, _, path = simulated_day
    png = tmp_path / "day.png"
    code = main(
        ["report", "--store", path, "--png", str(png)], State(io.StringIO(), io.StringIO())
    )
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_day_without_records_is_a_clear_message_and_exit_1(simulated_day):
    _, _, path = simulated_day
    err = io.StringIO()
    code = main(["report", "--store", path, "--day", "2026-02-14"], State(io.StringIO(), err))
    assert code == 1
    assert "no records on 2026-02-14" in err.getvalue()


def test_the_calibration_in_force_is_shown(tmp_path):
    capture = b"".join(
        [
            encode_record("boot", 0, 0, reset_cause=1, fw_version=256, boot_count=1, device_id=7),
            encode_record("time", 1, 10, unix_s=START),
            encode_record("config", 2, 20, key=protocol.KEY_CAL_OFFSET, value=-35),
            encode_record("config", 3, 20, key=protocol.KEY_CAL_REFERENCE, value=3700),
            encode_record("config", 4, 20, key=protocol.KEY_CAL_DAY, value=20494),
            encode_record("passage", 5, 500, verdict=0, direction=IN, temp_cc=3655, transit_cs=80),
        ]
    )
    path = str(tmp_path / "cal.db")
    ingest_bytes(path, capture)
    out = io.StringIO()
    assert main(["report", "--store", path, "--day", "2026-02-13"], State(out, io.StringIO())) == 0
    assert "calibration   offset -0.35 °C against 37.00 °C, 2026-02-10" in out.getvalue()


def test_help_names_every_option(capsys):
    assert main(["report", "--help"]) == 0
    text = capsys.readouterr().out
    for option in ("--store", "--day", "--png", "--device"):
        assert option in text


def tiny_gate(device_id, people):
    records = [
        encode_record(
            "boot", 0, 0, reset_cause=1, fw_version=256, boot_count=1, device_id=device_id
        ),
        encode_record("time", 1, 0, unix_s=START),
    ]
    for i in range(people):
        records.append(
            encode_record(
                "passage", 2 + i, 100 * i, verdict=0, direction=IN, temp_cc=3650, transit_cs=80
            )
        )
    return b"".join(records)


def test_a_store_of_several_gates_reports_each_and_their_total(tmp_path):
    path = str(tmp_path / "two.db")
    ingest_bytes(path, tiny_gate(7, 3))
    ingest_bytes(path, tiny_gate(8, 5))
    out = io.StringIO()
    assert main(["report", "--store", path, "--day", "2026-02-13"], State(out, io.StringIO())) == 0
    text = out.getvalue()
    assert "gate 0x00000007" in text and "gate 0x00000008" in text
    assert "all 2 gates: 8 people in" in text


def test_one_gate_of_several_is_reported_alone(tmp_path):
    path = str(tmp_path / "two.db")
    ingest_bytes(path, tiny_gate(7, 3))
    ingest_bytes(path, tiny_gate(8, 5))
    out = io.StringIO()
    argv = ["report", "--store", path, "--day", "2026-02-13", "--device", "0x8"]
    assert main(argv, State(out, io.StringIO())) == 0
    assert "people in     5" in out.getvalue()
    assert "0x00000007" not in out.getvalue()
