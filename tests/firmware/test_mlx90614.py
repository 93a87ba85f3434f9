"""The MLX90614 driver against a fake SMBus: PEC, error flag, range, NACK, EEPROM writes."""

import micropython

import protocol
from fakes_i2c import FakeI2C, Sleeper, crc8, raw_from_cc
from mlx90614 import MLX90614, SensorError, _muldiv, pec8, settle_ms_for
from support import raises


def make(record=False):
    bus = FakeI2C(record=record)
    return bus, MLX90614(bus)


def code_of(fn):
    return raises(SensorError, fn).args[0]


# -- the datasheet example and the conversion --


def test_datasheet_example_pec_is_0x30():
    pec = 0
    for byte in (0xB4, 0x07, 0xB5, 0xD2, 0x3A):
        pec = pec8(pec, byte)
    assert pec == 0x30


def test_datasheet_example_reads_2801_cc():
    bus, sensor = make()
    bus.words[0x07] = 0x3AD2
    assert sensor.object_temp_cc() == 2801


def test_pec_table_agrees_with_bitwise_crc8_for_every_byte():
    for byte in range(256):
        assert pec8(0, byte) == crc8((byte,))


def test_conversion_is_raw_times_two_minus_27315_exactly():
    bus, sensor = make()
    for raw in (13657, 13658, 15058, 15659, 20000, 32767):
        bus.words[0x07] = raw
        assert sensor.object_temp_cc() == raw * 2 - 27315


def test_ambient_reads_register_0x06():
    bus, sensor = make()
    bus.words[0x06] = raw_from_cc(2351)
    assert sensor.ambient_temp_cc() == 2351


def test_read_word_returns_little_endian_word():
    bus, sensor = make()
    bus.words[0x25] = 0x9FB4
    assert sensor.read_word(0x25) == 0x9FB4


# -- failures: each raises its code, none returns a number --


def test_pec_mismatch_raises_fault_sensor_pec():
    bus, sensor = make()
    bus.pec_xor = 0x01
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_PEC


def test_error_flag_raises_fault_sensor_flag():
    bus, sensor = make()
    bus.words[0x07] = 0x8000 | raw_from_cc(3401)
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_FLAG


def test_word_0x0000_raises_fault_sensor_range():
    bus, sensor = make()
    bus.words[0x07] = 0x0000
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_RANGE


def test_word_0xffff_raises_fault_sensor_range_not_1037_c():
    bus, sensor = make()
    bus.words[0x07] = 0xFFFF
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_RANGE


def test_object_below_minus_70_01_c_raises_range():
    bus, sensor = make()
    bus.words[0x07] = (-7001 + 27315) // 2
    assert sensor.object_temp_cc() == -7001
    bus.words[0x07] -= 1
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_RANGE


def test_object_top_of_range_is_382_19_c():
    bus, sensor = make()
    bus.words[0x07] = 0x7FFF
    assert sensor.object_temp_cc() == 38219


def test_ambient_exactly_at_the_datasheet_limits_is_accepted():
    # -40.00 C and 125.00 C read raw 0x2D89 and 0x4DC4 (0.02 K steps: -40.01 and 125.01 C):
    # one LSB of margin beyond the datasheet range, as for the object range
    bus, sensor = make()
    bus.words[0x06] = 0x2D89
    assert sensor.ambient_temp_cc() == -4001
    bus.words[0x06] = 0x4DC4
    assert sensor.ambient_temp_cc() == 12501


def test_ambient_one_lsb_beyond_the_margin_raises_range():
    bus, sensor = make()
    bus.words[0x06] = 0x2D88  # -40.03 C
    assert code_of(sensor.ambient_temp_cc) == protocol.FAULT_SENSOR_RANGE
    bus.words[0x06] = 0x4DC5  # 125.03 C
    assert code_of(sensor.ambient_temp_cc) == protocol.FAULT_SENSOR_RANGE


def test_nack_raises_fault_sensor_nack():
    bus, sensor = make()
    bus.nack = True
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_NACK


def test_bus_timeout_raises_fault_bus_stuck():
    bus, sensor = make()
    bus.timeout = True
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_BUS_STUCK


