"""The Gate ticks without allocating on the chip it is written for (issue 11, item 3).

The board `make deploy` set up (conftest's deployed_flash), its main.py renamed so that the
test builds the Gate itself, the way main.run() does (storage on flash, site config,
watchdog): 10,000 ticks of Gate.run()'s loop, each under micropython.heap_lock(), with walkers
on the beam pins and the MLX90614, STATUS and GET_CONFIG commands arriving on UART0, the
journal appending and flushing and the records draining; the board's ticks_ms crosses its wrap,
the uptime is past 2**30 ms and its centiseconds cross 2**30 during the run. On the 64-bit unix
port none of this can fail for a long int: here any int past 2**30 - 1 allocates.
The flash work runs between the ticks, unlocked, as in Gate.run().
"""

import pico_ticks
import pytest

WRAP = 1 << 30


@pytest.fixture(scope="session")
def measuring_flash(deployed_flash, tmp_path_factory):
    folder = tmp_path_factory.mktemp("pico-measuring")
    return pico_ticks.prepare_flash(deployed_flash, folder / "flash.bin")


def test_ten_thousand_ticks_allocate_nothing_on_the_pico_across_every_wrap(pico, measuring_flash):
    emu = pico(flash=measuring_flash, i2c_timing=True, flash_timing=True)
    emu.wait_ms(300)
    results, walkers, commands = pico_ticks.run_ticks(
        emu,
        "gate",
        ticks=10_000,
        lock=True,
        start_ms=WRAP - 30_000,  # ticks_ms wraps 30 s into the run
        uptime_s=(WRAP // 100) - 60,  # past 2**30 ms of uptime
        uptime_cs=WRAP - 6000,  # t_cs wraps 60 s into the run
    )
    assert results["ticks"] == [10_000]
    assert results["heap_lock_errors"] == [0]
    people_in, people_out, fevers, remeasures = results["people"]
    expected_in, expected_out, expected_fevers = pico_ticks.expected(walkers)
    assert (people_in, people_out) == (expected_in, expected_out)
    # Flash work (a 45 ms erase stalls the chip) waits for an idle channel (Gate.work_due), but
    # for a passage's or an alarm's own flush: none of the rest ran while anyone was inside
    assert results["after_tick_busy_max_us"] == [0]
    assert results["beam_irq_hard"] == [1]  # the beam edges keep their times through a stall
    assert (fevers, remeasures) == (expected_fevers, 0)
    assert results["commands"] == [commands, 0]
    appended, dropped = results["journal"]
    (chattered,) = results["chatter"]
    # every passage journaled, the command answers sent but not journaled (link chatter)
    assert appended >= len(walkers) and chattered >= commands and dropped == 0
    assert results["after_tick_n"][0] >= len(walkers) // 8
    t_cs, uptime_s = results["t_cs"]
    assert t_cs < 10_000 * 2  # wrapped past 2**30 cs
    assert uptime_s > WRAP // 100


def test_the_pico_tier_sees_a_long_int_where_the_unix_port_cannot(pico, measuring_flash):
    # the tier's own check: on the Pico a sum past 2**30 - 1 allocates under heap_lock
    emu = pico(flash=measuring_flash)
    emu.wait_ms(300)
    out = emu.run_script(
        "import micropython\n"
        "def f(a):\n"
        "    micropython.heap_lock()\n"
        "    try:\n"
        "        a + 1\n"
        "        r = 'small'\n"
        "    except MemoryError:\n"
        "        r = 'long'\n"
        "    micropython.heap_unlock()\n"
        "    return r\n"
        "print(f((1 << 30) - 2), f((1 << 30) - 1))\n"
    )
    assert out[-1] == "small long"
