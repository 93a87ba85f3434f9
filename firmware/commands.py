"""Field-service commands from the host: read the UART, check each frame, act, and answer.

A command frame is framed like a record (docs/PROTOCOL.md, "Commands"): COBS(payload +
CRC-16/CCITT-FALSE big-endian) + 0x00, payload `protocol.COMMAND_FORMAT` = header `<BHI`
(version/type COMMAND, seq = the host's request tag, t_cs = 0), command u8, pin u32, key u8,
value i32. `Commands.tick(now, uptime_s)` reads at most RX_CHUNK bytes a tick from the UART
(`uart.any()`, `uart.readinto(buf, n)` into a preallocated buffer), splits them at 0x00,
COBS-decodes each frame in place, checks its size, CRC, version and type, and dispatches it.
Every frame gets exactly one REPLY (CALIBRATE: REPLY_STARTED, then the result) whose `arg` is
the request tag, or REPLY_NO_TAG when the frame was too damaged to read one. Records a command
returns (STATUS, CONFIG, TIME) are written before its REPLY. A refused or bad command changes
nothing.

BACKLOG and ACK are served by the gate's `backlog` (backlog.py; REPLY_FAILED/REASON_STORAGE
without a journal). Free commands: STATUS, GET_CONFIG, SELF_TEST, BACKLOG. All others need the
PIN (`KEY_PIN`, 0..PIN_MAX, never echoed; PIN_DEFAULT until provisioned). A wrong PIN is
refused (REASON_BAD_PIN) and counted (`bad_pins` in a row, `bad_pins_total`); the
BAD_PIN_LIMIT-th wrong PIN in a row locks the PIN commands for LOCK_MS (REASON_LOCKED, whatever
PIN is sent); free commands still work.

Sensor maintenance writes the MLX90614's EEPROM through its driver (erase, wait, write, wait,
verify), only when the value differs (EEPROM wear), never while someone is in the gate or a
calibration runs (REASON_BUSY): SET_EMISSIVITY (0x24, with the driver's companion rescaling of
0x2F that the gradient-compensated medical parts need) and SET_FILTER (the IIR bits 2..0 and
FIR bits 10..8 of config 0x25, protocol.FILTER_MASK; every other bit of 0x25 is factory
calibration and kept). A new filter also sets the settling time the measurement and the
calibration wait for (`control.settle_ms`). The sensor keeps both itself, across reboots.

Settings: config.SETTINGS keys through `Config.set` (range and cross-setting rules), then
persisted through the injected `settings_store` (None: no persistence) and echoed as a CONFIG
record. The settings the beam counter copied at boot (debounce_ms, beam_stuck_ms,
vacate_ms) are handed to it at once; status_interval_ms counts from the next STATUS record,
tick_ms from the next boot. The service values (PIN, calibration offset, reference and day)
are kept here and persisted through the same store; the offset is also set as
`config.calibration_offset_cc` for the measurement to apply (readings + offset).
settings_store interface (SettingsStore below implements it over persist.Persist):

    load_config(config)      apply the persisted settings to config (Config.set checked)
    save_config(config)      persist every setting; raises OSError when it cannot
    load_service(values)     fill the list [pin, cal_offset_cc, cal_reference_cc, cal_day];
                             False when nothing was persisted
    save_service(values)     persist that list; raises OSError when it cannot

No allocation when idle (nothing received, nothing running): `tick` then only calls
`uart.any()` and compares integers. A received command may allocate (struct.unpack_from,
exceptions, persistence): that is not the per-tick steady state.
"""

import struct

from micropython import const

import protocol
from buzzer import CHIRP, FAULT, FEVER, NONE, REMEASURE, Buzzer
from calibrate import DONE as _CAL_DONE
from calibrate import RUNNING as _CAL_RUNNING
from calibrate import Calibration
from config import SETTINGS
from frame import crc16
from mlx90614 import settle_ms_for
from ticks import ticks_add, ticks_diff

