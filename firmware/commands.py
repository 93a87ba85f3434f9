"""Field-service commands from the host: the command table, authorisation and the one REPLY.

The service link in three parts, in the shape of mpremote's command table:

- framing: cmdlink.CommandLink reads the UART, splits, COBS-decodes and checks each frame
  (docs/PROTOCOL.md, "Commands"), and hands it here;
- authorisation: cmdauth.PinLock (the PIN and the wrong-PIN lockout) for the PIN commands;
- meaning: `COMMANDS = {code: (handler, needs_pin)}`, one handler `do_x(svc, now, key, value)`
  per command code in the cmd_*.py modules, each returning the (status, reason) of its REPLY.

Every frame within the rate limit gets exactly one REPLY (CALIBRATE and BACKLOG:
REPLY_STARTED, then the result)
whose `arg` is the request tag, or REPLY_NO_TAG when the frame was too damaged to read one. A
code that is not in COMMANDS is refused as REASON_UNKNOWN_COMMAND, whatever PIN it carries.
Records a command returns (STATUS, CONFIG, TIME) are written before its REPLY. A refused or bad
command changes nothing.

Free commands: STATUS, GET_CONFIG, SELF_TEST, BACKLOG; all others need the PIN, and the
wrong-PIN lockout is persisted (`save_lockout`) so a reset does not clear it. Frames without
the right PIN (free commands, unknown codes, bad frames, refused PINs) are rate-limited
(cmdauth.FrameRate: FREE_BURST back to back, then four a second; beyond that a frame does
nothing, and only the first of each refill period is answered REASON_RATE_LIMITED); their
answers are link chatter (`writer.chatter` while one is answered): sent, not journaled, a
CONFIG KEY_CHATTER record accounts for them (records.py). The service
values (PIN, calibration offset, reference and day) are kept here and persisted through the
injected `settings_store` (settings_store.py; None: no persistence); the offset is also set as
`config.calibration_offset_cc` for the measurement to apply (readings + offset).

No allocation when idle (nothing received, nothing running): `tick` then only calls
`uart.any()` and compares integers; the Gate does not even call it then (`active` false, no
byte waiting). A received command may allocate (struct.unpack_from,
exceptions, persistence): that is not the per-tick steady state.
"""

from micropython import const

import cmd_calibrate
import protocol
from calibrate import MAX_OFFSET_CC, RUNNING, Calibration
from cmd_calibrate import do_calibrate
from cmd_outputs import BuzzerTest, do_buzzer_test, do_pump_prime
from cmd_sensor import do_self_test, do_set_emissivity, do_set_filter
from cmd_settings import do_get_config, do_set_config
from cmd_status import do_ack, do_backlog, do_reset_counters, do_status, do_stop
from cmd_time import WallClock, do_time_sync
from cmdauth import BAD_PIN_LIMIT, FREE_BURST, LOCK_MS, FrameRate, PinLock  # noqa: F401
from cmdlink import CommandLink
from frame import cobs_decode_in_place  # noqa: F401  (re-exported: the firmware's COBS decoder)
from settings_store import SERVICE_COUNT, SettingsStore  # noqa: F401  (re-exported)

FREE = const(0)
PIN = const(1)

# command code: (handler, FREE or PIN)
COMMANDS = {
    protocol.CMD_STATUS: (do_status, FREE),
    protocol.CMD_GET_CONFIG: (do_get_config, FREE),
    protocol.CMD_SET_CONFIG: (do_set_config, PIN),
    protocol.CMD_TIME_SYNC: (do_time_sync, PIN),
    protocol.CMD_CALIBRATE: (do_calibrate, PIN),
    protocol.CMD_PUMP_PRIME: (do_pump_prime, PIN),
    protocol.CMD_BUZZER_TEST: (do_buzzer_test, PIN),
    protocol.CMD_SELF_TEST: (do_self_test, FREE),
    protocol.CMD_RESET_COUNTERS: (do_reset_counters, PIN),
    protocol.CMD_SET_EMISSIVITY: (do_set_emissivity, PIN),
    protocol.CMD_SET_FILTER: (do_set_filter, PIN),
    protocol.CMD_BACKLOG: (do_backlog, FREE),
    protocol.CMD_ACK: (do_ack, PIN),
    protocol.CMD_STOP: (do_stop, PIN),
}

