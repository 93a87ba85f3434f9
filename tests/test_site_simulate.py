"""`fevergate simulate --gates N`: a site of its own (Mosquitto, PostgreSQL, bridges,
ingesters) started and stopped by the command, every record of every gate in PostgreSQL
exactly once through a broker restart and a bridge cut off from the network."""

import io
import json

import pytest

from host_tools.cli import State, main


@pytest.fixture(scope="module")
def site_run():
    out, err = io.StringIO(), io.StringIO()
    argv = ["simulate", "--gates", "2", "--minutes", "6", "--rate", "10", "--broker-restarts",
            "1", "--restart-every", "1", "--bridge-offline", "40", "--json"]  # fmt: skip
    code = main(argv, State(out=out, err=err))
    return code, json.loads(out.getvalue()), err.getvalue()


def test_every_record_of_every_gate_is_in_postgresql_exactly_once(site_run):
    code, summary, err = site_run
    assert code == 0, err
    assert summary["gates"] == 2 and summary["own_broker"] and summary["own_database"]
    assert summary["records_sent"] > 100
    assert summary["records_in_db"] == summary["records_sent"]
    assert summary["records_missing"] == 0 and summary["duplicates_in_db"] == 0
    assert summary["people_in_db"] == summary["people_counted"] > 50
    assert summary["people_counted"] == summary["people_countable"]  # every countable walker
    assert len({gate["device_id"] for gate in summary["per_gate"]}) == 2


def test_the_faults_happened(site_run):
    _code, summary, _err = site_run
    assert summary["broker_restarts"] == summary["broker_restarts_while_gates_ran"] == 1
    assert 0 < summary["broker_restarted_at_passages_in_db"][0] < summary["people_in_db"]
    cut = [g["bridge"] for g in summary["per_gate"] if g["bridge"].get("network_cuts")]
    assert len(cut) == 1 and cut[0]["connects"] >= 2  # gate 0's bridge came back
    assert summary["latency_p99_ms"] is not None
    for key in ("people_countable", "people_in_db", "records_sent", "records_in_db",
                "duplicates_in_db", "broker_restarts", "latency_p99_ms"):  # fmt: skip
        assert key in summary