RX_CHUNK = const(64)  # bytes read from the UART per tick at most
BAD_PIN_LIMIT = const(5)
LOCK_MS = const(60000)
AMBIENT_MIN_CC = const(-1000)  # a plausible ambient for a self-test: -10 .. 60 C
AMBIENT_MAX_CC = const(6000)
EMISSIVITY_MIN = const(6554)  # 0.10
EMISSIVITY_MAX = const(65535)  # 1.00
SERVICE_COUNT = const(4)  # [pin, cal_offset_cc, cal_reference_cc, cal_day]

_FRAME_CAP = const(32)  # longest accepted COBS frame (a command is 20 bytes)
_MIN_FRAME = const(9)  # header + CRC
_CMD_BYTES = const(19)  # COMMAND payload + CRC
_EEPROM_CONFIG = const(0x25)
_DAY_S = const(86400)
_SELF_TEST_BLANK = const(0xFFFF)
_TEST_GAP_MS = const(500)  # silence between the buzzer test's patterns

_B0 = protocol.VERSION << protocol.VERSION_SHIFT | protocol.COMMAND
_OK = protocol.REPLY_OK
_REFUSED = protocol.REPLY_REFUSED
_BAD_FRAME = protocol.REPLY_BAD_FRAME
_FAILED = protocol.REPLY_FAILED
_STARTED = protocol.REPLY_STARTED
_NO_TAG = protocol.REPLY_NO_TAG
_NONE = protocol.REASON_NONE
_BUZZER_TEST = (CHIRP, REMEASURE, FAULT, FEVER)


def cobs_decode_in_place(buf, length):
    """COBS-decode buf[0:length] into buf from 0; the decoded length, or -1 if it is not COBS.

    In place is safe: the decoded data never overtakes the encoded data being read.
    """
    read = 0
    write = 0
    while read < length:
        code = buf[read]
        if code == 0:
            return -1
        read += 1
        end = read + code - 1
        if end > length:
            return -1
        while read < end:
            byte = buf[read]
            if byte == 0:
                return -1
            buf[write] = byte
            write += 1
            read += 1
        if code != 0xFF and read < length:
            buf[write] = 0
            write += 1
    return write


class SettingsStore:
    """The settings_store of Commands over a persist.Persist: settings in the Persist's config
    file, the service values (PIN, calibration) in its own atomic store `root/service`."""

    def __init__(self, persist_obj):
        import persist

        self.persist = persist_obj
        self._defaults = persist.SOURCE_DEFAULTS
        self._service = persist.Store(persist_obj.root + "/service", SERVICE_COUNT)
        self.rejected = 0

    def load_config(self, config):
        source = self.persist.load_config(config)
        self.rejected = self.persist.config_rejected
        return source

    def save_config(self, config):
        return self.persist.save_config(config)

    def load_service(self, values):
        if self._service.load() == self._defaults:
            return False
        for i in range(SERVICE_COUNT):
            values[i] = self._service.values[i]
        return True

    def save_service(self, values):
        for i in range(SERVICE_COUNT):
            self._service.values[i] = values[i]
        return self._service.commit()


def _setting_row(key):
    for row in SETTINGS:
        if row[0] == key:
            return row
    return None


