"""Golden vectors shared by the firmware tests (both interpreters) and the host tests.

The record frames were computed independently of the firmware, with CPython's struct,
binascii.crc_hqx and the cobs package: COBS(payload + CRC16 big-endian) + 0x00, as hex.
Each record vector is (writer method, its arguments, seq, t_cs, host fields, wire hex); the host
fields are what host_tools.decoder returns (a passage's flags byte split into verdict and
direction, a status record's tx_dropped and tx_short from the writer's `dropped` and
`tx_short`, here 0).
"""

import protocol

RECORD_VECTORS = (
    (
        "boot",
        (protocol.RESET_WATCHDOG, 7, 0xDEADBEEF, 0x010203),
        0,
        0,
        {"reset_cause": 2, "fw_version": 0x010203, "boot_count": 7, "device_id": 0xDEADBEEF},
        "022101010101010502030201020707efbeaddeeca700",
    ),
    (
        "passage",
        (protocol.VERDICT_FEVER, protocol.DIR_IN, 3812, 40),
        1,
        12345,
        {"verdict": 1, "direction": 1, "temp_cc": 3812, "transit_cs": 40},
        "0322010339300107e40e112837e900",
    ),
    (
        "passage",
        (protocol.VERDICT_NO_READING, protocol.DIR_OUT, 0, 255),
        0xFFFF,
        (1 << 30) - 1,
        {"verdict": 6, "direction": 2, "temp_cc": 0, "transit_cs": 255},
        "0822ffffffffff3f010526ff81d900",
    ),
    (
        "passage",
        (protocol.VERDICT_REMEASURE_LOW, protocol.DIR_UNKNOWN, -1234, 0),
        2,
        0x01020304,
        {"verdict": 2, "direction": 0, "temp_cc": -1234, "transit_cs": 0},
        "03220208040302012efb0203166700",
    ),
    (
        "alarm",
        (protocol.ALARM_FEVER, 3905),
        3,
        500,
        {"kind": 1, "temp_cc": 3905},
        "03230303f401010601410f176300",
    ),
    (
        "fault",
        (protocol.FAULT_SENSOR_PEC, 1, -2),
        4,
        600,
        {"code": 2, "active": 1, "detail": -2},
        "03240403580201070201feffc33c00",
    ),
    (
        "fault",
        (protocol.FAULT_TANK_EMPTY, 0, 0),
        5,
        601,
        {"code": 7, "active": 0, "detail": 0},
        "0324050359020102070101034ee100",
    ),
    (
        "status",
        (1234, 1200, 3, 17, 86400, 123456, 2, 1100, 4, 5),
        6,
        8640000,
        {
            "people_in": 1234,
            "people_out": 1200,
            "fevers": 3,
            "remeasures": 17,
            "uptime_s": 86400,
            "mem_free": 123456,
            "sensor_errors": 2,
            "tx_dropped": 0,
            "people_in_today": 1100,
            "irq_overflows": 4,
            "events_dropped": 5,
            "tx_short": 0,
        },
        "0325060103d68303d2040103b0040102030211048051010440e20102020101034c040102040205010103bbb500",
    ),
    (
        "time_sync",
        (1767225600,),
        7,
        8640100,
        {"unix_s": 1767225600},
        "0326070464d6830106b95569878e00",
    ),
    (
        "config",
        (3, -5),
        8,
        8640200,
        {"key": 3, "value": -5},
        "03270804c8d6830803fbfffffff1b100",
    ),
    (
        "reply",
        (2, 1, 0, 123456),
        9,
        8640300,
        {"command": 2, "status": 1, "reason": 0, "arg": 123456},
        "032809042cd7830302010440e20103f24f00",
    ),
)

# writer method -> record type name on the wire (the decoder's Record.type)
METHOD_TYPES = {
    "boot": "boot",
    "passage": "passage",
    "alarm": "alarm",
    "fault": "fault",
    "status": "status",
    "time_sync": "time",
    "config": "config",
    "reply": "reply",
}

# CRC-16/CCITT-FALSE: (data, crc); 0x29B1 is the catalogue check value of b"123456789".
CRC_VECTORS = (
    (b"", 0xFFFF),
    (b"123456789", 0x29B1),
    (b"A", 0xB915),
    (bytes(32), 0xF14C),
)

_RUN_254 = bytes(range(1, 255))  # 254 non-zero bytes: exactly one full COBS block

# COBS (Cheshire and Baker; the examples of the paper, Wikipedia and cobs-python's tests)
COBS_VECTORS = (
    (b"", b"\x01"),
    (b"1", b"\x021"),
    (b"12345", b"\x0612345"),
    (b"12345\x006789", b"\x0612345\x056789"),
    (b"\x0012345\x006789", b"\x01\x0612345\x056789"),
    (b"12345\x006789\x00", b"\x0612345\x056789\x01"),
    (b"\x00", b"\x01\x01"),
    (b"\x00\x00", b"\x01\x01\x01"),
    (b"\x00\x00\x00", b"\x01\x01\x01\x01"),
    (b"\x11\x22\x00\x33", b"\x03\x11\x22\x02\x33"),
    (b"\x11\x00\x00\x00", b"\x02\x11\x01\x01\x01"),
    (_RUN_254[:253], b"\xfe" + _RUN_254[:253]),
    (_RUN_254, b"\xff" + _RUN_254),
    (_RUN_254 + b"\x00", b"\xff" + _RUN_254 + b"\x01\x01"),
    (b"\x00" + _RUN_254, b"\x01\xff" + _RUN_254),
    (_RUN_254 + b"\xff", b"\xff" + _RUN_254 + b"\x02\xff"),
    (bytes(range(2, 256)) + b"\x00\x01", b"\xff" + bytes(range(2, 256)) + b"\x01\x02\x01"),
    (bytes(range(3, 256)) + b"\x00\x01\x02", b"\xfe" + bytes(range(3, 256)) + b"\x03\x01\x02"),
)
