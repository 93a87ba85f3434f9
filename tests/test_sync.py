"""Nothing lost: the gate's journal reaches the host store through late connections, a noisy
UART, an interrupted sync and power cuts. The real firmware against the simulated gate, the
laptop a SimHost running the same SyncSession as `fevergate sync`."""

import pytest

from host_tools.shim.bridge import REBOOT_MS
from host_tools.shim.faults import parse_faults
from host_tools.shim.host import SimHost
from host_tools.shim.runner import run_simulation
from host_tools.shim.scenario import IN, Scenario
from host_tools.simulate import decode
from host_tools.store import Store
from host_tools.wire import protocol

START_UNIX = 1770967800  # 2026-02-13 07:30 UTC
MINUTE = 60_000
FLUSH_MS = 5000  # firmware/gate.py FLUSH_MS: the journal is on flash at most this late


def sent_records(result):
    """Every record the gate handed to its UART, before any wire fault."""
    return [e.record for e in decode(bytes(result.world.uart.tx)) if e.status.name == "OK"]


CHATTER_TYPES = ("config", "reply", "status")  # answers to frames without the right PIN


def gaps_before(store, device_id, boot, t_cs):
    """The store's gaps of `boot` among the records sent before uptime `t_cs`."""
    seqs = {row["seq"] for row in store.query() if row["boot"] == boot and row["t_cs"] < t_cs}
    return [gap for gap in store.gaps(device_id, boot) if gap[0] in seqs or gap[0] - 1 in seqs]


def stored_keys(store):
    return {(row["boot"], row["seq"], row["t_cs"]) for row in store.query()}


def day(runtime, hours, connect_minutes_before_end, tmp, seed, faults="", **kwargs):
    scenario = Scenario.poisson(seed, hours * 60, rate=2, min_gap_s=3.0, fever_fraction=0.05)
    store = Store(str(tmp / "host.db"))
    end_ms = hours * 60 * MINUTE
    host = SimHost(
        store,
        connect_ms=end_ms - connect_minutes_before_end * MINUTE,
        start_unix=START_UNIX,
        **kwargs,
    )
    result = run_simulation(
        scenario,
        runtime=runtime,
        seed=seed,
        flash=str(tmp / "flash"),
        host=host,
        faults=parse_faults(faults),
    )
    return scenario, result, store, host


@pytest.fixture(scope="module")
def a_day_on_cpython(tmp_path_factory):
    return day("cpython", 12, 10, tmp_path_factory.mktemp("day"), seed=21)


def test_a_day_with_the_laptop_connected_for_its_last_ten_minutes_stores_every_passage(
    a_day_on_cpython,
):
    scenario, result, store, host = a_day_on_cpython
    assert len(scenario.people) > 1000
    assert store.count("passage") == len(scenario.people)
    assert host.session.result.downloaded > 1000
    assert host.session.result.gaps == {}


def test_the_stored_day_counts_match_the_ground_truth(a_day_on_cpython):
    scenario, result, store, host = a_day_on_cpython
    directions = [row["fields"]["direction"] for row in store.query(type_="passage")]
    assert directions.count(protocol.DIR_IN) == len(scenario.people_in())
    assert directions.count(protocol.DIR_OUT) == sum(
        1 for p in scenario.people if p.direction != IN
    )


def test_the_stored_day_has_every_record_the_gate_sent(a_day_on_cpython):
    _, result, store, _ = a_day_on_cpython
    keys = stored_keys(store)
    missing = [r for r in sent_records(result) if (1, r.seq, r.t_cs) not in keys]
    assert missing == []


def test_records_from_before_the_connection_get_wall_time_from_the_time_sync(a_day_on_cpython):
    scenario, _, store, _ = a_day_on_cpython
    first = min(store.query(type_="passage"), key=lambda row: row["t_cs"])
    person = min(scenario.people, key=lambda p: p.exit_ms)
    assert abs(first["wall_time"] - (START_UNIX + person.exit_ms / 1000)) < 2.0
    assert (
        store.db.execute("SELECT COUNT(*) FROM records WHERE wall_time IS NULL").fetchone()[0] == 0
    )


def test_the_laptop_connected_late_to_the_firmware_on_micropython_gets_every_passage(tmp_path):
    scenario, result, store, host = day("micropython", 1, 10, tmp_path, seed=22)
    assert result.runtime == "micropython"
    assert store.count("passage") == len(scenario.people) > 100
    assert host.session.result.gaps == {}