class Commands:
    """The device side of the service link. `attach` the gate's parts before the first tick."""

    def __init__(self, uart, writer, config, settings_store=None):
        self._uart = uart
        self._writer = writer
        self.config = config
        self._store = settings_store
        self._rx = bytearray(RX_CHUNK)
        self._frame = bytearray(_FRAME_CAP)
        self._flen = 0
        self._overlong = False
        self._sensor = None
        self._control = None
        self._beam = None
        self._status = None
        self.backlog = None  # a backlog.Backlog when the gate has a journal
        self.boot_count = 0  # the identity STATUS and BACKLOG send (set by the Gate)
        self._device_id = 0
        self._device_id_i32 = 0  # the i32 a CONFIG record carries, worked out once
        self._uptime_s = 0
        self._tag = 0
        self._command = 0
        # PIN
        self.pin = getattr(config, "pin_default", protocol.PIN_DEFAULT)
        self.bad_pins = 0  # wrong PINs in a row
        self.bad_pins_total = 0
        self.locked = False
        self._locked_until = 0
        # calibration
        self.calibration = Calibration()
        self.cal_offset_cc = 0
        self.cal_reference_cc = 0
        self.cal_day = 0
        self._cal_tag = 0
        # wall time from TIME_SYNC (all within +-2**30: days, seconds of day, uptime seconds)
        self.synced = False
        self._sync_day = 0
        self._sync_sod = 0
        self._sync_uptime_s = 0
        # pump prime and buzzer test
        self.priming = False
        self._prime_end = 0
        self._prime_rest_until = 0
        self._prime_resting = False
        self.buzzer_testing = False
        self._beeper = Buzzer(config)
        self._test_step = 0
        self._test_gap = False
        self._test_next = 0
        self.pump = 0  # what the service asks of the outputs this tick (ORed into Control's)
        self.buzzer = 0
        # counters
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
        self._device_id_i32 = device_id - (1 << 32) if device_id >> 31 else device_id

    def attach(self, sensor, control=None, beam=None, status=None):
        """The gate's sensor, Control, BeamCounter and status-record callback (each optional)."""
        self._sensor = sensor
        self._control = control
        self._beam = beam
        self._status = status

    def _load(self):
        store = self._store
        if store is None:
            return
        try:
            store.load_config(self.config)
            values = [self.pin, 0, 0, 0]
            if store.load_service(values):
                self._apply_service(values)
        except OSError:
            self.storage_errors += 1
            self._writer.fault(protocol.FAULT_CONFIG, 1, -1)
            return
        rejected = getattr(store, "rejected", 0)
        if rejected:
            self._writer.fault(protocol.FAULT_CONFIG, 1, rejected)

    def _apply_service(self, values):
        pin, offset, reference, day = values[0], values[1], values[2], values[3]
        if 0 <= pin <= protocol.PIN_MAX:
            self.pin = pin
        limit = 500  # calibrate.MAX_OFFSET_CC
        if -limit <= offset <= limit and reference >= 0 and day >= 0:
            self.cal_offset_cc = offset
            self.cal_reference_cc = reference
            self.cal_day = day
            self.config.calibration_offset_cc = offset

    def _service_values(self):
        return [self.pin, self.cal_offset_cc, self.cal_reference_cc, self.cal_day]

    def _save_service(self):
        """Persist the service values; False (counted) when the store failed."""
        if self._store is None:
            return True
        try:
            self._store.save_service(self._service_values())
        except OSError:
            self.storage_errors += 1
            return False
        return True

    # -- the tick --

    def tick(self, now, uptime_s=0):
        """Receive and answer commands, run calibration, prime and buzzer test at `now`."""
        self._uptime_s = uptime_s
        if self._uart.any():
            self._receive(now)
        if self.locked and ticks_diff(now, self._locked_until) >= 0:
            self.locked = False
            self.bad_pins = 0
        control = self._control
        cal = self.calibration
        if cal.state == _CAL_RUNNING:
            if control is not None and control.inside > 0:
                cal.abort(protocol.REASON_BUSY)
            elif cal.want(now):
                self._calibration_read(now)
        if cal.state == _CAL_DONE:
            self._calibration_done()
        self.pump = 0
        if self.priming:
            if ticks_diff(now, self._prime_end) >= 0 or (
                control is not None and (control.tank_empty or control.faulted)
            ):
                self.priming = False
                self._prime_resting = True
                self._prime_rest_until = ticks_add(now, self.config.pump_min_rest_ms)
            else:
                self.pump = 1
        elif self._prime_resting and ticks_diff(now, self._prime_rest_until) >= 0:
            self._prime_resting = False
        self.buzzer = 0
        if self.buzzer_testing:
            self._buzzer_test_step(now)
        if control is not None:
            if self.pump:
                control.pump = 1
            if self.buzzer:
                control.buzzer = 1

    def _receive(self, now):
        n = self._uart.any()
        if n > RX_CHUNK:
            n = RX_CHUNK
        got = self._uart.readinto(self._rx, n)
        if not got:
            return
        rx = self._rx
        frame = self._frame
        for i in range(got):
            byte = rx[i]
            if byte == 0:
                if self._flen or self._overlong:
                    self._frame_done(now)
                self._flen = 0
                self._overlong = False
            elif self._flen < _FRAME_CAP:
                frame[self._flen] = byte
                self._flen += 1
            else:
                self._overlong = True

    def _frame_done(self, now):
        self.received += 1
        self._command = 0
        self._tag = _NO_TAG
        if self._overlong:
            self._bad(protocol.REASON_LENGTH)
            return
        buf = self._frame
        n = cobs_decode_in_place(buf, self._flen)
        if n < _MIN_FRAME:
            self._bad(protocol.REASON_LENGTH)
            return
        if crc16(buf, n - 2) != (buf[n - 2] << 8 | buf[n - 1]):
            self._bad(protocol.REASON_CRC)
            return
        self._tag = buf[1] | buf[2] << 8
        if buf[0] >> protocol.VERSION_SHIFT != protocol.VERSION:
            self._bad(protocol.REASON_VERSION)
            return
        if buf[0] != _B0:
            self._bad(protocol.REASON_TYPE)
            return
        if n != _CMD_BYTES:
            self._bad(protocol.REASON_LENGTH)
            return
        self._command = buf[7]
        # a PIN above 2**30 - 1 is never valid (PIN_MAX < 2**30): no big int is built
        pin = -1 if buf[11] >= 0x40 else buf[8] | buf[9] << 8 | buf[10] << 16 | buf[11] << 24
        key = buf[12]
        top = buf[16]
        if top < 0x40 or top >= 0xC0:  # within +-2**30: a small int, nothing allocated
            value = (
                buf[13] | buf[14] << 8 | buf[15] << 16 | (top if top < 0x40 else top - 256) << 24
            )
        else:  # a big i32 (a TIME_SYNC's unix time): a long int on a 32-bit port
            value = struct.unpack_from("<i", buf, 13)[0]
        self._dispatch(now, self._command, pin, key, value)

    # -- answers --

    def _reply(self, status, reason):
        self._writer.reply(self._command, status, reason, self._tag)

    def _bad(self, reason):
        self.bad_frames += 1
        self._reply(_BAD_FRAME, reason)

    def _refuse(self, reason):
        self._reply(_REFUSED, reason)

    def _pin_ok(self, now, pin):
        """True if `pin` is right and not locked; otherwise answers the refusal."""
        if self.locked:
            if ticks_diff(now, self._locked_until) < 0:
                self._refuse(protocol.REASON_LOCKED)
                return False
            self.locked = False
            self.bad_pins = 0
        if pin != self.pin:
            self.bad_pins += 1
            self.bad_pins_total += 1
            if self.bad_pins >= BAD_PIN_LIMIT:
                self.locked = True
                self._locked_until = ticks_add(now, LOCK_MS)
            self._refuse(protocol.REASON_BAD_PIN)
            return False
        self.bad_pins = 0
        return True

    def _dispatch(self, now, command, pin, key, value):
        if command == protocol.CMD_STATUS:
            self._do_status()
        elif command == protocol.CMD_GET_CONFIG:
            self._do_get_config(key)
        elif command == protocol.CMD_SELF_TEST:
            self._do_self_test()
        elif command == protocol.CMD_BACKLOG:
            self._do_backlog(key, value)
        elif command == protocol.CMD_ACK:
            if self._pin_ok(now, pin):
                self._do_ack(value)
        elif command < protocol.CMD_STATUS or command > protocol.CMD_SET_FILTER:
            self._refuse(protocol.REASON_UNKNOWN_COMMAND)
        elif not self._pin_ok(now, pin):
            return
        elif command == protocol.CMD_SET_CONFIG:
            self._do_set_config(key, value)
        elif command == protocol.CMD_TIME_SYNC:
            self._do_time_sync(value)
        elif command == protocol.CMD_CALIBRATE:
            self._do_calibrate(now, value)
        elif command == protocol.CMD_PUMP_PRIME:
            self._do_pump_prime(now, value)
        elif command == protocol.CMD_BUZZER_TEST:
            self._do_buzzer_test(now)
        elif command == protocol.CMD_RESET_COUNTERS:
            self._do_reset_counters()
        elif command == protocol.CMD_SET_EMISSIVITY:
            self._do_set_emissivity(value)
        else:
            self._do_set_filter(value)

    # -- the journal backlog (backlog.py) --

    def _do_backlog(self, key, value):
        backlog = self.backlog
        if backlog is None:
            self._reply(_FAILED, protocol.REASON_STORAGE)
        elif not backlog.start(key, value, self._tag):
            self._refuse(protocol.REASON_UNKNOWN_KEY)
        else:
            self._send_identity()
            self._reply(_STARTED, _NONE)

    def _do_ack(self, value):
        backlog = self.backlog
        if backlog is None:
            self._reply(_FAILED, protocol.REASON_STORAGE)
            return
        try:
            backlog.acknowledge(value)
        except OSError:
            self.storage_errors += 1
            self._reply(_FAILED, protocol.REASON_STORAGE)
            return
        self._reply(_OK, _NONE)

    # -- free commands --

    def send_calibration(self):
        writer = self._writer
        writer.config(protocol.KEY_CAL_OFFSET, self.cal_offset_cc)
        writer.config(protocol.KEY_CAL_REFERENCE, self.cal_reference_cc)
        writer.config(protocol.KEY_CAL_DAY, self.cal_day)

    def _send_identity(self):
        """Which boot of which device this is: a host that connected long after the BOOT
        record learns what the live records belong to."""
        writer = self._writer
        writer.config(protocol.KEY_BOOT_COUNT, self.boot_count & 0xFFFF)
        writer.config(protocol.KEY_DEVICE_ID, self._device_id_i32)

    def _do_status(self):
        self._send_identity()
        if self._status is not None:
            self._status()
        self.send_calibration()
        self._reply(_OK, _NONE)

    def _do_get_config(self, key):
        writer = self._writer
        if key == protocol.KEY_ALL:
            for row in SETTINGS:
                writer.config(row[0], getattr(self.config, row[1]))
            self.send_calibration()
            writer.config(protocol.KEY_BAD_PINS, self.bad_pins_total)
            self._reply(_OK, _NONE)
            return
        row = _setting_row(key)
        if row is not None:
            writer.config(key, getattr(self.config, row[1]))
        elif key == protocol.KEY_PIN:
            self._refuse(protocol.REASON_WRITE_ONLY)
            return
        elif key == protocol.KEY_CAL_OFFSET:
            writer.config(key, self.cal_offset_cc)
        elif key == protocol.KEY_CAL_REFERENCE:
            writer.config(key, self.cal_reference_cc)
        elif key == protocol.KEY_CAL_DAY:
            writer.config(key, self.cal_day)
        elif key == protocol.KEY_BAD_PINS:
            writer.config(key, self.bad_pins_total)
        elif key == protocol.KEY_EMISSIVITY or key == protocol.KEY_SENSOR_FILTER:
            sensor = self._sensor
            try:
                if key == protocol.KEY_EMISSIVITY:
                    word = sensor.emissivity()
                else:
                    word = sensor.config() & protocol.FILTER_MASK
            except OSError:
                self._reply(_FAILED, protocol.REASON_SENSOR)
                return
            writer.config(key, word)
        else:
            self._refuse(protocol.REASON_UNKNOWN_KEY)
            return
        self._reply(_OK, _NONE)

    def _do_self_test(self):
        sensor = self._sensor
        try:
            words = sensor.identity()
            blank = True
            for word in words:
                if word != 0 and word != _SELF_TEST_BLANK:
                    blank = False
            if blank:
                self._reply(_FAILED, protocol.REASON_IDENTITY)
                return
            register = sensor.config()
            if register == 0 or register == _SELF_TEST_BLANK:
                self._reply(_FAILED, protocol.REASON_SENSOR_CONFIG)
                return
            ambient = sensor.ambient_temp_cc()
        except OSError:
            self._reply(_FAILED, protocol.REASON_SENSOR)
            return
        if ambient < AMBIENT_MIN_CC or ambient > AMBIENT_MAX_CC:
            self._reply(_FAILED, protocol.REASON_AMBIENT)
            return
        self._reply(_OK, _NONE)

    # -- PIN commands --

    def _do_set_config(self, key, value):
        if key == protocol.KEY_PIN:
            if value < 0 or value > protocol.PIN_MAX:
                self._refuse(protocol.REASON_RANGE)
                return
            old = self.pin
            self.pin = value
            if not self._save_service():
                self.pin = old
                self._reply(_FAILED, protocol.REASON_STORAGE)
                return
            self._reply(_OK, _NONE)  # the PIN is never echoed
            return
        row = _setting_row(key)
        if row is None:
            if protocol.KEY_CAL_OFFSET <= key <= protocol.KEY_SENSOR_FILTER:
                self._refuse(protocol.REASON_READ_ONLY)
            else:
                self._refuse(protocol.REASON_UNKNOWN_KEY)
            return
        name = row[1]
        config = self.config
        old = getattr(config, name)
        try:
            config.set(name, value)
        except ValueError:
            self._refuse(protocol.REASON_RANGE)
            return
        if self._store is not None:
            try:
                self._store.save_config(config)
            except OSError:
                self.storage_errors += 1
                config.set(name, old)
                self._reply(_FAILED, protocol.REASON_STORAGE)
                return
        beam = self._beam
        if beam is not None:
            beam.debounce_ms = config.debounce_ms
            beam.stuck_ms = config.beam_stuck_ms
            beam.vacate_ms = config.vacate_ms
        self._writer.config(key, value)
        self._reply(_OK, _NONE)

    def _do_time_sync(self, unix_s):
        if unix_s <= 0:
            self._refuse(protocol.REASON_RANGE)
            return
        # unix_s is above 2**30 today: a big int on a 32-bit port, here only (not per tick)
        self._sync_day = unix_s // _DAY_S
        self._sync_sod = unix_s - self._sync_day * _DAY_S
        self._sync_uptime_s = self._uptime_s
        self.synced = True
        self._writer.time_sync(unix_s)
        self._reply(_OK, _NONE)

    def today(self):
        """Days since 1970-01-01 now, from the last TIME_SYNC; 0 when never synced."""
        if not self.synced:
            return 0
        elapsed = self._uptime_s - self._sync_uptime_s
        return self._sync_day + (self._sync_sod + elapsed) // _DAY_S

    def _busy(self):
        control = self._control
        return control is not None and control.inside > 0

    def _do_calibrate(self, now, reference_cc):
        cal = self.calibration
        if cal.state == _CAL_RUNNING or self._busy():
            self._refuse(protocol.REASON_BUSY)
            return
        interval = self.config.sample_ms
        control = self._control
        if control is not None and control.settle_ms > interval:
            interval = control.settle_ms
        reason = cal.start(now, reference_cc, interval, self.config.stable_band_cc)
        if reason != _NONE:
            self._refuse(reason)
            return
        self._cal_tag = self._tag
        self._reply(_STARTED, _NONE)

    def _calibration_read(self, now):
        try:
            temp_cc = self._sensor.object_temp_cc()
        except OSError:
            self.calibration.failed()
            return
        self.calibration.add(now, temp_cc)

    def _calibration_done(self):
        cal = self.calibration
        cal.acknowledge()
        self._command = protocol.CMD_CALIBRATE
        self._tag = self._cal_tag
        if cal.status != _OK:
            self._reply(cal.status, cal.reason)
            return
        old = self._service_values()
        self.cal_offset_cc = cal.offset_cc
        self.cal_reference_cc = cal.reference_cc
        self.cal_day = self.today()
        if not self._save_service():
            self._apply_service(old)
            self._reply(_FAILED, protocol.REASON_STORAGE)
            return
        self.config.calibration_offset_cc = cal.offset_cc
        self.send_calibration()
        self._reply(_OK, _NONE)

    def _do_pump_prime(self, now, seconds):
        cfg = self.config
        if seconds < 1 or seconds > cfg.pump_max_run_ms // 1000:
            self._refuse(protocol.REASON_RANGE)
            return
        if self.priming:
            self._refuse(protocol.REASON_BUSY)
            return
        control = self._control
        if control is not None and control.tank_empty:
            self._refuse(protocol.REASON_TANK_EMPTY)
            return
        if self._prime_resting or (control is not None and control.resting):
            self._refuse(protocol.REASON_RESTING)
            return
        self.priming = True
        self._prime_end = ticks_add(now, seconds * 1000)
        self._reply(_OK, _NONE)

    def _do_buzzer_test(self, now):
        if self.buzzer_testing:
            self._refuse(protocol.REASON_BUSY)
            return
        self.buzzer_testing = True
        self._test_step = 0
        self._test_gap = False
        self._beeper.play(_BUZZER_TEST[0], now)
        self._reply(_OK, _NONE)

    def _buzzer_test_step(self, now):
        beeper = self._beeper
        beeper.update(now)
        if beeper.pattern == NONE:
            if not self._test_gap:  # a silent gap, so that patterns are heard apart
                self._test_gap = True
                self._test_next = ticks_add(now, _TEST_GAP_MS)
            elif ticks_diff(now, self._test_next) >= 0:
                self._test_gap = False
                self._test_step += 1
                if self._test_step >= len(_BUZZER_TEST):
                    self.buzzer_testing = False
                    return
                beeper.play(_BUZZER_TEST[self._test_step], now)
        self.buzzer = beeper.value

    def _do_reset_counters(self):
        control = self._control
        if control is not None:
            control.people_in = 0
            control.people_out = 0
            control.fevers = 0
            control.remeasures = 0
            control.sensor_errors = 0
        beam = self._beam
        if beam is not None:
            beam.people_in = 0
            beam.people_out = 0
        if self._status is not None:
            self._status()
        self._reply(_OK, _NONE)

    def _sensor_busy(self):
        """True (answered BUSY) while an EEPROM write would disturb a measurement."""
        if self.calibration.state == _CAL_RUNNING or self._busy():
            self._refuse(protocol.REASON_BUSY)
            return True
        return False

    def _do_set_emissivity(self, value):
        if value < EMISSIVITY_MIN or value > EMISSIVITY_MAX:
            self._refuse(protocol.REASON_RANGE)
            return
        if self._sensor_busy():
            return
        try:
            self._sensor.set_emissivity(value)  # writes nothing when the value is there already
        except OSError:
            self._reply(_FAILED, protocol.REASON_SENSOR)
            return
        self._writer.config(protocol.KEY_EMISSIVITY, value)
        self._reply(_OK, _NONE)

    def _do_set_filter(self, value):
        if (
            value & ~protocol.FILTER_MASK
            or (value & protocol.FILTER_FIR_MASK) < protocol.FILTER_FIR_MIN
        ):
            self._refuse(protocol.REASON_RANGE)
            return
        if self._sensor_busy():
            return
        sensor = self._sensor
        try:
            register = sensor.config()
            if register == 0 or register == _SELF_TEST_BLANK:  # never build on a blank read
                self._reply(_FAILED, protocol.REASON_SENSOR_CONFIG)
                return
            wanted = (register & ~protocol.FILTER_MASK) | value
            if wanted != register:
                sensor.write_eeprom(_EEPROM_CONFIG, wanted)
        except OSError:
            self._reply(_FAILED, protocol.REASON_SENSOR)
            return
        if self._control is not None:
            self._control.settle_ms = settle_ms_for(wanted)
        self._writer.config(protocol.KEY_SENSOR_FILTER, value)
        self._reply(_OK, _NONE)
