"""Service handlers for the settings: GET_CONFIG (free) and SET_CONFIG (PIN).

Settings are config.SETTINGS keys, set through `Config.set` (range and cross-setting rules),
persisted through the service's settings_store and echoed as a CONFIG record; a setting that
cannot be persisted is undone (REASON_STORAGE). The beam timings (debounce_ms, beam_stuck_ms,
vacate_ms) are handed to the beam counter at once; status_interval_ms counts from the next
STATUS record, tick_ms from the next boot. KEY_PIN is write-only (never echoed); the
calibration, emissivity, filter and UTC offset keys are read-only here (their own commands
set them), as are the values the gate reports: firmware version, clock (GET_CONFIG
KEY_CLOCK_DAY answers the offset once set, the day and the second), the lock's time left and
the last calibration's median and spread.
"""

import protocol
from cmd_time import send_clock
from cmdreply import OK, failed, refused
from config import SETTINGS


def setting_row(key):
    for row in SETTINGS:
        if row[0] == key:
            return row
    return None


def do_get_config(svc, now, key, value):
    writer = svc.writer
    if key == protocol.KEY_ALL:
        for row in SETTINGS:
            writer.config(row[0], getattr(svc.config, row[1]))
        svc.send_calibration()
        writer.config(protocol.KEY_BAD_PINS, svc.auth.bad_pins_total)
        return OK
    row = setting_row(key)
    if row is not None:
        writer.config(key, getattr(svc.config, row[1]))
    elif key == protocol.KEY_PIN:
        return refused(protocol.REASON_WRITE_ONLY)
    elif key == protocol.KEY_CAL_OFFSET:
        writer.config(key, svc.cal_offset_cc)
    elif key == protocol.KEY_CAL_REFERENCE:
        writer.config(key, svc.cal_reference_cc)
    elif key == protocol.KEY_CAL_DAY:
        writer.config(key, svc.cal_day)
    elif key == protocol.KEY_BAD_PINS:
        writer.config(key, svc.auth.bad_pins_total)
    elif key == protocol.KEY_UTC_OFFSET:
        writer.config(key, svc.clock.offset_min)
    elif key == protocol.KEY_FW_VERSION:
        writer.config(key, protocol.FW_VERSION)
    elif key == protocol.KEY_CLOCK_DAY or key == protocol.KEY_CLOCK_SECOND:
        send_clock(svc)
    elif key == protocol.KEY_LOCK_LEFT_S:
        writer.config(key, svc.auth.left_s(now))
    elif key == protocol.KEY_CAL_MEDIAN:
        writer.config(key, svc.calibration.median_cc)
    elif key == protocol.KEY_CAL_SPREAD:
        writer.config(key, svc.calibration.spread_cc)
    elif key == protocol.KEY_EMISSIVITY or key == protocol.KEY_SENSOR_FILTER:
        sensor = svc.sensor
        try:
            if key == protocol.KEY_EMISSIVITY:
                word = sensor.emissivity()
            else:
                word = sensor.config() & protocol.FILTER_MASK
        except OSError:
            return failed(protocol.REASON_SENSOR)
        writer.config(key, word)
    else:
        return refused(protocol.REASON_UNKNOWN_KEY)
    return OK


def _set_pin(svc, value):
    if value < 0 or value > protocol.PIN_MAX:
        return refused(protocol.REASON_RANGE)
    auth = svc.auth
    old = auth.pin
    auth.pin = value
    if not svc.save_service():
        auth.pin = old
        return failed(protocol.REASON_STORAGE)
    return OK  # the PIN is never echoed


def do_set_config(svc, now, key, value):
    if key == protocol.KEY_PIN:
        return _set_pin(svc, value)
    row = setting_row(key)
    if row is None:
        if (
            protocol.KEY_CAL_OFFSET <= key <= protocol.KEY_SENSOR_FILTER
            or key == protocol.KEY_UTC_OFFSET
            or protocol.KEY_FW_VERSION <= key <= protocol.KEY_CAL_SPREAD
        ):
            return refused(protocol.REASON_READ_ONLY)
        return refused(protocol.REASON_UNKNOWN_KEY)
    name = row[1]
    config = svc.config
    old = getattr(config, name)
    try:
        config.set(name, value)
    except ValueError:
        return refused(protocol.REASON_RANGE)
    store = svc.store
    if store is not None:
        try:
            store.save_config(config)
        except OSError:
            svc.storage_errors += 1
            config.set(name, old)
            return failed(protocol.REASON_STORAGE)
    beam = svc.beam
    if beam is not None:
        beam.debounce_ms = config.debounce_ms
        beam.stuck_ms = config.beam_stuck_ms
        beam.vacate_ms = config.vacate_ms
    svc.writer.config(key, value)
    return OK
