"""BeamCounter: debounce, occupancy, direction, two people, one beam, stuck beam, wrap."""

import micropython

import protocol
from beam import EV_ENTER, EV_NONE, EV_PASS, EV_STUCK, EV_UNSTUCK, EV_VACATED, BeamCounter
from fakes_pins import BLOCKED, CLEAR, IRQ_BOTH, FakeClock, FakeCriticalSection, FakePin, LevelPin

TICK = 10
WRAP = 1 << 30


def new(two_beams=True, start=0, pin=FakePin, **kwargs):
    clock = FakeClock(start)
    a = pin()
    b = pin() if two_beams else None
    beam = BeamCounter(a, b, BLOCKED, IRQ_BOTH, clock.ticks_ms, **kwargs)
    return clock, a, b, beam


def run(clock, beam, ms):
    """Poll every TICK for ms; return the events seen (EV_NONE left out)."""
    events = []
    for _ in range(ms // TICK):
        clock.advance(TICK)
        ev = beam.poll(clock.now)
        if ev != EV_NONE:
            events.append(ev)
    return events


def block(clock, beam, pin, ms):
    pin.drive(BLOCKED)
    events = run(clock, beam, ms)
    pin.drive(CLEAR)
    return events


def walk(clock, beam, first, second):
    """A person breaks `first` for 200 ms, walks 400 ms, breaks `second` for 200 ms."""
    events = block(clock, beam, first, 200)
    events += run(clock, beam, 400)
    events += block(clock, beam, second, 200)
    return events + run(clock, beam, 100)


def test_block_shorter_than_debounce_is_ignored():
    clock, a, b, beam = new()
    events = block(clock, beam, a, 20)
    events += run(clock, beam, 200)
    assert events == []
    assert not beam.occupied


def test_bouncing_edges_give_one_enter():
    clock, a, b, beam = new()
    for i in range(7):  # 35 ms of chatter across several polls, ending blocked
        a.drive(BLOCKED if i % 2 == 0 else CLEAR)
        clock.advance(5)
        if i % 2:
            beam.poll(clock.now)
    events = run(clock, beam, 200)
    assert events == [EV_ENTER]


def test_enter_waits_for_the_level_to_hold_debounce_ms():
    clock, a, b, beam = new(debounce_ms=30)
    a.drive(BLOCKED)
    assert run(clock, beam, 20) == []
    assert run(clock, beam, 10) == [EV_ENTER]


def test_walk_a_to_b_passes_in():
    clock, a, b, beam = new()
    events = walk(clock, beam, a, b)
    assert events == [EV_ENTER, EV_PASS]
    assert beam.direction == protocol.DIR_IN
    assert (beam.people_in, beam.people_out) == (1, 0)


def test_walk_b_to_a_passes_out():
    clock, a, b, beam = new()
    events = walk(clock, beam, b, a)
    assert events == [EV_ENTER, EV_PASS]
    assert beam.direction == protocol.DIR_OUT
    assert (beam.people_in, beam.people_out) == (0, 1)


def test_transit_runs_from_first_break_to_clearing_the_far_beam():
    clock, a, b, beam = new()
    walk(clock, beam, a, b)
    assert beam.transit_ms == 800


def test_an_event_carries_the_instant_of_its_edge_not_of_the_poll():
    clock, a, b, beam = new(debounce_ms=30)
    clock.advance(TICK)
    a.drive(BLOCKED)
    edge = clock.now
    events = run(clock, beam, 100)
    assert events == [EV_ENTER]
    assert beam.event_ms == edge


def test_a_passage_carries_the_instant_the_far_beam_cleared():
    clock, a, b, beam = new(debounce_ms=30)
    block(clock, beam, a, 200)
    run(clock, beam, 400)
    b.drive(BLOCKED)
    run(clock, beam, 200)
    b.drive(CLEAR)
    cleared = clock.now
    assert run(clock, beam, 100) == [EV_PASS]
    assert beam.event_ms == cleared


def test_channel_is_occupied_from_first_break_until_far_beam_clears():
    clock, a, b, beam = new()
    assert not beam.occupied
    a.drive(BLOCKED)
    run(clock, beam, 200)
    assert beam.occupied
    a.drive(CLEAR)
    run(clock, beam, 400)
    assert beam.occupied  # between the beams
    b.drive(BLOCKED)
    run(clock, beam, 200)
    b.drive(CLEAR)
    run(clock, beam, 20)
    assert beam.occupied  # still debouncing the far beam
    run(clock, beam, 20)
    assert not beam.occupied


def test_two_people_close_together_count_two_in_order():
    clock, a, b, beam = new()
    events = block(clock, beam, a, 200)  # 0: first person
    events += run(clock, beam, 100)
    events += block(clock, beam, a, 200)  # 300: second person
    events += run(clock, beam, 300)
    assert beam.inside == 2
    events += block(clock, beam, b, 200)  # 800: first reaches the exit
    events += run(clock, beam, 100)
    assert beam.occupied and beam.inside == 1
    assert beam.transit_ms == 1000
    events += block(clock, beam, b, 200)  # 1100: second reaches the exit
    events += run(clock, beam, 100)
    assert events == [EV_ENTER, EV_ENTER, EV_PASS, EV_PASS]
    assert beam.people_in == 2 and beam.transit_ms == 1000
    assert not beam.occupied


def test_two_people_abreast_count_as_one():
    clock, a, b, beam = new()
    events = walk(clock, beam, a, b)  # two bodies, one unbroken shadow on each beam
    assert events.count(EV_PASS) == 1
    assert beam.people_in == 1


def test_walkers_in_opposite_directions_both_pass():
    clock, a, b, beam = new()
    a.drive(BLOCKED)
    b.drive(BLOCKED)
    run(clock, beam, 200)
    a.drive(CLEAR)
    b.drive(CLEAR)
    run(clock, beam, 400)
    assert beam.inside == 2
    a.drive(BLOCKED)
    b.drive(BLOCKED)
    run(clock, beam, 200)
    a.drive(CLEAR)
    b.drive(CLEAR)
    events = run(clock, beam, 100)
    assert events == [EV_PASS, EV_PASS]
    assert (beam.people_in, beam.people_out) == (1, 1)


def test_two_events_in_one_poll_come_out_one_per_poll():
    clock, a, b, beam = new()
    block(clock, beam, a, 200)
    run(clock, beam, 400)
    b.drive(BLOCKED)
    run(clock, beam, 200)
    b.drive(CLEAR)  # the first person leaves as the next one arrives
    a.drive(BLOCKED)
    clock.advance(40)
    assert beam.poll(clock.now) == EV_ENTER
    assert beam.poll(clock.now) == EV_PASS
    assert beam.direction == protocol.DIR_IN
    assert beam.poll(clock.now) == EV_NONE


def test_one_beam_board_counts_every_passage_in_with_unknown_direction():
    clock, a, b, beam = new(two_beams=False)
    events = block(clock, beam, a, 200) + run(clock, beam, 100)
    events += block(clock, beam, a, 200) + run(clock, beam, 100)
    assert events == [EV_ENTER, EV_PASS, EV_ENTER, EV_PASS]
    assert beam.direction == protocol.DIR_UNKNOWN
    assert (beam.people_in, beam.people_out) == (2, 0)


def test_one_beam_board_is_occupied_only_while_the_beam_is_blocked():
    clock, a, b, beam = new(two_beams=False)
    a.drive(BLOCKED)
    run(clock, beam, 100)
    assert beam.occupied
    a.drive(CLEAR)
    run(clock, beam, 40)
    assert not beam.occupied


def test_beam_blocked_longer_than_stuck_ms_is_a_fault_that_releases_occupancy():
    clock, a, b, beam = new(stuck_ms=1000)
    a.drive(BLOCKED)
    events = run(clock, beam, 1100)
    assert events == [EV_ENTER, EV_STUCK]
    assert not beam.occupied and beam.inside == 0
    assert beam.stuck == 1


def test_stuck_fault_comes_at_stuck_ms_not_before():
    clock, a, b, beam = new(stuck_ms=1000, debounce_ms=0)
    a.drive(BLOCKED)
    assert EV_STUCK not in run(clock, beam, 990)
    assert run(clock, beam, 10) == [EV_STUCK]


def test_stuck_beam_clearing_gives_unstuck_and_no_passage():
    clock, a, b, beam = new(stuck_ms=1000)
    a.drive(BLOCKED)
    run(clock, beam, 1100)
    a.drive(CLEAR)
    events = run(clock, beam, 100)
    assert events == [EV_UNSTUCK]
    assert beam.stuck == 0
    assert beam.people_in == 0 and beam.people_out == 0


def test_counting_resumes_after_a_stuck_beam_recovers():
    clock, a, b, beam = new(stuck_ms=1000)
    a.drive(BLOCKED)
    run(clock, beam, 1100)
    a.drive(CLEAR)
    run(clock, beam, 100)
    assert walk(clock, beam, a, b) == [EV_ENTER, EV_PASS]
    assert beam.people_in == 1


def test_with_beam_b_stuck_beam_a_counts_alone():
    clock, a, b, beam = new(stuck_ms=1000)
    b.drive(BLOCKED)
    assert run(clock, beam, 1100) == [EV_ENTER, EV_STUCK]
    events = block(clock, beam, a, 200) + run(clock, beam, 100)
    assert events == [EV_ENTER, EV_PASS]
    assert beam.direction == protocol.DIR_UNKNOWN
    assert beam.people_in == 1


def test_person_who_turns_back_is_released_after_vacate_ms():
    clock, a, b, beam = new(vacate_ms=1000)
    events = block(clock, beam, a, 200)
    events += run(clock, beam, 1100)
    assert events == [EV_ENTER, EV_VACATED]
    assert not beam.occupied
    assert beam.people_in == 0 and beam.released == 1


def test_level_sampling_counts_without_irq_support():
    clock, a, b, beam = new(pin=LevelPin)
    assert not beam.irq
    assert walk(clock, beam, a, b) == [EV_ENTER, EV_PASS]
    assert beam.direction == protocol.DIR_IN


def test_irq_handlers_are_registered_on_both_pins_for_both_edges():
    clock, a, b, beam = new()
    assert beam.irq
    assert a.handler is not None and b.handler is not None
    assert a.trigger == IRQ_BOTH and b.trigger == IRQ_BOTH


def test_edge_log_overflow_is_counted_and_counting_goes_on():
    clock, a, b, beam = new()
    for i in range(41):  # more edges between two polls than the log holds
        a.drive(BLOCKED if i % 2 == 0 else CLEAR)
    assert beam.overflows == 41 - 32
    events = run(clock, beam, 200)
    a.drive(CLEAR)
    events += run(clock, beam, 400) + block(clock, beam, b, 200) + run(clock, beam, 100)
    assert events == [EV_ENTER, EV_PASS]


def test_poll_reads_the_edge_log_inside_a_balanced_critical_section():
    cs = FakeCriticalSection()
    clock, a, b, beam = new(disable_irq=cs.disable_irq, enable_irq=cs.enable_irq)
    a.drive(BLOCKED)
    run(clock, beam, 50)
    assert cs.entries == 5
    assert cs.balanced and not cs.disabled


def test_irq_handler_allocates_nothing():
    clock, a, b, beam = new()
    lock = getattr(micropython, "heap_lock", None)
    unlock = getattr(micropython, "heap_unlock", None)
    if lock is not None:
        lock()
    try:
        for _ in range(10):
            a.drive(BLOCKED)
            a.drive(CLEAR)
    finally:
        if unlock is not None:
            unlock()
    assert beam._n == 20


def test_counting_works_across_the_ticks_wrap():
    clock, a, b, beam = new(start=WRAP - 500)
    events = walk(clock, beam, a, b)
    assert clock.now < WRAP - 500  # the clock wrapped during the walk
    assert events == [EV_ENTER, EV_PASS]
    assert beam.transit_ms == 800


def test_stuck_timer_works_across_the_ticks_wrap():
    clock, a, b, beam = new(start=WRAP - 500, stuck_ms=1000)
    a.drive(BLOCKED)
    assert run(clock, beam, 1100) == [EV_ENTER, EV_STUCK]
