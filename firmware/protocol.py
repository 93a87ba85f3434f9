"""The fevergate wire format: record types, their struct formats, sizes and field names, and codes.

The one source of truth for both sides: the firmware imports it flat (`import protocol`) and the
host as `from host_tools.wire import protocol`. docs/PROTOCOL.md is the written specification.

A frame on the wire is COBS(payload + CRC16) followed by one 0x00 delimiter. The CRC is
CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no xorout) over the payload, sent
big-endian. The payload is little-endian: a 7-byte header `<BHI` (byte0 = VERSION << 5 | type,
seq u16, t_cs u32 uptime in centiseconds wrapped at 2**30) and a body whose format depends on
the type. Each `*_FORMAT` below is the whole payload (header and body) for struct.pack_into,
`*_SIZE` its length, and `*_FIELDS` the names of the body fields in order. PASSAGE's `flags`
byte packs verdict (bits 0..3) and direction (bits 4..5); bits 6..7 are sent as 0.

Everything here is an int constant, a short string or a small tuple, so the module costs little
RAM on a board; the host's name tables live in host_tools/decoder.py.
"""

from micropython import const

VERSION = const(1)
VERSION_SHIFT = const(5)
TYPE_MASK = const(0x1F)
HEADER_FORMAT = "<BHI"
HEADER_SIZE = const(7)
CRC_SIZE = const(2)
SEQ_MODULO = const(1 << 16)
T_CS_MASK = const(0x3FFFFFFF)  # t_cs = uptime centiseconds & T_CS_MASK (a small int on 32-bit)
T_CS_WRAP = const(T_CS_MASK + 1)  # the firmware wraps uptime centiseconds here (124 days)

# -- record types (1..9 used or reserved here; 10..31 left free for later issues) --
BOOT = const(1)
PASSAGE = const(2)
ALARM = const(3)
FAULT = const(4)
STATUS = const(5)
TIME = const(6)
CONFIG = const(7)
REPLY = const(8)
REPLAY = const(9)  # a journaled record sent again on request: see REPLAY below

BOOT_FORMAT = "<BHIBIHI"
BOOT_SIZE = const(18)
BOOT_FIELDS = ("reset_cause", "fw_version", "boot_count", "device_id")

PASSAGE_FORMAT = "<BHIhBB"
PASSAGE_SIZE = const(11)
PASSAGE_FIELDS = ("temp_cc", "flags", "transit_cs")

ALARM_FORMAT = "<BHIBh"
ALARM_SIZE = const(10)
ALARM_FIELDS = ("kind", "temp_cc")

FAULT_FORMAT = "<BHIBBh"
FAULT_SIZE = const(11)
FAULT_FIELDS = ("code", "active", "detail")

STATUS_FORMAT = "<BHIIIHHIIHHIHHH"
STATUS_SIZE = const(41)
STATUS_FIELDS = (
    "people_in",  # in total since install (or the last counter reset), across reboots
    "people_out",  # the same for people out; fevers and remeasures likewise (u16, wrapping)
    "fevers",
    "remeasures",
    "uptime_s",
    "mem_free",
    "sensor_errors",  # sensor reads tried that failed since boot
    "tx_dropped",  # records the transmit ring dropped since boot
    "people_in_today",  # people in since the start of today (the gate's day)
    "irq_overflows",  # beam edges lost to a full IRQ edge log since boot
    "events_dropped",  # beam events lost to a full event queue since boot
    "tx_short",  # UART writes that took less than a whole frame since boot
)

TIME_FORMAT = "<BHII"
TIME_SIZE = const(11)
TIME_FIELDS = ("unix_s",)

CONFIG_FORMAT = "<BHIBi"
CONFIG_SIZE = const(12)
CONFIG_FIELDS = ("key", "value")

REPLY_FORMAT = "<BHIBBBi"
REPLY_SIZE = const(14)
REPLY_FIELDS = ("command", "status", "reason", "arg")

