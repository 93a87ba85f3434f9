"""The simulator's MLX90614 model, checked against adafruit_mlx90614 and our firmware driver."""

import errno

import adafruit_mlx90614
import pytest

import protocol
from host_tools.shim.mlx90614_model import (
    BusioAdapter,
    MLX90614Model,
    SMBusAdapter,
    crc8,
    settle_ms,
)
from mlx90614 import MLX90614, SensorError, settle_ms_for


class Clock:
    def __init__(self):
        self.ms = 0

    def __call__(self):
        return self.ms

    def sleep_ms(self, ms):
        self.ms += ms


def rig(part="BAA", seed=0, noise_c=0.0, ambient_c=22.0):
    clock = Clock()
    model = MLX90614Model(seed=seed, part=part, ambient_c=ambient_c, noise_c=noise_c)
    driver = MLX90614(SMBusAdapter(model, clock), sleep_ms=clock.sleep_ms)
    return clock, model, driver


def settled(clock, model, object_c):
    model.set_target(clock.ms, object_c)
    clock.ms += 10 * model.settle_ms()


# -- Adafruit cross-check --


def test_adafruit_reads_the_models_ambient_within_0_02_c():
    clock, model, _ = rig(ambient_c=23.4)
    sensor = adafruit_mlx90614.MLX90614(BusioAdapter(model, clock))
    assert sensor.ambient_temperature == pytest.approx(23.4, abs=0.02)


def test_adafruit_reads_the_models_settled_object_within_0_02_c():
    clock, model, _ = rig()
    settled(clock, model, 36.6)
    sensor = adafruit_mlx90614.MLX90614(BusioAdapter(model, clock))
    assert sensor.object_temperature == pytest.approx(36.6, abs=0.02)


@pytest.mark.parametrize("object_c", [-40.0, 0.0, 22.0, 33.3, 37.5, 41.9, 120.0])
def test_our_driver_agrees_with_adafruit_over_the_same_model(object_c):
    clock, model, driver = rig()
    settled(clock, model, object_c)
    adafruit = adafruit_mlx90614.MLX90614(BusioAdapter(model, clock))
    assert driver.object_temp_cc() == round(adafruit.object_temperature * 100)
    assert driver.ambient_temp_cc() == round(adafruit.ambient_temperature * 100)


def test_model_pec_matches_the_datasheet_example():
    assert crc8((0xB4, 0x07, 0xB5, 0xD2, 0x3A)) == 0x30


# -- settling --


def test_settle_table_is_the_drivers_for_every_iir_and_fir_setting():
    for fir in range(8):
        for iir in range(8):
            config = 0x9000 | (fir << 8) | 0xB0 | iir
            assert settle_ms(config) == settle_ms_for(config), hex(config)


def test_factory_settle_is_100_ms_for_baa_and_about_650_ms_for_dci():
    assert MLX90614Model(part="BAA").settle_ms() == 100
    assert 600 <= MLX90614Model(part="DCI").settle_ms() <= 700


def test_driver_reads_the_models_settle_time_from_config():
    for part in ("BAA", "DCI"):
        _, model, driver = rig(part=part)
        assert driver.settle_ms() == model.settle_ms()


def test_object_reading_is_within_0_1_c_of_a_step_after_settle_ms():
    clock, model, driver = rig()
    model.set_target(clock.ms, 36.0)
    clock.ms += model.settle_ms()
    assert abs(driver.object_temp_cc() - 3600) <= 10


def test_object_reading_is_about_two_thirds_of_a_step_after_one_time_constant():
    clock, model, driver = rig()
    model.set_target(clock.ms, 36.0)
    clock.ms += model.settle_ms() // 5
    fraction = (driver.object_temp_cc() - 2200) / (3600 - 2200)
    assert 0.55 < fraction < 0.72


def test_medical_part_is_still_far_from_the_step_when_the_standard_one_has_settled():
    for part, settled_by_100_ms in (("BAA", True), ("DCI", False)):
        clock, model, driver = rig(part=part)
        model.set_target(clock.ms, 36.0)
        clock.ms += 100
        assert (abs(driver.object_temp_cc() - 3600) <= 10) is settled_by_100_ms, part


def test_background_returns_to_ambient_when_the_target_leaves():
    clock, model, driver = rig()
    settled(clock, model, 36.0)
    settled(clock, model, None)
    assert abs(driver.object_temp_cc() - 2200) <= 2


def test_settling_follows_a_config_written_to_eeprom():
    clock, model, driver = rig()
    driver.write_eeprom(0x25, (model.config & ~0x7) | 0x6)  # IIR 0.667: slow
    assert driver.settle_ms() == settle_ms_for(model.config) > 600
    model.set_target(clock.ms, 36.0)
    clock.ms += 100
    assert driver.object_temp_cc() < 3400


# -- noise and determinism --


def test_noise_has_the_parts_rms():
    for part, rms in (("BAA", 0.05), ("DCI", 0.10)):
        model = MLX90614Model(seed=3, part=part)
        values = [model.read_word(1000, 0x07) for _ in range(2000)]
        temps = [(v[0] | v[1] << 8) * 0.02 - 273.15 for v in values]
        mean = sum(temps) / len(temps)
        sd = (sum((t - mean) ** 2 for t in temps) / len(temps)) ** 0.5
        assert rms * 0.8 < sd < rms * 1.2, part


def test_same_seed_gives_the_same_readings():
    def readings(seed):
        model = MLX90614Model(seed=seed, part="DCI")
        model.pec_corrupt_rate = 0.2
        model.set_target(0, 37.0)
        return [model.read_word(t, 0x07) for t in range(0, 2000, 50)], model.eeprom

    assert readings(7) == readings(7)
    assert readings(7) != readings(8)


