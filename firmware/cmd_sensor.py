"""Service handlers for the MLX90614: SELF_TEST (free), SET_EMISSIVITY and SET_FILTER (PIN).

Sensor maintenance writes the sensor's EEPROM through its driver (erase, wait, write, wait,
verify), only when the value differs (EEPROM wear), never while someone is in the gate or a
calibration runs (REASON_BUSY): SET_EMISSIVITY (0x24, with the driver's companion rescaling of
0x2F that the gradient-compensated medical parts need) and SET_FILTER (the IIR bits 2..0 and
FIR bits 10..8 of config 0x25, protocol.FILTER_MASK; every other bit of 0x25 is factory
calibration and kept). A new filter also sets the settling time the measurement and the
calibration wait for (`control.settle_ms`). The sensor keeps both itself, across reboots.
"""

from micropython import const

import protocol
from cmdreply import OK, failed, refused
from mlx90614 import settle_ms_for

AMBIENT_MIN_CC = const(-1000)  # a plausible ambient for a self-test: -10 .. 60 C
AMBIENT_MAX_CC = const(6000)
EMISSIVITY_MIN = const(6554)  # 0.10
EMISSIVITY_MAX = const(65535)  # 1.00
_EEPROM_CONFIG = const(0x25)
_BLANK = const(0xFFFF)


def do_self_test(svc, now, key, value):
    sensor = svc.sensor
    try:
        blank = True
        for word in sensor.identity():
            if word != 0 and word != _BLANK:
                blank = False
        if blank:
            return failed(protocol.REASON_IDENTITY)
        register = sensor.config()
        if register == 0 or register == _BLANK:
            return failed(protocol.REASON_SENSOR_CONFIG)
        ambient = sensor.ambient_temp_cc()
    except OSError:
        return failed(protocol.REASON_SENSOR)
    if ambient < AMBIENT_MIN_CC or ambient > AMBIENT_MAX_CC:
        return failed(protocol.REASON_AMBIENT)
    return OK


def do_set_emissivity(svc, now, key, value):
    if value < EMISSIVITY_MIN or value > EMISSIVITY_MAX:
        return refused(protocol.REASON_RANGE)
    if svc.sensor_busy():
        return refused(protocol.REASON_BUSY)
    try:
        svc.sensor.set_emissivity(value)  # writes nothing when the value is there already
    except OSError:
        return failed(protocol.REASON_SENSOR)
    svc.writer.config(protocol.KEY_EMISSIVITY, value)
    return OK


def do_set_filter(svc, now, key, value):
    if value & ~protocol.FILTER_MASK or (value & protocol.FILTER_FIR_MASK) < (
        protocol.FILTER_FIR_MIN
    ):
        return refused(protocol.REASON_RANGE)
    if svc.sensor_busy():
        return refused(protocol.REASON_BUSY)
    sensor = svc.sensor
    try:
        register = sensor.config()
        if register == 0 or register == _BLANK:  # never build on a blank read
            return failed(protocol.REASON_SENSOR_CONFIG)
        wanted = (register & ~protocol.FILTER_MASK) | value
        if wanted != register:
            sensor.write_eeprom(_EEPROM_CONFIG, wanted)
    except OSError:
        return failed(protocol.REASON_SENSOR)
    if svc.control is not None:
        svc.control.settle_ms = settle_ms_for(wanted)
    svc.writer.config(protocol.KEY_SENSOR_FILTER, value)
    return OK