# (type, name, payload format, payload size, body field names) for generic decoders.
RECORDS = (
    (BOOT, "boot", BOOT_FORMAT, BOOT_SIZE, BOOT_FIELDS),
    (PASSAGE, "passage", PASSAGE_FORMAT, PASSAGE_SIZE, PASSAGE_FIELDS),
    (ALARM, "alarm", ALARM_FORMAT, ALARM_SIZE, ALARM_FIELDS),
    (FAULT, "fault", FAULT_FORMAT, FAULT_SIZE, FAULT_FIELDS),
    (STATUS, "status", STATUS_FORMAT, STATUS_SIZE, STATUS_FIELDS),
    (TIME, "time", TIME_FORMAT, TIME_SIZE, TIME_FIELDS),
    (CONFIG, "config", CONFIG_FORMAT, CONFIG_SIZE, CONFIG_FIELDS),
    (REPLY, "reply", REPLY_FORMAT, REPLY_SIZE, REPLY_FIELDS),
)
MAX_PAYLOAD = const(41)  # STATUS, the longest record
# COBS of fewer than 254 bytes adds exactly one byte: a frame is payload + CRC + 1 + delimiter.
MAX_FRAME = const(45)  # a record on the wire, delimiter included

# -- REPLAY: not a record of its own but an envelope (firmware/backlog.py). Payload: byte0
# (VERSION << 5 | REPLAY), u16 boot, then the journaled record's payload (header + body);
# CRC and COBS as any frame. No seq of its own: live sequence numbers never see it.
REPLAY_HEAD_FORMAT = "<BH"
REPLAY_HEAD_SIZE = const(3)
MAX_REPLAY_FRAME = const(48)  # the longest frame of all on the wire, delimiter included

# -- PASSAGE flags byte --
FLAGS_VERDICT_MASK = const(0x0F)
FLAGS_DIRECTION_SHIFT = const(4)
FLAGS_DIRECTION_MASK = const(0x03)
TRANSIT_MAX_CS = const(255)  # transit_cs saturates here (2.55 s)

# -- verdicts (PASSAGE flags bits 0..3) --
VERDICT_NORMAL = const(0)
VERDICT_FEVER = const(1)
VERDICT_REMEASURE_LOW = const(2)  # reading below the plausibility floor (no face, cold skin)
VERDICT_REMEASURE_UNSTABLE = const(3)  # readings in the window did not agree
VERDICT_REMEASURE_FAST = const(4)  # walker too fast for the sensor to settle
VERDICT_REMEASURE_SENSOR = const(5)  # the sensor failed during the passage
VERDICT_NO_READING = const(6)  # nobody measured: entry lost to a fault or a full FIFO

# -- directions (PASSAGE flags bits 4..5) --
DIR_UNKNOWN = const(0)
DIR_IN = const(1)
DIR_OUT = const(2)

# -- ALARM kinds --
ALARM_FEVER = const(1)

# -- FAULT codes --
FAULT_SENSOR_NACK = const(1)  # no acknowledge / bus error from the MLX90614
FAULT_SENSOR_PEC = const(2)  # SMBus PEC mismatch
FAULT_SENSOR_FLAG = const(3)  # error flag (bit 15) set in a temperature word
FAULT_SENSOR_RANGE = const(4)  # temperature outside the sensor's range (e.g. 0xFFFF)
FAULT_BUS_STUCK = const(5)  # SDA held low; bus recovery attempted
FAULT_BEAM_STUCK = const(6)  # a beam blocked longer than beam_stuck_ms
FAULT_TANK_EMPTY = const(7)  # the disinfectant tank is empty
FAULT_PUMP_MAX_RUN = const(8)  # the pump hit its maximum run time
FAULT_TX_OVERFLOW = const(9)  # the transmit ring dropped records
FAULT_WATCHDOG = const(10)  # the last reset was the watchdog
FAULT_CONFIG = const(11)  # stored configuration rejected, defaults used
FAULT_JOURNAL_LOSS = const(12)  # the flash journal deleted records never downloaded (detail: n)
FAULT_STORAGE = const(13)  # flash state unusable (detail: 1 counters, 2 journal, 4 a commit)

# -- reset causes (BOOT reset_cause) --
RESET_UNKNOWN = const(0)
RESET_POWER_ON = const(1)
RESET_WATCHDOG = const(2)
RESET_SOFT = const(3)
RESET_HARD = const(4)
RESET_BROWNOUT = const(5)
RESET_POWER_CUT = const(6)  # power-on, and the previous session never shut down: power lost

# -- firmware version 0xMMmmpp (BOOT fw_version) --
FW_VERSION = const(0x000100)  # 0.1.0