_REFUSED = protocol.REPLY_REFUSED
_NONE = protocol.REASON_NONE


class Commands:
    """The device side of the service link. `attach` the gate's parts before the first tick."""

    def __init__(self, uart, writer, config, settings_store=None):
        self._uart = uart
        self.writer = writer
        self.config = config
        self.store = settings_store
        self.link = CommandLink(uart, self._on_frame)
        self.auth = PinLock(getattr(config, "pin_default", protocol.PIN_DEFAULT))
        self.rate = FrameRate()  # frames without the right PIN
        self.sensor = None
        self.control = None
        self.beam = None
        self.status = None  # the gate's STATUS record callback
        self.backlog = None  # a backlog.Backlog when the gate has a journal
        self.counters = None  # the gate's counters.Counters: a reset goes through it
        self.boot_count = 0  # the identity STATUS and BACKLOG send (set by the Gate)
        self._device_id = 0
        self.device_id_i32 = 0  # the i32 a CONFIG record carries, worked out once
        self.uptime_s = 0
        self._now = 0
        self.calibration = Calibration()
        self.cal_offset_cc = 0
        self.cal_reference_cc = 0
        self.cal_day = 0
        self.cal_tag = 0
        self.stop_requested = False  # CMD_STOP: the Gate stops cleanly and answers stop_tag
        self.stop_tag = 0
        self.clock = WallClock()
        self.buzzer_test = BuzzerTest(config)
        self.active = False  # bytes left unsplit, a lock, a calibration or a buzzer test: tick
        self.received = 0  # command frames answered
        self.bad_frames = 0
        self.storage_errors = 0
        config.calibration_offset_cc = 0
        self._load()

    # -- wiring --

    @property
    def device_id(self):
        return self._device_id

    @device_id.setter
    def device_id(self, device_id):
        """The u32 device id, and once (it is a long int on a 32-bit port) its i32 form."""
        device_id &= 0xFFFFFFFF
        self._device_id = device_id
        self.device_id_i32 = device_id - (1 << 32) if device_id >> 31 else device_id

    def attach(self, sensor, control=None, beam=None, status=None):
        """The gate's sensor, Control, BeamCounter and status-record callback (each optional)."""
        self.sensor = sensor
        self.control = control
        self.beam = beam
        self.status = status

    # -- what tests and the gate read --

    @property
    def pin(self):
        return self.auth.pin

    @property
    def bad_pins(self):
        return self.auth.bad_pins

    @property
    def bad_pins_total(self):
        return self.auth.bad_pins_total

    @property
    def locked(self):
        return self.auth.locked

    @property
    def priming(self):
        control = self.control
        return control is not None and control.guard.priming

    @property
    def buzzer_testing(self):
        return self.buzzer_test.running

    @property
    def synced(self):
        return self.clock.synced

    def today(self):
        """Days since 1970-01-01 now, from the last TIME_SYNC; 0 when never synced."""
        return self.clock.today(self.uptime_s)

    # -- persisted service values --

    def _load(self):
        store = self.store
        if store is None:
            return
        try:
            store.load_config(self.config)
            values = [self.auth.pin, 0, 0, 0]
            if store.load_service(values):
                self.apply_service(values)
            lockout = [0, 0]
            if store.load_lockout(lockout):
                self.auth.restore(lockout)
        except OSError:
            self.storage_errors += 1
            self.writer.fault(protocol.FAULT_CONFIG, 1, -1)
            return
        rejected = getattr(store, "rejected", 0)
        if rejected:
            self.writer.fault(protocol.FAULT_CONFIG, 1, rejected)

    def apply_service(self, values):
        pin, offset, reference, day = values[0], values[1], values[2], values[3]
        if 0 <= pin <= protocol.PIN_MAX:
            self.auth.pin = pin
        if -MAX_OFFSET_CC <= offset <= MAX_OFFSET_CC and reference >= 0 and day >= 0:
            self.cal_offset_cc = offset
            self.cal_reference_cc = reference
            self.cal_day = day
            self.config.calibration_offset_cc = offset

    def service_values(self):
        return [self.auth.pin, self.cal_offset_cc, self.cal_reference_cc, self.cal_day]

    def save_service(self):
        """Persist the service values; False (counted) when the store failed."""
        if self.store is None:
            return True
        try:
            self.store.save_service(self.service_values())
        except OSError:
            self.storage_errors += 1
            return False
        return True

    def _save_lockout(self):
        """Persist the wrong PINs in a row and the lock, so a reset does not clear them."""
        values = self.auth.lockout_values()
        if self.store is None:
            return
        try:
            self.store.save_lockout(values)
        except OSError:
            self.storage_errors += 1

    def send_calibration(self):
        writer = self.writer
        writer.config(protocol.KEY_CAL_OFFSET, self.cal_offset_cc)
        writer.config(protocol.KEY_CAL_REFERENCE, self.cal_reference_cc)
        writer.config(protocol.KEY_CAL_DAY, self.cal_day)

    def busy(self):
        """Someone is in the gate."""
        control = self.control
        return control is not None and control.inside > 0

    def sensor_busy(self):
        """An EEPROM write now would disturb a measurement or the calibration."""
        return self.calibration.state == RUNNING or self.busy()

    # -- the tick --

    def tick(self, now, uptime_s=0):
        """Receive and answer commands, run the calibration and the buzzer test at `now`."""
        self.uptime_s = uptime_s
        self._now = now
        link = self.link
        if link.rx_left or self._uart.any():
            link.receive()  # one frame a tick at most: its records are bounded work
        elif not (self.auth.locked or self.calibration.state or self.buzzer_test.running):
            self.active = False
            return  # idle: no bytes waiting, no lock to end, nothing running
        self.auth.tick(now)
        cmd_calibrate.tick(self, now)
        test = self.buzzer_test
        test.tick(now)
        if test.buzzer and self.control is not None:
            self.control.buzzer = 1
        # the Gate calls tick() only while this is true or bytes wait on the UART
        self.active = bool(
            link.rx_left or self.auth.locked or self.calibration.state or test.running
        )

    # -- one frame, one reply --

    def _on_frame(self, reason):
        writer = self.writer
        writer.chatter = True  # answers to frames without the right PIN: not journaled
        self._answer(reason)
        writer.chatter = False

    def _answer(self, reason):
        self.received += 1
        link = self.link
        if reason != _NONE:
            self.bad_frames += 1
            if self._rate_ok(link):
                self.reply_to(link.command, link.tag, protocol.REPLY_BAD_FRAME, reason)
            return
        entry = COMMANDS.get(link.command)
        if entry is None:
            if self._rate_ok(link):
                self.reply_to(link.command, link.tag, _REFUSED, protocol.REASON_UNKNOWN_COMMAND)
            return
        if entry[1] == PIN:
            refusal = self.auth.check(self._now, link.pin)
            if self.auth.changed:
                self._save_lockout()
            if refusal != _NONE:
                if self._rate_ok(link):
                    if self.auth.locked:  # LOCKED, or the wrong PIN that locked: how long
                        self.writer.config(protocol.KEY_LOCK_LEFT_S, self.auth.left_s(self._now))
                    self.reply_to(link.command, link.tag, _REFUSED, refusal)
                return
            self.writer.chatter = False  # a command with the right PIN is journaled
        elif not self._rate_ok(link):
            return
        answer = entry[0](self, self._now, link.key, link.value)
        self.reply_to(link.command, link.tag, answer[0], answer[1])

    def _rate_ok(self, link):
        """True if this frame without the right PIN may be answered; else it is refused and
        does nothing (the first of a refill period answered RATE_LIMITED, the rest dropped)."""
        rate = self.rate
        if rate.take(self._now):
            return True
        if rate.tell():
            self.reply_to(link.command, link.tag, _REFUSED, protocol.REASON_RATE_LIMITED)
        return False

    def reply_to(self, command, tag, status, reason):
        self.writer.reply(command, status, reason, tag)
