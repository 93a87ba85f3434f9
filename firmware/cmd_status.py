"""Service handlers for the gate's state: STATUS, RESET_COUNTERS, BACKLOG, ACK and STOP.

Each handler is `do_x(svc, now, key, value)` on the Commands `svc` and returns a cmdreply pair.
STATUS and BACKLOG first send the identity (CONFIG KEY_BOOT_COUNT, KEY_DEVICE_ID), so a host
that connected long after the BOOT record learns what the live records belong to. BACKLOG and
ACK are served by the gate's backlog (backlog.py): REPLY_FAILED/REASON_STORAGE without a
journal. STOP asks the Gate for a clean stop (`stop_requested`): it answers REPLY_STARTED here
and the Gate sends the final REPLY once everything is on flash (Gate.stop_cleanly).
"""

import protocol
from cmdreply import OK, STARTED, failed, refused


def send_identity(svc):
    """Which boot of which device this is (the device id as its i32 bit pattern, worked out
    once when the Gate set it)."""
    writer = svc.writer
    writer.config(protocol.KEY_BOOT_COUNT, svc.boot_count & 0xFFFF)
    writer.config(protocol.KEY_DEVICE_ID, svc.device_id_i32)


def do_status(svc, now, key, value):
    send_identity(svc)
    if svc.status is not None:
        svc.status()
    svc.send_calibration()
    return OK


def do_reset_counters(svc, now, key, value):
    control = svc.control
    if svc.counters is not None:
        svc.counters.reset()  # explicit: a KEY_COUNTERS_RESET record, committed right after
    elif control is not None:
        control.people_in = 0
        control.people_out = 0
        control.fevers = 0
        control.remeasures = 0
        control.sensor_errors = 0
    beam = svc.beam
    if beam is not None:
        beam.people_in = 0
        beam.people_out = 0
    if svc.status is not None:
        svc.status()
    return OK


def do_backlog(svc, now, key, value):
    backlog = svc.backlog
    if backlog is None:
        return failed(protocol.REASON_STORAGE)
    if not backlog.start(key, value, svc.link.tag):
        return refused(protocol.REASON_UNKNOWN_KEY)
    send_identity(svc)
    return STARTED


def do_ack(svc, now, key, value):
    backlog = svc.backlog
    if backlog is None:
        return failed(protocol.REASON_STORAGE)
    try:
        backlog.acknowledge(value)
    except OSError:
        svc.storage_errors += 1
        return failed(protocol.REASON_STORAGE)
    return OK


def do_stop(svc, now, key, value):
    svc.stop_requested = True
    svc.stop_tag = svc.link.tag
    return STARTED
