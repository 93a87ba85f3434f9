"""The crowd scenario and the World's timeline: who walks when, what the beams and sensor see."""

import pytest

from host_tools.shim.board import SimBoard
from host_tools.shim.faults import parse_faults
from host_tools.shim.scenario import IN, OUT, Person, Scenario
from host_tools.shim.world import BEAM_A, BEAM_B, BUS_STUCK, TANK, SimulationOver, World


class Sensor:
    def __init__(self):
        self.targets = []
        self.ambient_c = 22.0

    def set_target(self, now_ms, object_c):
        self.targets.append((now_ms, object_c))

    def read_word(self, now_ms, command):
        return b"\x00\x00\x00"


def hour():
    return Scenario.poisson(seed=5, minutes=60, rate=12)


def test_same_seed_gives_the_same_people():
    a = Scenario.poisson(seed=3, minutes=10, rate=10)
    b = Scenario.poisson(seed=3, minutes=10, rate=10)
    c = Scenario.poisson(seed=4, minutes=10, rate=10)
    assert a.people == b.people
    assert a.people != c.people


def test_arrivals_follow_the_rate():
    people = hour().people
    assert 600 < len(people) < 840  # 720 expected, Poisson spread and queueing


def test_speeds_stay_realistic_and_one_beam_is_blocked_about_a_fifth_of_a_second():
    people = hour().people
    assert all(0.9 <= p.speed_mps <= 1.8 for p in people)
    mean = sum(p.first_clear_ms - p.arrival_ms for p in people) / len(people)
    assert 170 <= mean <= 230


def test_everyone_leaves_the_channel_before_the_end():
    scenario = hour()
    assert all(p.exit_ms < scenario.duration_ms for p in scenario.people)


def test_some_walk_out_and_some_walk_abreast():
    people = hour().people
    assert any(p.direction == OUT for p in people)
    assert any(p.abreast for p in people)


def test_walkers_one_way_never_overtake():
    people = [p for p in hour().people if not p.abreast]
    for before, after in zip(people, people[1:], strict=False):
        assert after.arrival_ms >= before.first_clear_ms
        assert after.exit_ms > before.exit_ms


def test_followers_keep_their_room_at_the_far_beam_too():
    # a faster follower catching up inside the channel: the far beam still sees two shadows
    scenario = Scenario.poisson(seed=7, minutes=20, rate=50, speed_mps=(2.0, 3.0))
    people = [p for p in scenario.people if not p.abreast]
    for before, after in zip(people, people[1:], strict=False):
        if before.direction == after.direction:
            room_ms = int(0.35 / after.speed_mps * 1000)
            assert after.arrival_ms - before.first_clear_ms >= room_ms
            assert after.second_block_ms - before.exit_ms >= room_ms - 1


def test_opposite_walkers_wait_for_an_empty_channel():
    people = hour().people
    for i, p in enumerate(people[1:], 1):
        if p.direction != people[i - 1].direction:
            assert all(q.exit_ms < p.arrival_ms for q in people[:i])


def test_temperatures_are_normal_with_a_few_fevers():
    people = hour().people
    normal = [p.body_c for p in people if not p.fever]
    fevers = [p for p in people if p.fever]
    mean = sum(normal) / len(normal)
    assert 36.5 < mean < 36.7
    assert 0 < len(fevers) < 0.1 * len(people)
    assert all(37.6 <= p.body_c <= 39.5 for p in fevers)
    assert all(0.0 <= p.skin_offset_c <= 1.1 for p in people)


def test_separated_walkers_are_alone_in_the_channel():
    people = Scenario.poisson(seed=9, minutes=30, rate=6, min_gap_s=2.0).people
    for before, after in zip(people, people[1:], strict=False):
        assert after.arrival_ms >= before.exit_ms + 2000


def test_blocked_intervals_follow_the_walking_direction():
    walker_in = Person(0, 1000, 1.4, IN, 36.6, 0.5, False)
    walker_out = Person(1, 9000, 1.4, OUT, 36.6, 0.5, False)
    assert walker_in.blocked() == [("A", 1000, 1200), ("B", 1714, 1914)]
    assert walker_out.blocked() == [("B", 9000, 9200), ("A", 9714, 9914)]


def test_sensor_sees_the_forehead_of_the_person_inside_and_background_otherwise():
    scenario = Scenario.scripted([(1000, 37.0), (5000, 38.0)], 10_000)
    assert scenario.target_changes() == [(1000, 36.5), (1914, None), (5000, 37.5), (5914, None)]


