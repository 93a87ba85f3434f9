"""`fevergate simulate`: options, the JSON summary, the capture file, the demo on the pty."""

import argparse
import io
import json

from host_tools.simulate import argparse_simulate, do_simulate

SUMMARY_KEYS = {
    "runtime",
    "simulated_s",
    "wall_s",
    "people_true",
    "people_counted",
    "fevers_true",
    "fevers_alarmed",
    "false_alarms",
    "remeasures",
    "pump_on_s",
    "records_sent",
    "records_received",
    "records_lost",
    "faults",
    "people_countable",
    "people_abreast",
    "screening",
}


class State:
    def __init__(self):
        self.out = io.StringIO()
        self.err = io.StringIO()


def simulate(*argv):
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    state = State()
    code = do_simulate(state, parser.parse_args(list(argv)))
    return code, state


def test_defaults_are_the_demo_numbers_on_micropython():
    args = argparse_simulate(argparse.ArgumentParser()).parse_args([])
    assert (args.minutes, args.rate, args.seed, args.runtime) == (3.0, 20.0, 2020, "micropython")
    assert args.realtime_factor is None and not args.demo and not args.json


def test_json_summary_has_every_promised_field():
    code, state = simulate("--minutes", "1", "--runtime", "cpython", "--json")
    assert code == 0, state.err.getvalue()
    summary = json.loads(state.out.getvalue())
    assert SUMMARY_KEYS <= set(summary)
    assert summary["runtime"] == "cpython" and summary["simulated_s"] == 60.0
    assert summary["people_true"] > 0


def test_json_summary_on_micropython_names_the_interpreter():
    code, state = simulate("--minutes", "0.5", "--json")
    assert code == 0, state.err.getvalue()
    summary = json.loads(state.out.getvalue())
    assert summary["runtime"] == "micropython"
    assert summary["interpreter"].startswith("micropython")


def test_faults_are_listed_with_their_rates():
    code, state = simulate(
        "--minutes", "1", "--runtime", "cpython", "--json", "--faults", "nack=0.2,bounce"
    )
    assert code == 0
    assert json.loads(state.out.getvalue())["faults"] == {"bounce": 0.5, "nack": 0.2}


def test_capture_holds_the_raw_uart_bytes(tmp_path):
    path = tmp_path / "gate.bin"
    code, state = simulate(
        "--minutes", "1", "--runtime", "cpython", "--json", "--capture", str(path)
    )
    assert code == 0
    data = path.read_bytes()
    assert data.endswith(b"\x00") and len(data) == json.loads(state.out.getvalue())["uart_bytes"]


def test_text_summary_reads_like_a_report():
    code, state = simulate("--minutes", "1", "--runtime", "cpython")
    assert code == 0
    text = state.out.getvalue()
    assert "people" in text and "records" in text and "counted" in text


def test_unknown_fault_is_a_usage_error():
    code, state = simulate("--faults", "gremlins")
    assert code == 2
    assert "unknown fault" in state.err.getvalue()


def test_pty_option_prints_the_serial_port_path():
    code, state = simulate("--minutes", "0.2", "--runtime", "cpython", "--pty")
    assert code == 0
    assert "/dev/pts/" in state.err.getvalue()


def test_realtime_factor_paces_simulated_time_against_the_wall_clock():
    code, state = simulate(
        "--minutes", "0.05", "--runtime", "cpython", "--json", "--realtime-factor", "10"
    )
    assert code == 0
    summary = json.loads(state.out.getvalue())
    assert summary["wall_s"] >= 3.0 / 10 * 0.95


def test_demo_shows_records_live_on_the_pty_then_the_summary():
    code, state = simulate(
        "--demo", "--minutes", "0.25", "--rate", "30", "--realtime-factor", "30", "--seed", "3"
    )
    assert code == 0, state.err.getvalue()
    text = state.out.getvalue()
    assert "monitor stopped" not in state.err.getvalue()
    live, _, summary = text.rpartition("simulated ")
    assert "passage" in live.lower()
    assert "people" in summary
