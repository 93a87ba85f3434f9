"""The site configuration `make deploy` copies to the board as /site_config.py (edit it there
with `mpremote edit :site_config.py`, or here before deploying).

SETTINGS are the defaults of this gate, by the names of firmware/config.py's SETTINGS table,
each range-checked by Config.set at boot: a value out of range is skipped and reported as a
FAULT_CONFIG record. Settings changed later with `fevergate config` are kept on the board's
flash and win over these. PIN is the service PIN provisioned at install (0..999999999), the
site's own: `make deploy` refuses this file while PIN is None or the factory PIN 1234
(tools/check_site_config.py), so set it here (or deploy another file with SITE_CONFIG=path).
"""

SETTINGS = {
    "fever_threshold_cc": 3730,  # 37.30 C body temperature
    "skin_offset_cc": 50,  # forehead skin + 0.50 C = body (at ambient_ref_cc)
    # ambient compensation (docs/SCREENING.md): body += gain x (ambient_ref - sensor's Ta)
    "ambient_comp": 1,  # on
    "ambient_gain_permille": 100,  # k / (1 + k) of core = skin + k (skin - ambient): k = 0.11
    "ambient_ref_cc": 2200,  # the ambient skin_offset_cc was set at (22.00 C)
    "buzzer_enabled": 1,
}

PIN = None
