"""The gate deployed with `make deploy` onto an emulated Pico, run from main.py at power-on:
walkers from the shim's Scenario (the ground truth of `fevergate simulate`) on its beam pins
and its MLX90614 target, UART0 decoded with the project's decoder; a hung loop; a power cut
followed by `fevergate sync` over UART0."""

import pico_rig
from pico_tier import SITE_PIN, fevergate

from host_tools.decoder import StreamDecoder
from host_tools.shim.scenario import IN, Scenario
from host_tools.store import open_store
from host_tools.wire import protocol

THRESHOLD_C = 37.30  # config/site_config.py fever_threshold_cc
SKIN_OFFSET_C = 0.50  # config/site_config.py skin_offset_cc
MARGIN_C = 0.30
BOOT_MS = 1500  # power on to the gate's loop, with room


def records(data):
    return [e.record for e in StreamDecoder().feed(data) if e.status.name == "OK"]


def boots_of(got):
    """The records split at each BOOT record."""
    runs = []
    for r in got:
        if r.type == "boot" or not runs:
            runs.append([])
        runs[-1].append(r)
    return runs


def seen_body_c(person):
    return person.forehead_c + SKIN_OFFSET_C


def test_every_walker_is_counted_every_fever_alarmed_and_no_record_lost_on_the_pico(
    pico, deployed_flash
):
    emu = pico(flash=deployed_flash)
    emu.wait_ms(BOOT_MS)
    scenario = Scenario.poisson(7, 0.6, rate=24, min_gap_s=0.8, fever_fraction=0.3)
    assert len(scenario.people) >= 8 and scenario.fevers()
    emu.timeline(pico_rig.scenario_timeline(scenario))
    emu.wait_ms(scenario.duration_ms)
    got = records(emu.uart_bytes())
    assert got[0].type == "boot" and got[0].fields["reset_cause"] == protocol.RESET_POWER_ON
    assert [r.seq for r in got] == list(range(len(got)))  # nothing lost, nothing twice
    passages = [r for r in got if r.type == "passage"]
    # every walker counted once, in their direction, in the order they left the channel
    people = sorted(scenario.people, key=lambda p: p.exit_ms)
    assert [r.fields["direction"] for r in passages] == [
        protocol.DIR_IN if p.direction == IN else protocol.DIR_OUT for p in people
    ]
    for person, passage in zip(people, passages, strict=True):
        if person.direction != IN:
            continue
        if seen_body_c(person) >= THRESHOLD_C + MARGIN_C:
            assert passage.fields["verdict"] == protocol.VERDICT_FEVER, person
        elif seen_body_c(person) < THRESHOLD_C - MARGIN_C:
            assert passage.fields["verdict"] != protocol.VERDICT_FEVER, person
    alarms = [r for r in got if r.type == "alarm" and r.fields["kind"] == protocol.ALARM_FEVER]
    fevers = [r for r in passages if r.fields["verdict"] == protocol.VERDICT_FEVER]
    assert len(alarms) == len(fevers) >= 1


def test_a_hung_loop_ends_in_a_watchdog_reset_that_the_next_boot_record_names(
    pico, deployed_flash
):
    emu = pico(flash=deployed_flash)
    emu.wait_ms(BOOT_MS)
    assert emu.ctl("hang") == "ok"
    emu.wait_ms(7000)  # the gate's watchdog is 5 s
    assert emu.stats()["wdt_resets"] == 1
    emu.wait_ms(BOOT_MS)
    runs = boots_of(records(emu.uart_bytes()))
    assert len(runs) == 2
    assert runs[1][0].type == "boot"
    assert runs[1][0].fields["reset_cause"] == protocol.RESET_WATCHDOG
    assert runs[1][0].fields["boot_count"] == runs[0][0].fields["boot_count"] + 1
    # and the gate runs again: a walker is counted
    walker = Scenario.scripted([(200, 36.6)], 2500)
    emu.timeline(pico_rig.scenario_timeline(walker))
    emu.wait_ms(walker.duration_ms)
    assert [r.type for r in records(emu.uart_bytes())].count("passage") == 1


def test_after_a_power_cut_the_journal_is_whole_and_sync_stores_everything_it_kept(
    pico, deployed_flash, tmp_path
):
    emu = pico(flash=deployed_flash)
    emu.wait_ms(BOOT_MS)
    first = Scenario.scripted([(200, 36.6), (2200, 38.6), (4200, 36.7)], 6000)
    emu.timeline(pico_rig.scenario_timeline(first))
    emu.wait_ms(first.duration_ms + 6000)  # the journal flushes at least every 5 s
    second = Scenario.scripted([(200, 36.5), (2200, 36.8)], 6000)
    emu.timeline(pico_rig.scenario_timeline(second))
    emu.wait_ms(2900)  # the second walker is inside the channel
    emu.power_cut()
    before = records(emu.uart_bytes())
    sent = [r for r in before if r.type == "passage"]
    assert len(sent) == 4

    emu.start()
    emu.wait_ms(BOOT_MS + 500)
    runs = boots_of(records(emu.uart_bytes()))
    assert runs[-1][0].fields["reset_cause"] == protocol.RESET_POWER_CUT
    store = tmp_path / "store.db"
    synced = fevergate("sync", str(emu.uart0_tty), "--store", str(store), "--pin", str(SITE_PIN))
    assert synced.returncode == 0, synced.stdout + synced.stderr
    with open_store(str(store), readonly=True) as db:
        stored = list(db.query(type_="passage"))
    cut_boot = boots_of(before)[-1][0].fields["boot_count"]
    sent_by_seq = {r.seq: r.fields for r in boots_of(before)[-1] if r.type == "passage"}
    kept = {row["seq"]: row["fields"] for row in stored if row["boot"] == cut_boot}
    # every passage flushed before the cut (the first three walkers, 6 s before it) is there,
    # exactly as the gate sent it, and nothing the gate never sent
    flushed = sorted(sent_by_seq)[:3]
    assert set(flushed) <= set(kept)
    for seq, fields in kept.items():
        assert seq in sent_by_seq
        for key, value in sent_by_seq[seq].items():
            assert fields[key] == value, (seq, key)
