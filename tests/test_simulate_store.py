"""`fevergate simulate --store --connect-after --power-cuts --uart-noise --start`: the
laptop's store and the summary keys that show nothing was lost."""

import argparse
import functools
import io
import json

from host_tools.simulate import argparse_simulate, do_simulate, power_cut_instants
from host_tools.store import Store

STORE_KEYS = {"people_in_store", "records_in_store", "power_cuts", "journal_dropped"}


class State:
    def __init__(self):
        self.out = io.StringIO()
        self.err = io.StringIO()


def simulate(*argv):
    parser = argparse_simulate(argparse.ArgumentParser(prog="fevergate simulate"))
    state = State()
    code = do_simulate(state, parser.parse_args(list(argv)))
    return code, state


@functools.lru_cache(maxsize=1)
def late_laptop_with_cuts_and_noise(path):
    code, state = simulate(
        "--minutes", "12", "--rate", "6", "--separated", "3", "--seed", "31",
        "--store", path, "--connect-after", "10", "--start", "2026-02-13T07:30",
        "--power-cuts", "2", "--uart-noise", "0.002", "--json",
    )  # fmt: skip
    assert code == 0, state.err.getvalue()
    return json.loads(state.out.getvalue())


def test_the_summary_has_the_store_keys(tmp_path_factory):
    summary = late_laptop_with_cuts_and_noise(str(tmp_path_factory.getbasetemp() / "s.db"))
    assert STORE_KEYS <= set(summary)
    assert summary["power_cuts"] == 2 and summary["boots"] == 3


def test_the_laptop_plugged_in_late_gets_the_journal_of_every_boot(tmp_path_factory):
    path = str(tmp_path_factory.getbasetemp() / "s.db")
    summary = late_laptop_with_cuts_and_noise(path)
    assert summary["connected_at_s"] >= 600
    with Store(path, readonly=True) as store:
        device = next(store.query(type_="boot"))["device_id"]
        assert store.boots(device) == [1, 2, 3]
    assert summary["sync"]["missing"] == 0 and summary["sync"]["error"] == ""


def test_the_store_holds_every_passage_the_gate_counted(tmp_path_factory):
    summary = late_laptop_with_cuts_and_noise(str(tmp_path_factory.getbasetemp() / "s.db"))
    # each cut may lose the last few seconds not yet flushed: the walkers are 3 s apart
    assert summary["people_true"] - 2 * 3 <= summary["people_in_store"] <= summary["people_true"]
    assert summary["records_in_store"] >= summary["records_received"]


def test_records_stored_before_the_connection_have_the_wall_time_of_the_start(tmp_path_factory):
    path = str(tmp_path_factory.getbasetemp() / "s.db")
    late_laptop_with_cuts_and_noise(path)
    with Store(path, readonly=True) as store:
        last_boot = max(row["boot"] for row in store.query(type_="boot"))
        first = next(row for row in store.query() if row["boot"] == last_boot)
    start = 1770967800  # 2026-02-13T07:30 UTC
    assert start < first["wall_time"] < start + 12 * 60


def test_power_cut_instants_come_from_the_seed_and_stay_inside_the_run():
    cuts = power_cut_instants(5, 3, 600_000)
    assert cuts == power_cut_instants(5, 3, 600_000) == sorted(cuts)
    assert all(60_000 <= t < 540_000 for t in cuts)
    assert cuts != power_cut_instants(6, 3, 600_000)


def test_connect_after_without_a_store_is_a_usage_error():
    code, state = simulate("--connect-after", "1")
    assert code == 2
    assert "--store" in state.err.getvalue()


def test_power_cuts_on_the_cpython_runtime_is_a_usage_error(tmp_path):
    code, state = simulate("--runtime", "cpython", "--power-cuts", "1")
    assert code == 2
    assert "micropython" in state.err.getvalue()


def test_a_start_that_is_not_a_date_is_a_usage_error(tmp_path):
    code, state = simulate("--store", str(tmp_path / "s.db"), "--start", "yesterday")
    assert code == 2
    assert "ISO" in state.err.getvalue()


def test_the_text_summary_shows_the_laptop_and_the_sync(tmp_path):
    code, state = simulate(
        "--minutes", "1", "--runtime", "cpython", "--store", str(tmp_path / "s.db"),
        "--start", "2026-02-13T07:30",
    )  # fmt: skip
    assert code == 0, state.err.getvalue()
    text = state.out.getvalue()
    assert "laptop   plugged in at 0 s" in text
    assert "sync     " in text