def test_sensor_sees_the_most_recent_of_two_people_inside():
    scenario = Scenario.scripted([(1000, 37.0), (1400, 38.0)], 10_000)
    changes = scenario.target_changes()
    assert changes[:2] == [(1000, 36.5), (1400, 37.5)]
    assert changes[-1][1] is None


def world(scenario, faults="", seed=1, sensor=None):
    return World(scenario, parse_faults(faults), seed=seed, sensor=sensor or Sensor())


def test_world_fires_beam_irqs_at_the_instant_of_each_edge():
    w = world(Scenario.scripted([(1000, 36.6)], 5000))
    seen = []
    w.beam_a.irq(lambda pin: seen.append(("A", pin.value(), w.clock.elapsed)), 3)
    w.beam_b.irq(lambda pin: seen.append(("B", pin.value(), w.clock.elapsed)), 3)
    for t in range(0, 5000, 10):
        w.advance_to(t)
    assert seen == [("A", 0, 1000), ("A", 1, 1200), ("B", 0, 1714), ("B", 1, 1914)]


def test_world_sets_the_sensor_target_when_it_changes():
    sensor = Sensor()
    w = world(Scenario.scripted([(1000, 37.0)], 5000), sensor=sensor)
    w.advance_to(5000)
    assert sensor.targets == [(1000, 36.5), (1914, None)]


def test_bounce_fault_adds_short_edges_that_end_at_the_true_level():
    w = world(Scenario.scripted([(1000, 36.6)], 5000), faults="bounce=1.0")
    a = [(t, level) for t, kind, level in w.timeline if kind == BEAM_A]
    assert len(a) > 2
    assert all(1000 <= t <= 1004 or 1200 <= t <= 1204 for t, _ in a)
    assert [level for t, level in a if t <= 1004][-1] == 0
    assert a[-1][1] == 1


def test_blocked_beam_fault_holds_beam_a_blocked():
    w = world(Scenario.scripted([], 100_000), faults="blocked-beam=15")
    a = [(t, level) for t, kind, level in w.timeline if kind == BEAM_A]
    assert a == [(30_000, 0), (45_000, 1)]


def test_tank_empty_fault_empties_the_tank_for_a_while():
    w = world(Scenario.scripted([], 100_000), faults="tank-empty=20")
    tank = [(t, level) for t, kind, level in w.timeline if kind == TANK]
    assert tank == [(50_000, 0), (70_000, 1)]


def test_stuck_bus_fault_locks_the_bus_repeatedly():
    w = world(Scenario.scripted([], 100_000), faults="stuck-bus=30")
    stuck = [t for t, kind, _ in w.timeline if kind == BUS_STUCK]
    assert stuck == [20_000, 50_000, 80_000]
    w.advance_to(20_000)
    assert w.i2c.stuck


def test_pin_events_for_a_slice_are_taken_once_and_in_order():
    w = world(Scenario.scripted([(1000, 36.6), (3000, 36.6)], 10_000))
    first, end = w.take_pin_events(1500)
    assert end == 1500
    assert [(t, k) for t, k, _ in first] == [(1000, BEAM_A), (1200, BEAM_A)]
    rest, _ = w.take_pin_events(10_000)
    assert [k for _, k, _ in rest] == [BEAM_B, BEAM_B, BEAM_A, BEAM_A, BEAM_B, BEAM_B]


def test_pin_events_limit_shortens_the_slice_without_splitting_a_millisecond():
    w = world(Scenario.scripted([(1000, 36.6)], 10_000))
    taken, end = w.take_pin_events(10_000, limit=1)
    assert [t for t, _, _ in taken] == [1000] and end == 1200
    rest, _ = w.take_pin_events(10_000)
    assert [t for t, _, _ in rest] == [1200, 1714, 1914]


BOARD_ATTRIBUTES = (
    "NAME i2c recover_i2c beam_a beam_b BEAM_BLOCKED IRQ_BOTH tank_ok TANK_OK pump buzzer uart "
    "UART_BAUD ticks_ms sleep_ms watchdog reset_cause mem_free device_id"
).split()


def test_the_cpython_sim_board_has_every_board_attribute_of_the_architecture():
    board = SimBoard(world(Scenario.scripted([], 1000)))
    missing = [name for name in BOARD_ATTRIBUTES if not hasattr(board, name)]
    assert missing == []
    assert board.beam_a.value() != board.BEAM_BLOCKED
    assert board.tank_ok.value() == board.TANK_OK


def test_the_cpython_sim_board_sleep_ends_the_run_at_the_scenario_end():
    board = SimBoard(world(Scenario.scripted([], 1000, seed=0)))
    board.sleep_ms(990)
    with pytest.raises(SimulationOver):
        board.sleep_ms(10)
    assert board.clock.elapsed == 1000