# =================================================================================================
# COMMAND section (issue 6, field service; owned by firmware/commands.py). Host -> device.
# Framed like the records: COBS(payload + CRC16) + 0x00. The payload is the record header `<BHI`
# with type COMMAND, seq = the host's request tag, t_cs = 0, then command u8, pin u32, key u8,
# value i32. The device answers every command frame with a REPLY record whose `arg` is the
# request tag (REPLY_NO_TAG when the frame was too damaged to read one); the data a command
# returns travels in STATUS, CONFIG and TIME records sent just before that REPLY.
# =================================================================================================
COMMAND = const(16)
COMMAND_FORMAT = "<BHIBIBi"
COMMAND_SIZE = const(17)
COMMAND_FIELDS = ("command", "pin", "key", "value")
COMMAND_MAX_FRAME = const(21)  # on the wire, delimiter included

# -- command codes (COMMAND `command`); "PIN" ones need the PIN and may be LOCKED --
CMD_STATUS = const(1)  # free: STATUS record + calibration CONFIG records
CMD_GET_CONFIG = const(2)  # free: CONFIG record(s) for `key` (KEY_ALL: every readable one)
CMD_SET_CONFIG = const(3)  # PIN: key = value, range checked, persisted, echoed as CONFIG
CMD_TIME_SYNC = const(4)  # PIN: value = unix_s as u32 (its i32 bit pattern), key = the site's
# UTC offset in quarter hours as i8 (-48..56); CONFIG KEY_UTC_OFFSET and a TIME record answer
CMD_CALIBRATE = const(5)  # PIN: value = reference_cc; REPLY_STARTED, then the result
CMD_PUMP_PRIME = const(6)  # PIN: value = seconds of pump run
CMD_BUZZER_TEST = const(7)  # PIN: plays every buzzer pattern once
CMD_SELF_TEST = const(8)  # free: sensor identity, config register, plausible ambient
CMD_RESET_COUNTERS = const(9)  # PIN: people/fever/remeasure/sensor-error counters to 0
CMD_SET_EMISSIVITY = const(10)  # PIN: value = emissivity word (65535 = 1.0), EEPROM 0x24
CMD_SET_FILTER = const(11)  # PIN: value = IIR and FIR bits of the sensor's EEPROM 0x25
CMD_BACKLOG = const(12)  # free: key 0 from the acknowledged position, 1 from value = boot<<16|seq;
# REPLY_STARTED, REPLAY frames, CONFIG KEY_BACKLOG_SENT and KEY_JOURNAL_DROPPED, final REPLY
CMD_ACK = const(13)  # PIN: value = boot << 16 | seq: the host stored everything up to there
CMD_STOP = const(14)  # PIN: a clean stop before the power is removed: REPLY_STARTED, then
# REPLY_OK once the counters are committed, the journal closed and the session marked ended;
# the gate then does nothing (outputs off) until it is reset or powered off
BACKLOG_UNACKNOWLEDGED = const(0)  # CMD_BACKLOG key: from the acknowledged position
BACKLOG_FROM = const(1)  # CMD_BACKLOG key: from the (boot, seq) in value

# -- REPLY `status` --
REPLY_OK = const(0)
REPLY_REFUSED = const(1)  # nothing changed; `reason` says why
REPLY_BAD_FRAME = const(2)  # the frame was not a good command; nothing changed
REPLY_FAILED = const(3)  # accepted, but a check or the hardware failed (`reason`)
REPLY_STARTED = const(4)  # accepted and running; a final REPLY with the same tag follows

REPLY_NO_TAG = const(-1)  # REPLY `arg` when the tag of a damaged frame cannot be trusted

# -- REPLY `reason` (REASON_NONE with REPLY_OK / REPLY_STARTED) --
REASON_NONE = const(0)
REASON_BAD_PIN = const(1)  # REFUSED: wrong PIN (counted)
REASON_RANGE = const(2)  # REFUSED: value outside its range (or a cross-setting rule)
REASON_UNKNOWN_KEY = const(3)  # REFUSED: no such setting
REASON_UNKNOWN_COMMAND = const(4)  # REFUSED: no such command
REASON_BUSY = const(5)  # REFUSED: the same operation runs, or someone is in the gate
REASON_UNSTABLE = const(6)  # REFUSED: calibration readings spread more than stable_band_cc
REASON_LOCKED = const(7)  # REFUSED: too many wrong PINs; try again later
REASON_CRC = const(8)  # BAD_FRAME: CRC mismatch
REASON_LENGTH = const(9)  # BAD_FRAME: bad COBS, too long, too short or wrong size
REASON_VERSION = const(10)  # BAD_FRAME: version is not VERSION
REASON_TYPE = const(11)  # BAD_FRAME: type is not COMMAND
REASON_SENSOR = const(12)  # FAILED: the sensor did not answer (or its write did not verify)
REASON_IDENTITY = const(13)  # FAILED (self-test): identity words blank (0 or 0xFFFF)
REASON_SENSOR_CONFIG = const(14)  # FAILED (self-test): config register 0x25 blank
REASON_AMBIENT = const(15)  # FAILED (self-test): ambient outside -10.00 .. 60.00 C
REASON_STORAGE = const(16)  # FAILED: the setting could not be persisted (change undone)
REASON_TANK_EMPTY = const(17)  # REFUSED: pump prime with an empty tank
REASON_RESTING = const(18)  # REFUSED: the pump is resting after a run
REASON_WRITE_ONLY = const(19)  # REFUSED: the PIN is never echoed
REASON_READ_ONLY = const(20)  # REFUSED: set by the device or its own command (calibration,
# emissivity, filter)
REASON_RATE_LIMITED = const(21)  # REFUSED: too many frames without the PIN; wait a second

