"""frame.py's byte loops as viper code: machine code on the board, 10x faster than bytecode.

`crc16(buf, length, start)`, `cobs_encode_into(src, length, dst, start)` and
`copy_into(src, start, dst, at, length)` do exactly what frame.py documents, with every
argument given (viper functions take no defaults). frame.py imports them from here when the
interpreter has the viper emitter (MicroPython on the RP2040 and on the unix port) and keeps its
bytecode versions otherwise (CPython, which the simulator and the host tests also run the
firmware on); the rest of the firmware only ever calls frame's names.

On the emulated Pico at 125 MHz a 33-byte CRC takes 39 us here against 431 us as bytecode,
COBS-encoding it 40 us against 542, copying it 32 us against 534: a record (its frame CRC, its
journal copy and CRC, its COBS for the wire) costs about a quarter of what it did.

Viper code is compiled for one CPU: mpy-cross needs `-march` for it (plain `mpy-cross` says
"invalid arch"; `make mpy` compiles it for both boards' CPUs, armv6m and xtensawin), and a
.mpy with machine code loads only on the MicroPython version that made it (the 1.22 image
refuses 1.29's); without this file frame.py keeps its bytecode loops. So
`make deploy` copies this file as source and the board's own compiler turns it into Thumb code
on import (about 2 KB of RAM for the code). Nothing here allocates after import: the loops only
index buffers through ptr8 and do machine-word arithmetic; the CRC tables are built once at
import from the polynomial (CRC-16/CCITT-FALSE, 0x1021, the same tables as frame.py's).
"""

import micropython

_CRC_HI = bytearray(256)
_CRC_LO = bytearray(256)


@micropython.viper
def _fill_tables(hi, lo):
    h = ptr8(hi)  # noqa: F821 (a viper built-in)
    low = ptr8(lo)  # noqa: F821
    index = 0
    while index < 256:
        crc = index << 8
        bit = 0
        while bit < 8:
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
            bit += 1
        h[index] = crc >> 8
        low[index] = crc & 0xFF
        index += 1


_fill_tables(_CRC_HI, _CRC_LO)


@micropython.viper
def crc16(buf, length: int, start: int) -> int:
    """CRC-16/CCITT-FALSE of buf[start:start + length]."""
    b = ptr8(buf)  # noqa: F821
    table_hi = ptr8(_CRC_HI)  # noqa: F821
    table_lo = ptr8(_CRC_LO)  # noqa: F821
    hi = 0xFF
    lo = 0xFF
    i = start
    end = start + length
    while i < end:
        index = hi ^ b[i]
        hi = lo ^ table_hi[index]
        lo = table_lo[index]
        i += 1
    return (hi << 8) | lo


@micropython.viper
def cobs_encode_into(src, length: int, dst, start: int) -> int:
    """COBS of src[start:start + length] into dst from 0 (no delimiter); the encoded length."""
    s = ptr8(src)  # noqa: F821
    d = ptr8(dst)  # noqa: F821
    code_at = 0
    out = 1
    code = 1
    end = start + length
    i = start
    while i < end:
        byte = s[i]
        if byte:
            d[out] = byte
            out += 1
            code += 1
            if code == 0xFF:
                d[code_at] = 0xFF
                if i == end - 1:
                    return out  # a full block ends the input: no trailing code byte
                code_at = out
                out += 1
                code = 1
        else:
            d[code_at] = code
            code_at = out
            out += 1
            code = 1
        i += 1
    d[code_at] = code
    return out


@micropython.viper
def copy_into(src, start: int, dst, at: int, length: int):
    """dst[at:at + length] = src[start:start + length], without making a slice."""
    s = ptr8(src)  # noqa: F821
    d = ptr8(dst)  # noqa: F821
    i = 0
    while i < length:
        d[at + i] = s[start + i]
        i += 1
