"""The baseline for `make bench`: the gate loop written the straightforward hobby way.

Float temperatures (raw * 0.02 - 273.15, no PEC check), a list of readings sorted for the
median, beam levels polled and debounced every tick, the pump held on after a walker, a buzzer
beep, and every record a JSON line written to the UART (json.dumps of a dict). It does the same
job per tick as firmware/gate.py's Gate.step with the same defaults (30 ms debounce, 100 ms
settle and sample period, 8 samples at most, 2 votes, fever line 37.3 C body, 0.5 C skin
offset, 2 s pump hold, a status every 60 s). It runs on MicroPython and CPython, is never
deployed, and is measured beside the real Gate in one MicroPython process by bench/mpy_tick.py.
`passage_json` and `passage_text` are the record formats the size comparison uses.
"""

import json

try:
    from time import ticks_diff
except ImportError:  # CPython

    def ticks_diff(a, b):
        return ((a - b + (1 << 29)) & ((1 << 30) - 1)) - (1 << 29)


MLX_ADDR = 0x5A
TOBJ1 = 0x07
DEBOUNCE_MS = 30
SETTLE_MS = 100
SAMPLE_MS = 100
MAX_SAMPLES = 8
MIN_SAMPLES = 2
FEVER_VOTES = 2
FEVER_C = 37.3
SKIN_OFFSET_C = 0.5
FLOOR_C = 32.0
PUMP_HOLD_MS = 2000
BEEP_MS = 60
FEVER_BEEP_MS = 3000
STATUS_MS = 60000


def passage_json(seq, t_s, verdict, direction, temp_c, transit_s):
    """One passage as the JSON line a hobby gate sends."""
    record = {
        "type": "passage",
        "seq": seq,
        "t": t_s,
        "verdict": verdict,
        "direction": direction,
        "temp": temp_c,
        "transit": transit_s,
    }
    return json.dumps(record) + "\n"


def passage_text(seq, t_s, verdict, direction, temp_c, transit_s):
    """One passage as a text log line."""
    return f"{t_s:.2f} PASSAGE #{seq} {direction} {verdict} {temp_c:.2f}C {transit_s:.2f}s\n"


class FloatGate:
    """Same interface as Gate for the bench: FloatGate(board), step(now)."""

    def __init__(self, board):
        self.board = board
        self.i2c = board.i2c
        self.start = board.ticks_ms()
        self.blocked = board.BEAM_BLOCKED
        self.raw = [False, False]  # last raw level per beam (True = blocked)
        self.level = [False, False]  # debounced
        self.changed = [self.start, self.start]
        self.inside = False
        self.direction = "in"
        self.entered = 0
        self.next_read = 0
        self.readings = []
        self.seq = 0
        self.people_in = 0
        self.people_out = 0
        self.fevers = 0
        self.remeasures = 0
        self.last_occupied = None
        self.beep_until = None
        self.next_status = self.start + STATUS_MS
        board.pump.value(0)
        board.buzzer.value(0)
        self.send({"type": "boot", "device": board.device_id(), "fw": "0.1.0"})

    def read_temp(self):
        """Object temperature in degrees C, as a float."""
        data = bytearray(3)  # the hobby driver's readfrom_mem(addr, reg, 3)
        self.i2c.readfrom_mem_into(MLX_ADDR, TOBJ1, data)
        return (data[0] | (data[1] << 8)) * 0.02 - 273.15

    def uptime(self, now):
        return ticks_diff(now, self.start) / 1000

    def send(self, record):
        self.seq += 1
        record["seq"] = self.seq
        self.board.uart.write((json.dumps(record) + "\n").encode())

    def step(self, now):
        edges = self.poll_beams(now)
        if edges[0] == 1 and not self.inside:
            self.enter(now, "in")
        elif edges[1] == 1 and not self.inside:
            self.enter(now, "out")
        if self.inside:
            self.last_occupied = now
            if len(self.readings) < MAX_SAMPLES and ticks_diff(now, self.next_read) >= 0:
                self.readings.append(self.read_temp())
                self.next_read = now + SAMPLE_MS
            far = 1 if self.direction == "in" else 0
            if edges[far] == -1:
                self.passage(now)
        pump = self.last_occupied is not None and (
            ticks_diff(now, self.last_occupied) < PUMP_HOLD_MS
        )
        self.board.pump.value(1 if pump else 0)
        beep = self.beep_until is not None and ticks_diff(now, self.beep_until) < 0
        self.board.buzzer.value(1 if beep else 0)
        if ticks_diff(now, self.next_status) >= 0:
            self.next_status += STATUS_MS
            self.send(
                {
                    "type": "status",
                    "t": self.uptime(now),
                    "in": self.people_in,
                    "out": self.people_out,
                    "fevers": self.fevers,
                    "remeasures": self.remeasures,
                }
            )

    def poll_beams(self, now):
        """Debounced edges per beam: 1 blocked, -1 cleared, 0 nothing."""
        beams = (self.board.beam_a, self.board.beam_b)
        edges = [0, 0]
        for i in range(2):
            raw = beams[i].value() == self.blocked
            if raw != self.raw[i]:
                self.raw[i] = raw
                self.changed[i] = now
            elif raw != self.level[i] and ticks_diff(now, self.changed[i]) >= DEBOUNCE_MS:
                self.level[i] = raw
                edges[i] = 1 if raw else -1
        return edges

    def enter(self, now, direction):
        self.inside = True
        self.direction = direction
        self.entered = now
        self.readings = []
        self.next_read = now + SETTLE_MS

    def passage(self, now):
        self.inside = False
        readings = self.readings
        temp = 0.0
        if len(readings) < MIN_SAMPLES:
            verdict = "remeasure"
        else:
            skin = sorted(readings)[len(readings) // 2]
            temp = skin + SKIN_OFFSET_C
            votes = len([r for r in readings if r + SKIN_OFFSET_C >= FEVER_C])
            if skin < FLOOR_C:
                verdict = "remeasure"
            elif votes >= FEVER_VOTES:
                verdict = "fever"
            else:
                verdict = "normal"
        if self.direction == "in":
            self.people_in += 1
        else:
            self.people_out += 1
        t = self.uptime(now)
        transit = ticks_diff(now, self.entered) / 1000
        self.seq += 1
        line = passage_json(self.seq, t, verdict, self.direction, round(temp, 2), transit)
        self.board.uart.write(line.encode())
        if verdict == "fever":
            self.fevers += 1
            self.send({"type": "alarm", "t": t, "temp": round(temp, 2)})
            self.beep_until = now + FEVER_BEEP_MS
        else:
            if verdict == "remeasure":
                self.remeasures += 1
            self.beep_until = now + BEEP_MS