def test_a_noisy_uart_ends_with_every_record_in_the_store_the_resends_filling_the_gaps(tmp_path):
    scenario = Scenario.poisson(23, 10, rate=10, min_gap_s=2.0)
    store = Store(str(tmp_path / "host.db"))
    host = SimHost(store, connect_ms=MINUTE, start_unix=START_UNIX)
    result = run_simulation(
        scenario,
        runtime="cpython",
        seed=23,
        flash=str(tmp_path / "flash"),
        host=host,
        faults=parse_faults("uart-drop=0.003,uart-corrupt=0.003"),
    )
    assert result.world.uart.bytes_dropped + result.world.uart.bytes_corrupted > 20
    assert host.session.result.passes > 1
    keys = stored_keys(store)
    settled = result.world.end_ms // 10 - 1000  # t_cs 10 s before the end: repaired by then
    missing = [
        r for r in sent_records(result) if r.t_cs < settled and (1, r.seq, r.t_cs) not in keys
    ]
    # what the wire damaged came again from the journal; link chatter (the answers to the
    # session's free commands) is not journaled: a damaged answer stays missing, and the
    # gate's CONFIG KEY_CHATTER records say those numbers are not lost records
    assert all(r.type in CHATTER_TYPES for r in missing), missing
    assert any(r.type == "passage" for r in sent_records(result) if r.t_cs < settled)
    assert gaps_before(store, host.session.device_id, 1, settled) == []


def test_an_interrupted_sync_resumes_where_it_stopped(tmp_path):
    scenario = Scenario.poisson(24, 20, rate=10, min_gap_s=2.0)
    flash = str(tmp_path / "flash")
    store = Store(str(tmp_path / "host.db"))
    pulled = SimHost(store, connect_ms=19 * MINUTE, disconnect_ms=19 * MINUTE + 250)
    first_run = run_simulation(scenario, runtime="cpython", seed=24, flash=flash, host=pulled)
    journal_total = len(sent_records(first_run))
    first = pulled.session.result.downloaded
    assert 0 < first < journal_total / 2  # cut off early in the download
    resume = store.sync_state(pulled.session.device_id)
    assert resume is not None and resume[0] == 1
    again = SimHost(store, connect_ms=0)
    run_simulation(Scenario.scripted([], 60_000), runtime="cpython", flash=flash, host=again)
    keys = stored_keys(store)
    missing = [r for r in sent_records(first_run) if (1, r.seq, r.t_cs) not in keys]
    # only the answers the gate sent after the cable was pulled: link chatter, not journaled
    cut_cs = (19 * MINUTE + 250) // 10
    assert all(r.type in CHATTER_TYPES and r.t_cs >= cut_cs for r in missing), missing
    assert len(missing) <= 3  # the end of the download: BACKLOG_SENT, JOURNAL_DROPPED, REPLY
    assert store.gaps(pulled.session.device_id, 1) == []
    assert again.session.result.downloaded < journal_total  # it did not start from scratch
    assert store.count("passage") == len(scenario.people)


def test_power_cuts_lose_only_the_records_not_yet_flushed(tmp_path):
    scenario = Scenario.poisson(25, 6, rate=8, min_gap_s=2.0)
    store = Store(str(tmp_path / "host.db"))
    host = SimHost(store, connect_ms=5 * MINUTE)
    cuts = (70_000, 170_000)
    result = run_simulation(
        scenario,
        runtime="micropython",
        seed=25,
        flash=str(tmp_path / "flash"),
        host=host,
        power_cuts=cuts,
    )
    assert result.bridge.power_cuts == list(cuts)
    boots = store.boots(host.session.device_id)
    assert boots == [1, 2, 3]
    for boot in boots:
        assert store.gaps(host.session.device_id, boot) == []  # at most an unflushed tail
    starts = [0] + [cut + REBOOT_MS for cut in cuts]  # each boot's uptime 0, world time
    boot = -1
    passages_sent = []
    for r in sent_records(result):
        boot += r.type == "boot"
        if r.type == "passage":
            passages_sent.append(starts[boot] + r.t_cs * 10)
    ends = list(cuts) + [result.world.end_ms]
    at_risk = sum(1 for t in passages_sent if any(0 <= end - t < FLUSH_MS for end in ends))
    in_store = store.count("passage")
    assert len(passages_sent) - at_risk <= in_store <= len(passages_sent)


class WatchedHost(SimHost):
    """A SimHost that notes the download's progress every time it runs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fractions = []

    def at(self, elapsed_ms):
        super().at(elapsed_ms)
        if self.session is not None and self.session.progress_fraction is not None:
            self.fractions.append(self.session.progress_fraction)


def test_a_download_knows_how_far_it_is(tmp_path):
    scenario = Scenario.poisson(26, 5, rate=20, min_gap_s=1.0)
    host = WatchedHost(Store(str(tmp_path / "host.db")), connect_ms=4 * MINUTE)
    run_simulation(scenario, runtime="cpython", seed=26, flash=str(tmp_path / "flash"), host=host)
    fractions = host.fractions
    assert any(0 < f < 1 for f in fractions)
    assert fractions == sorted(fractions)  # one download: it only goes forward
    assert fractions[-1] == 1.0