def test_sensor_error_is_an_oserror_with_code_and_message():
    bus, sensor = make()
    bus.nack = True
    exc = raises(OSError, sensor.object_temp_cc)
    assert isinstance(exc, SensorError)
    assert len(exc.args) == 2 and isinstance(exc.args[1], str)


def test_failed_read_after_a_good_one_raises_not_the_old_value():
    bus, sensor = make()
    assert sensor.object_temp_cc() == 3401
    bus.pec_xor = 0x80
    assert code_of(sensor.object_temp_cc) == protocol.FAULT_SENSOR_PEC


# -- registers --


def test_identity_reads_four_words_0x3c_to_0x3f():
    bus, sensor = make()
    assert sensor.identity() == (0x6001, 0xEBA8, 0x8213, 0xE0D2)


def test_emissivity_reads_0x24():
    bus, sensor = make()
    bus.words[0x24] = 0xF332
    assert sensor.emissivity() == 0xF332


def test_config_reads_0x25():
    bus, sensor = make()
    assert sensor.config() == 0x9FB4


def test_dual_zone_is_config_bit_6():
    bus, sensor = make()
    assert not sensor.dual_zone()
    bus.words[0x25] = 0x9FB4 | 0x40
    assert sensor.dual_zone()


def test_settle_ms_for_factory_default_0x9fb4_is_100():
    bus, sensor = make()
    assert sensor.settle_ms() == 100


def test_settle_ms_for_iir_off_fir_128_is_40():
    assert settle_ms_for((0x9FB4 & ~0x0707) | 0x0404) == 40


def test_settle_ms_for_medical_iir_0_667_fir_1024_is_about_650():
    assert 600 <= settle_ms_for((0x9FB4 & ~0x0007) | 0x0006) <= 700


def test_settle_ms_grows_with_stronger_iir_filtering():
    # IIR bits from lightest to heaviest: off, 0.8, 0.667, 0.571, 0.5, 0.25, 0.167, 0.125
    order = (4, 5, 6, 7, 0, 1, 2, 3)
    times = [settle_ms_for(0x0700 | iir) for iir in order]
    for k in range(1, len(times)):
        assert times[k] > times[k - 1]


def test_settle_ms_grows_with_fir_length():
    times = [settle_ms_for(0x0004 | (fir << 8)) for fir in range(8)]
    for k in range(1, len(times)):
        assert times[k] >= times[k - 1]
    assert times[7] > times[4]


def test_settle_ms_of_unreadable_config_raises():
    bus, sensor = make()
    bus.nack = True
    assert code_of(sensor.settle_ms) == protocol.FAULT_SENSOR_NACK


# -- EEPROM --


def test_construction_and_reads_write_nothing():
    bus, sensor = make(record=True)
    sensor.object_temp_cc()
    sensor.ambient_temp_cc()
    sensor.identity()
    sensor.config()
    sensor.emissivity()
    sensor.settle_ms()
    sensor.dual_zone()
    assert bus.writes == 0
    assert sensor.eeprom_writes == 0


def test_write_eeprom_erases_waits_writes_waits_and_verifies():
    bus, sensor = make(record=True)
    sensor.write_eeprom(0x24, 0xF332, Sleeper(bus))
    assert bus.log == [
        ("write", 0x24, 0x0000, True),
        ("sleep", 10),
        ("write", 0x24, 0xF332, True),
        ("sleep", 10),
        ("read", 0x24),
    ]
    assert bus.words[0x24] == 0xF332


def test_write_eeprom_counts_each_write():
    bus, sensor = make()
    sensor.write_eeprom(0x24, 0xF332, Sleeper(bus))
    sensor.write_eeprom(0x24, 0xFFFF, Sleeper(bus))
    assert sensor.eeprom_writes == 2


def test_write_eeprom_mismatch_on_read_back_raises():
    bus, sensor = make()
    bus.ignore_writes = True
    assert code_of(lambda: sensor.write_eeprom(0x24, 0xF332, Sleeper(bus))) != 0


def test_write_eeprom_uses_the_constructors_sleep_when_none_is_given():
    bus = FakeI2C(record=True)
    sleeper = Sleeper(bus)
    sensor = MLX90614(bus, sleep_ms=sleeper)
    sensor.write_eeprom(0x24, 0xF332)
    assert sleeper.total_ms == 20


