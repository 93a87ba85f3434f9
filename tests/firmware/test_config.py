"""Config: defaults, ranges and the rules of Config.set, on both interpreters."""

from config import SETTINGS, WINDOW_CAPACITY, Config, setting
from support import raises

DEFAULTS = {
    "fever_threshold_cc": 3730,
    "hysteresis_cc": 20,
    "skin_offset_cc": 50,
    "plausibility_floor_cc": 3200,
    "stable_band_cc": 50,
    "sample_ms": 100,
    "window_max": 8,
    "fever_votes": 2,
    "min_samples": 2,
    "debounce_ms": 30,
    "beam_stuck_ms": 10000,
    "pump_hold_ms": 2000,
    "pump_max_run_ms": 300000,
    "pump_min_rest_ms": 10000,
    "buzzer_enabled": 1,
    "status_interval_ms": 60000,
    "tick_ms": 10,
    "ambient_comp": 1,  # on by default
    "ambient_gain_permille": 100,  # k / (1 + k) with k = 0.11
    "ambient_ref_cc": 2200,
}


def test_defaults_are_the_agreed_values():
    config = Config()
    for name in DEFAULTS:
        assert getattr(config, name) == DEFAULTS[name], name


def test_every_setting_is_a_row_with_its_default_inside_its_range():
    for key_id, name, minimum, maximum, default, unit in SETTINGS:
        assert minimum <= default <= maximum, name
        assert isinstance(key_id, int) and isinstance(unit, str)


def test_setting_names_and_key_ids_are_unique():
    names = [row[1] for row in SETTINGS]
    keys = [row[0] for row in SETTINGS]
    assert len(set(names)) == len(names)
    assert len(set(keys)) == len(keys)


def test_every_setting_range_stays_within_small_int_bounds():
    for row in SETTINGS:
        assert -(2**30) < row[2] and row[3] < 2**30, row[1]


def test_set_inside_range_changes_the_value():
    config = Config()
    config.set("fever_threshold_cc", 3800)
    assert config.fever_threshold_cc == 3800
    assert config.get("fever_threshold_cc") == 3800


def test_set_accepts_both_ends_of_the_range():
    config = Config()
    row = setting("pump_hold_ms")
    config.set("pump_hold_ms", row[2])
    assert config.pump_hold_ms == row[2]
    config.set("pump_hold_ms", row[3])
    assert config.pump_hold_ms == row[3]


def test_set_outside_range_raises_and_changes_nothing():
    config = Config()
    exc = raises(ValueError, config.set, "fever_threshold_cc", 9999)
    assert "fever_threshold_cc" in str(exc)
    assert config.fever_threshold_cc == 3730
    raises(ValueError, config.set, "fever_threshold_cc", setting("fever_threshold_cc")[2] - 1)
    assert config.fever_threshold_cc == 3730


def test_set_unknown_setting_raises():
    raises(ValueError, Config().set, "no_such_setting", 1)


def test_get_unknown_setting_raises():
    raises(ValueError, Config().get, "no_such_setting")


def test_set_rejects_a_non_integer_value():
    config = Config()
    raises(ValueError, config.set, "sample_ms", "100")
    raises(ValueError, config.set, "buzzer_enabled", True)
    assert config.sample_ms == 100 and config.buzzer_enabled == 1


def test_fever_votes_cannot_exceed_window_max():
    config = Config()
    config.set("window_max", 3)
    raises(ValueError, config.set, "fever_votes", 4)
    assert config.fever_votes == 2


def test_window_max_cannot_drop_below_min_samples():
    config = Config()
    config.set("min_samples", 4)
    raises(ValueError, config.set, "window_max", 3)
    assert config.window_max == 8


def test_window_max_is_bounded_by_the_preallocated_capacity():
    assert setting("window_max")[3] == WINDOW_CAPACITY
    raises(ValueError, Config().set, "window_max", WINDOW_CAPACITY + 1)


def test_set_key_sets_by_key_id():
    config = Config()
    row = setting("hysteresis_cc")
    config.set_key(row[0], 30)
    assert config.hysteresis_cc == 30
    raises(ValueError, config.set_key, 9999, 1)
