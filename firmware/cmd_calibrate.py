"""The CALIBRATE service command (PIN): start, one reading a tick, and the final REPLY.

`do_calibrate` starts the calibration.Calibration (REPLY_STARTED; refused BUSY while one runs
or someone is in the gate) reading no faster than the sensor settles. `tick(svc, now)`, called
every service tick, aborts it when someone walks in, takes the readings it wants (raw object
temperatures) and, when it is done, sends the final REPLY with the request's tag: on success
the offset, reference and day are persisted (undone on a storage failure), applied as
`config.calibration_offset_cc` and echoed as CONFIG records; a refusal after the readings
(UNSTABLE, RANGE) first sends what the sensor read: CONFIG KEY_CAL_MEDIAN and KEY_CAL_SPREAD.
"""

import protocol
from calibrate import DONE, RUNNING
from cmdreply import STARTED, refused


def do_calibrate(svc, now, key, reference_cc):
    cal = svc.calibration
    if cal.state == RUNNING or svc.busy():
        return refused(protocol.REASON_BUSY)
    interval = svc.config.sample_ms
    control = svc.control
    if control is not None and control.settle_ms > interval:
        interval = control.settle_ms
    reason = cal.start(now, reference_cc, interval, svc.config.stable_band_cc)
    if reason != protocol.REASON_NONE:
        return refused(reason)
    svc.cal_tag = svc.link.tag
    return STARTED


def tick(svc, now):
    cal = svc.calibration
    if cal.state == RUNNING:
        if svc.busy():
            cal.abort(protocol.REASON_BUSY)
        elif cal.want(now):
            try:
                temp_cc = svc.sensor.object_temp_cc()
            except OSError:
                cal.failed()
            else:
                cal.add(now, temp_cc)
    if cal.state == DONE:
        _done(svc)


def _done(svc):
    cal = svc.calibration
    cal.acknowledge()
    command = protocol.CMD_CALIBRATE
    if cal.status != protocol.REPLY_OK:
        if cal.reason == protocol.REASON_UNSTABLE or cal.reason == protocol.REASON_RANGE:
            svc.writer.config(protocol.KEY_CAL_MEDIAN, cal.median_cc)  # what the sensor read
            svc.writer.config(protocol.KEY_CAL_SPREAD, cal.spread_cc)
        svc.reply_to(command, svc.cal_tag, cal.status, cal.reason)
        return
    old = svc.service_values()
    svc.cal_offset_cc = cal.offset_cc
    svc.cal_reference_cc = cal.reference_cc
    svc.cal_day = svc.today()
    if not svc.save_service():
        svc.apply_service(old)
        svc.reply_to(command, svc.cal_tag, protocol.REPLY_FAILED, protocol.REASON_STORAGE)
        return
    svc.config.calibration_offset_cc = cal.offset_cc
    svc.send_calibration()
    svc.reply_to(command, svc.cal_tag, protocol.REPLY_OK, protocol.REASON_NONE)