def test_write_eeprom_refuses_identity_and_ram():
    bus, sensor = make()
    raises(ValueError, sensor.write_eeprom, 0x3C, 1, Sleeper(bus))
    raises(ValueError, sensor.write_eeprom, 0x07, 1, Sleeper(bus))
    assert bus.writes == 0


def test_write_eeprom_nack_raises_fault_sensor_nack():
    bus, sensor = make()
    bus.nack = True
    assert code_of(lambda: sensor.write_eeprom(0x24, 0xF332, Sleeper(bus))) == (
        protocol.FAULT_SENSOR_NACK
    )


def test_write_without_erase_would_store_garbage_on_the_fake():
    bus = FakeI2C()
    bus.words[0x24] = 0xF0F0
    w = 0x5A << 1
    bus.writeto_mem(0x5A, 0x24, bytes((0x32, 0x13, crc8((w, 0x24, 0x32, 0x13)))))
    assert bus.words[0x24] == 0x1030  # why the driver erases first


def test_write_eeprom_over_a_written_cell_stores_the_exact_value():
    bus, sensor = make()
    bus.words[0x24] = 0xF0F0
    sensor.write_eeprom(0x24, 0x1332, Sleeper(bus))
    assert bus.words[0x24] == 0x1332


def test_set_emissivity_rescales_0x2f_like_melexis():
    bus, sensor = make(record=True)
    bus.words[0x24] = 0xFFFF
    bus.words[0x2F] = 0x0733
    sensor.set_emissivity(0xF332, Sleeper(bus))
    assert bus.words[0x24] == 0xF332
    assert bus.words[0x2F] == (0xFFFF * 0x0733 + 0xF332 // 2) // 0xF332
    writes = bus.eeprom_log()
    assert writes[0] == (0x24, 0) and writes[2] == (0x2F, 0)
    commands = [e for e in bus.log if e[0] == "command"]
    assert commands == [("command", 0x60, True), ("command", 0x61, True)]
    assert not bus.unlocked
    assert sensor.eeprom_writes == 2


def test_set_emissivity_without_companion_writes_0x24_alone():
    bus, sensor = make(record=True)
    sensor.set_emissivity(0xF332, Sleeper(bus), companion=False)
    assert [cmd for cmd, _ in bus.eeprom_log()] == [0x24, 0x24]
    assert bus.words[0x2F] == 0x0733


def test_set_emissivity_to_the_current_value_writes_nothing():
    bus, sensor = make()
    sensor.set_emissivity(0xFFFF, Sleeper(bus))
    assert bus.writes == 0 and sensor.eeprom_writes == 0


def test_set_emissivity_refuses_a_companion_above_0x7fff():
    bus, sensor = make()
    bus.words[0x2F] = 0x7000
    assert code_of(lambda: sensor.set_emissivity(0x8000, Sleeper(bus))) == (
        protocol.FAULT_SENSOR_RANGE
    )
    assert bus.writes == 0


def test_muldiv_rounds_like_the_exact_product_within_2_30():
    samples = (0, 1, 2, 255, 256, 6554, 0x7FFF, 0x8000, 0xF332, 0xFFFE, 0xFFFF)
    for a in samples:
        for c in samples:
            if c == 0:
                continue
            for b in (0, 1, 0x0733, 0x099A, 0x7FFF):
                assert _muldiv(a, b, c) == (a * b + c // 2) // c


# -- recovery --


def test_recover_takes_the_new_bus_and_counts():
    bus, sensor = make()
    bus.timeout = True
    fresh = FakeI2C()
    assert sensor.recover(lambda: fresh)
    assert sensor.recoveries == 1
    assert sensor.object_temp_cc() == 3401


def test_recover_that_fails_keeps_the_old_bus():
    bus, sensor = make()

    def broken():
        raise OSError(5)

    assert not sensor.recover(broken)
    assert sensor.recoveries == 1
    assert sensor.object_temp_cc() == 3401


# -- no allocation on the read path --


def test_ten_thousand_object_reads_allocate_nothing():
    bus, sensor = make()
    total = 0
    micropython.heap_lock()
    try:
        for _ in range(10_000):
            total += sensor.object_temp_cc()
    finally:
        micropython.heap_unlock()
    assert total == 3401 * 10_000
