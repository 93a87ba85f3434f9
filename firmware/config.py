"""Every gate setting: its key id, name, range, default and unit, all integers.

`SETTINGS` is the one table of settings (host tools and a config record can read it); `Config`
holds the current values as plain integer attributes (`config.fever_threshold_cc`) so the
control tick reads them without a lookup or an allocation. `Config.set` checks the range and
the cross-setting rules first and changes nothing when it raises ValueError.

Temperatures are hundredths of a degree C (`_cc`), times milliseconds (`_ms`). The skin
reading of the MLX90614 is below core temperature: body_cc = skin_cc + skin_offset_cc, plus,
with ambient_comp on, ambient_gain_permille x (ambient_ref_cc - Ta) / 1000 from the sensor's
own ambient reading (a forehead reads low in a cold entrance, high in the heat; measure.py has
the model). The plausibility floor applies to the skin reading, the fever threshold to the body
value.
"""

from micropython import const

import protocol

WINDOW_CAPACITY = const(16)  # the largest window_max: Measurement preallocates this many slots

# (key_id, name, minimum, maximum, default, unit)
SETTINGS = (
    (1, "fever_threshold_cc", 3500, 4200, 3730, "cC"),
    (2, "hysteresis_cc", 0, 100, 20, "cC"),
    (3, "skin_offset_cc", -200, 500, 50, "cC"),
    (4, "plausibility_floor_cc", 2500, 3600, 3200, "cC"),
    (5, "stable_band_cc", 5, 300, 50, "cC"),
    (6, "sample_ms", 20, 1000, 100, "ms"),
    (7, "window_max", 1, WINDOW_CAPACITY, 8, "samples"),
    (8, "fever_votes", 1, WINDOW_CAPACITY, 2, "samples"),
    (9, "min_samples", 1, WINDOW_CAPACITY, 2, "samples"),
    (10, "debounce_ms", 0, 500, 30, "ms"),
    (11, "beam_stuck_ms", 1000, 600000, 10000, "ms"),
    (12, "pump_hold_ms", 0, 60000, 2000, "ms"),
    (13, "pump_max_run_ms", 1000, 3600000, 300000, "ms"),
    (14, "pump_min_rest_ms", 0, 3600000, 10000, "ms"),
    (15, "buzzer_enabled", 0, 1, 1, "bool"),
    (16, "status_interval_ms", 1000, 3600000, 60000, "ms"),
    (17, "tick_ms", 1, 100, 10, "ms"),
    (18, "vacate_ms", 1000, 600000, 5000, "ms"),
    (19, "fever_alarm_ms", 500, 30000, 3000, "ms"),
    # ambient compensation (measure.py): body += gain x (ambient_ref - Ta) when ambient_comp
    (30, "ambient_comp", 0, 1, 1, "bool"),
    (31, "ambient_gain_permille", 0, 300, 100, "permille"),
    (32, "ambient_ref_cc", 1000, 3500, 2200, "cC"),
)

_KEY = const(0)
_NAME = const(1)
_MIN = const(2)
_MAX = const(3)
_DEFAULT = const(4)


def setting(name):
    """The SETTINGS row of `name`; ValueError if there is no such setting."""
    for row in SETTINGS:
        if row[_NAME] == name:
            return row
    raise ValueError("unknown setting %s" % name)


def setting_by_key(key_id):
    """The SETTINGS row with key id `key_id`; ValueError if there is none."""
    for row in SETTINGS:
        if row[_KEY] == key_id:
            return row
    raise ValueError("unknown setting key %d" % key_id)


class Config:
    """Current values of every setting, as integer attributes named as in SETTINGS."""

    def __init__(self):
        for row in SETTINGS:
            setattr(self, row[_NAME], row[_DEFAULT])
        self.calibration_offset_cc = 0  # set by a calibration (commands.py), not a setting
        self.pin_default = protocol.PIN_DEFAULT  # the site's PIN until one is persisted
        self.site_rejected = 0  # site_config.py settings skipped as out of range

    def get(self, name):
        setting(name)
        return getattr(self, name)

    def set(self, name, value):
        """Set `name` to the integer `value`; ValueError with the reason, nothing changed."""
        row = setting(name)
        if not isinstance(value, int) or isinstance(value, bool):
            raise ValueError("%s must be an integer" % name)
        if value < row[_MIN] or value > row[_MAX]:
            raise ValueError(
                "%s=%d outside %d..%d %s" % (name, value, row[_MIN], row[_MAX], row[5])
            )
        window = value if name == "window_max" else self.window_max
        votes = value if name == "fever_votes" else self.fever_votes
        least = value if name == "min_samples" else self.min_samples
        if votes > window:
            raise ValueError("fever_votes=%d more than window_max=%d" % (votes, window))
        if least > window:
            raise ValueError("min_samples=%d more than window_max=%d" % (least, window))
        setattr(self, name, value)

    def set_key(self, key_id, value):
        """Set a setting by its key id (as a config record carries it)."""
        self.set(setting_by_key(key_id)[_NAME], value)