# -- faults, as our driver sees them --


@pytest.mark.parametrize(
    ("knob", "code"),
    [
        ("nack_rate", protocol.FAULT_SENSOR_NACK),
        ("pec_corrupt_rate", protocol.FAULT_SENSOR_PEC),
        ("error_flag_rate", protocol.FAULT_SENSOR_FLAG),
    ],
)
def test_each_fault_injection_raises_its_sensor_error(knob, code):
    _, model, driver = rig()
    setattr(model, knob, 1.0)
    with pytest.raises(SensorError) as caught:
        driver.object_temp_cc()
    assert caught.value.args[0] == code


def test_fault_rates_hit_about_that_share_of_reads():
    _, model, driver = rig(seed=1)
    model.nack_rate = 0.25
    failures = 0
    for _ in range(2000):
        try:
            driver.object_temp_cc()
        except SensorError:
            failures += 1
    assert 400 < failures < 600


def test_stuck_bus_times_out_until_recovered():
    clock, model, driver = rig()
    model.stuck = True
    for _ in range(3):
        with pytest.raises(SensorError) as caught:
            driver.object_temp_cc()
        assert caught.value.args[0] == protocol.FAULT_BUS_STUCK

    def recover_i2c():
        model.bus_recover()
        return SMBusAdapter(model, clock)

    assert driver.recover(recover_i2c)
    assert abs(driver.object_temp_cc() - 2200) <= 2


def test_stuck_model_raises_oserror_etimedout():
    model = MLX90614Model()
    model.stuck = True
    with pytest.raises(OSError) as caught:
        model.read_word(0, 0x07)
    assert caught.value.errno == errno.ETIMEDOUT


# -- registers and EEPROM --


def test_eeprom_holds_32_factory_words_with_identity_and_config():
    model = MLX90614Model(seed=5)
    assert len(model.eeprom) == 32
    assert model.eeprom[0x04] == 0xFFFF and model.eeprom[0x05] == 0x9FB4
    assert model.eeprom[0x0E] & 0xFF == 0x5A
    assert all(0 < word < 0xFFFF for word in model.eeprom[0x1C:])


def test_driver_reads_identity_emissivity_and_zone_from_the_model():
    _, model, driver = rig()
    assert list(driver.identity()) == model.eeprom[0x1C:]
    assert driver.emissivity() == 0xFFFF
    assert not driver.dual_zone()
    assert MLX90614(SMBusAdapter(MLX90614Model(part="BAB"))).dual_zone()


def test_tobj2_of_a_single_zone_part_carries_the_error_flag():
    _, _, driver = rig()
    with pytest.raises(SensorError) as caught:
        driver.object2_temp_cc()
    assert caught.value.args[0] == protocol.FAULT_SENSOR_FLAG


def test_driver_write_eeprom_stores_the_value_in_the_model():
    _, model, driver = rig()
    driver.write_eeprom(0x24, 0xF332)
    assert model.eeprom[0x04] == 0xF332
    assert model.writes == 2 and driver.eeprom_writes == 1


def test_write_without_erase_stores_value_and_old():
    model = MLX90614Model()
    w = model.address << 1
    model.write_word(0, 0x24, bytes((0x32, 0x13, crc8((w, 0x24, 0x32, 0x13)))))
    assert model.eeprom[0x04] == 0x1332 & 0xFFFF
    model.write_word(10, 0x24, bytes((0x00, 0xF0, crc8((w, 0x24, 0x00, 0xF0)))))
    assert model.eeprom[0x04] == 0xF000 & 0x1332


def test_write_with_a_bad_pec_is_dropped():
    model = MLX90614Model()
    model.write_word(0, 0x24, bytes((0, 0, 0x55)))
    assert model.eeprom[0x04] == 0xFFFF and model.rejected_writes == 1


def test_read_during_an_eeprom_write_is_not_acknowledged():
    clock, model, driver = rig()
    driver._write(0x24, 0)  # erase, no wait
    with pytest.raises(SensorError) as caught:
        driver.emissivity()
    assert caught.value.args[0] == protocol.FAULT_SENSOR_NACK
    clock.ms += 5
    assert driver.emissivity() == 0


def test_write_eeprom_without_waits_fails_its_read_back():
    _, model, driver = rig()
    with pytest.raises(SensorError):
        driver.write_eeprom(0x24, 0xF332, lambda ms: None)


def test_construction_and_reads_write_no_eeprom():
    clock, model, driver = rig()
    driver.object_temp_cc()
    driver.ambient_temp_cc()
    driver.settle_ms()
    driver.identity()
    assert model.writes == 0


def test_set_emissivity_on_a_dci_keeps_readings_sane():
    clock, model, driver = rig(part="DCI")
    settled(clock, model, 36.0)
    driver.set_emissivity(0xF332)  # 0.95
    clock.ms += 10 * model.settle_ms()
    assert 3500 < driver.object_temp_cc() < 3900  # a bit higher: less emissive target
    assert not model.unlocked


def test_emissivity_alone_on_a_dci_gives_readings_the_driver_refuses():
    clock, model, driver = rig(part="DCI")
    settled(clock, model, 36.0)
    driver.write_eeprom(0x24, 0xF332)  # what the hobby drivers do: 0x2F left as it was
    with pytest.raises(SensorError) as caught:
        driver.object_temp_cc()
    assert caught.value.args[0] == protocol.FAULT_SENSOR_RANGE


def test_companion_write_while_locked_is_dropped():
    model = MLX90614Model(part="DCI")
    w = model.address << 1
    model.write_word(0, 0x2F, bytes((0, 0, crc8((w, 0x2F, 0, 0)))))
    assert model.eeprom[0x0F] == 0x0733 and model.rejected_writes == 1
