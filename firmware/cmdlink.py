"""CommandLink: command frames from the UART, split, COBS-decoded and checked (no meaning).

The framing half of the service link (docs/PROTOCOL.md, "Commands"). `receive()` reads at
most RX_CHUNK bytes (`uart.any()`, `uart.readinto(buf, n)` into a preallocated buffer), splits
them at 0x00, COBS-decodes each frame in place and checks its size, CRC-16 (frame.crc16,
big-endian after the payload), version and type, one frame a call (the rest of the read waits
for the next call, `rx_left`). For every frame it calls `on_frame(reason)`:
REASON_NONE for a good COMMAND, whose fields are then in `tag`, `command`, `pin`, `key` and
`value`; a BAD_FRAME reason (REASON_LENGTH, REASON_CRC, REASON_VERSION, REASON_TYPE)
otherwise, with `tag` = REPLY_NO_TAG when the frame was too damaged to trust one.

A PIN above 2**30 - 1 is never valid (protocol.PIN_MAX < 2**30): it is read as -1, so no big
int is built on a 32-bit board; a value within +-2**30 is assembled from its bytes as a small
int. Nothing allocates while nothing arrives; only a value beyond +-2**30 (a unix time) does.
"""

import struct

from micropython import const

import protocol
from frame import cobs_decode_in_place, crc16

RX_CHUNK = const(64)  # bytes read from the UART per call at most
FRAME_CAP = const(32)  # longest accepted COBS frame (a command is 20 bytes)
_MIN_FRAME = const(9)  # header + CRC
_CMD_BYTES = const(19)  # COMMAND payload + CRC
_B0 = protocol.VERSION << protocol.VERSION_SHIFT | protocol.COMMAND
_NONE = protocol.REASON_NONE


class CommandLink:
    def __init__(self, uart, on_frame):
        self._uart = uart
        self._on_frame = on_frame
        self._rx = bytearray(RX_CHUNK)
        self._rx_pos = 0  # the next byte of _rx to split
        self._rx_len = 0  # the bytes the last read put in _rx
        self.rx_left = 0  # read and not split yet: receive() goes on with them first
        self._frame = bytearray(FRAME_CAP)
        self._flen = 0
        self._overlong = False
        self.frames = 0  # frames seen (good or bad)
        self.tag = protocol.REPLY_NO_TAG
        self.command = 0
        self.pin = -1
        self.key = 0
        self.value = 0

    def receive(self):
        """Hand on at most one complete frame; True if one was handed on.

        The bytes left from the last read are split first, then the UART is read (up to
        RX_CHUNK bytes) if they held no frame's end. The bytes after a frame's end wait in
        `_rx` (`rx_left` says how many) for the next call: one command answered a tick keeps a
        tick's work bounded (a STATUS answer is up to eight records), whatever arrives at once.
        """
        if self._rx_pos < self._rx_len and self._split(self._rx_pos, self._rx_len):
            return True
        self._rx_pos = self._rx_len = self.rx_left = 0
        uart = self._uart
        n = uart.any()
        if not n:
            return False
        if n > RX_CHUNK:
            n = RX_CHUNK
        got = uart.readinto(self._rx, n)
        if not got:
            return False
        self._rx_len = got
        return self._split(0, got)

    def _split(self, pos, got):
        """Frame bytes from _rx[pos:got] until a frame ends (handed on: True) or got."""
        rx = self._rx
        frame = self._frame
        while pos < got:
            byte = rx[pos]
            pos += 1
            if byte == 0:
                if self._flen or self._overlong:
                    reason = self._check()
                    self._flen = 0
                    self._overlong = False
                    self._rx_pos = pos
                    self.rx_left = got - pos
                    self.frames += 1
                    self._on_frame(reason)
                    return True
            elif self._flen < FRAME_CAP:
                frame[self._flen] = byte
                self._flen += 1
            else:
                self._overlong = True
        self._rx_pos = got
        self.rx_left = 0
        return False

    def _check(self):
        """REASON_NONE with the fields set, or the BAD_FRAME reason of the frame just ended."""
        self.command = 0
        self.tag = protocol.REPLY_NO_TAG
        if self._overlong:
            return protocol.REASON_LENGTH
        buf = self._frame
        n = cobs_decode_in_place(buf, self._flen)
        if n < _MIN_FRAME:
            return protocol.REASON_LENGTH
        if crc16(buf, n - 2, 0) != (buf[n - 2] << 8 | buf[n - 1]):
            return protocol.REASON_CRC
        self.tag = buf[1] | buf[2] << 8
        if buf[0] >> protocol.VERSION_SHIFT != protocol.VERSION:
            return protocol.REASON_VERSION
        if buf[0] != _B0:
            return protocol.REASON_TYPE
        if n != _CMD_BYTES:
            return protocol.REASON_LENGTH
        self.command = buf[7]
        self.pin = -1 if buf[11] >= 0x40 else buf[8] | buf[9] << 8 | buf[10] << 16 | buf[11] << 24
        self.key = buf[12]
        top = buf[16]
        if top < 0x40 or top >= 0xC0:  # within +-2**30: a small int, nothing allocated
            self.value = (
                buf[13] | buf[14] << 8 | buf[15] << 16 | (top if top < 0x40 else top - 256) << 24
            )
        else:  # a big i32 (a TIME_SYNC's unix time): a long int on a 32-bit port
            self.value = struct.unpack_from("<i", buf, 13)[0]
        return _NONE