# -- CONFIG record keys outside config.SETTINGS (200..254), and GET_CONFIG "all" --
KEY_PIN = const(200)  # write-only, 0..PIN_MAX
KEY_CAL_OFFSET = const(201)  # calibration offset in cC (reference - median raw reading)
KEY_CAL_REFERENCE = const(202)  # reference temperature of the last calibration, cC (0: none)
KEY_CAL_DAY = const(203)  # day of the last calibration, days since 1970-01-01 (0: unknown)
KEY_EMISSIVITY = const(204)  # the sensor's emissivity word (read-only via SET_CONFIG)
KEY_BAD_PINS = const(205)  # wrong PINs since boot
KEY_SENSOR_FILTER = const(206)  # IIR and FIR bits of the sensor's 0x25 (read-only via SET_CONFIG)
KEY_BACKLOG_SENT = const(210)  # REPLAY frames the finished download sent
KEY_JOURNAL_DROPPED = const(211)  # records the journal deleted unacknowledged since boot
KEY_BOOT_COUNT = const(212)  # this boot's number (BOOT boot_count): STATUS and BACKLOG send it
KEY_DEVICE_ID = const(213)  # the BOOT device_id as i32 (the host takes it mod 2**32)
KEY_BACKLOG_BYTES = const(214)  # journal bytes a starting download has ahead (its progress)
KEY_UTC_OFFSET = const(215)  # the site's UTC offset in minutes (TIME_SYNC key x 15): "today"
KEY_JOURNAL_END = const(216)  # after BOOT: the last journal entry the previous boots left on
# flash, value = boot << 16 | seq (as i32; boot and seq mod 2**16): a host lists the records
# of that boot after it that it never got as a gap (a power cut lost them before a flush)
KEY_COUNTERS_RESET = const(217)  # the counters were reset (service command); value: the total
# of people in that was cleared
KEY_CHATTER = const(218)  # link chatter not journaled (CONFIG, REPLY and STATUS answers to
# frames without the right PIN): the `value` sequence numbers right before this one, not lost
KEY_FW_VERSION = const(219)  # the firmware's version, 0x00MMmmpp as BOOT fw_version
KEY_CLOCK_DAY = const(220)  # the gate's clock now: the site's day, days since 1970-01-01 (0:
# never set since boot); with KEY_CLOCK_SECOND and, once set, KEY_UTC_OFFSET (GET_CONFIG 220)
KEY_CLOCK_SECOND = const(221)  # the gate's clock now: the second of the site's day (0..86399)
KEY_LOCK_LEFT_S = const(222)  # before a REFUSED LOCKED (or the BAD_PIN that locked): seconds
# until PIN commands are taken again
KEY_CAL_MEDIAN = const(223)  # before a calibration refused UNSTABLE or RANGE: median reading, cC
KEY_CAL_SPREAD = const(224)  # ... and the spread of the readings (max - min), cC
KEY_ALL = const(255)

PIN_MAX = const(999999999)  # PINs are 0..PIN_MAX (fit within +-2**30)
PIN_DEFAULT = const(1234)  # the simulator's and a fresh board's PIN: change it at install

# -- SET_FILTER value and KEY_SENSOR_FILTER: the filter bits of MLX90614 config register 0x25 --
FILTER_MASK = const(0x0707)  # IIR bits 2..0, FIR bits 10..8; the other bits are never touched
FILTER_FIR_MASK = const(0x0700)
FILTER_FIR_MIN = const(0x0400)  # FIR N = 8 << bits; below N=128 the datasheet advises against
