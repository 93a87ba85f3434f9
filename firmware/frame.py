"""CRC-16/CCITT-FALSE and COBS for every frame the gate sends, receives or keeps on flash.

The one CRC-16 of the firmware: the record stream, the command frames, the flash journal and
the persisted state files all use `crc16(buf, length, start)`. These functions allocate
nothing (they only index buffers and do small-int arithmetic), so the RecordWriter can call
them on the per-tick path, under micropython.heap_lock(). Every argument is given (no
defaults): on MicroPython `crc16`, `cobs_encode_into` and `copy_into` are frame_native.py's
viper versions (machine code, about 10x faster on a Pico), and viper functions take no
defaults; the bytecode versions below (`py_*`) are what CPython runs (the simulator's in-process
firmware, the host tests) and the reference the tests hold the viper ones to. `NATIVE` says
which are in use.

CRC-16/CCITT-FALSE: polynomial 0x1021, initial value 0xFFFF, no reflection, no final xor; the
check value of b"123456789" is 0x29B1 (the same as CPython's binascii.crc_hqx(data, 0xFFFF)).
Table driven, a byte at a time, with the 256-entry table split into high and low bytes (two
256-byte bytes literals, 512 bytes in all).

COBS (Cheshire and Baker, 1999): the encoded block never contains 0x00, so a single 0x00 ends
each frame on the wire. The encoded length of n bytes is at most n + (n + 253) // 254 and is
exactly n + 1 for n < 254. A run of 254 non-zero bytes that ends the input gets no trailing
code byte (as in the paper and the cobs-python package). `cobs_decode_in_place` undoes it
for received command frames and the journal's checks.
"""

_CRC_HI = (
    b"\x00\x10\x20\x30\x40\x50\x60\x70\x81\x91\xa1\xb1\xc1\xd1\xe1\xf1"
    b"\x12\x02\x32\x22\x52\x42\x72\x62\x93\x83\xb3\xa3\xd3\xc3\xf3\xe3"
    b"\x24\x34\x04\x14\x64\x74\x44\x54\xa5\xb5\x85\x95\xe5\xf5\xc5\xd5"
    b"\x36\x26\x16\x06\x76\x66\x56\x46\xb7\xa7\x97\x87\xf7\xe7\xd7\xc7"
    b"\x48\x58\x68\x78\x08\x18\x28\x38\xc9\xd9\xe9\xf9\x89\x99\xa9\xb9"
    b"\x5a\x4a\x7a\x6a\x1a\x0a\x3a\x2a\xdb\xcb\xfb\xeb\x9b\x8b\xbb\xab"
    b"\x6c\x7c\x4c\x5c\x2c\x3c\x0c\x1c\xed\xfd\xcd\xdd\xad\xbd\x8d\x9d"
    b"\x7e\x6e\x5e\x4e\x3e\x2e\x1e\x0e\xff\xef\xdf\xcf\xbf\xaf\x9f\x8f"
    b"\x91\x81\xb1\xa1\xd1\xc1\xf1\xe1\x10\x00\x30\x20\x50\x40\x70\x60"
    b"\x83\x93\xa3\xb3\xc3\xd3\xe3\xf3\x02\x12\x22\x32\x42\x52\x62\x72"
    b"\xb5\xa5\x95\x85\xf5\xe5\xd5\xc5\x34\x24\x14\x04\x74\x64\x54\x44"
    b"\xa7\xb7\x87\x97\xe7\xf7\xc7\xd7\x26\x36\x06\x16\x66\x76\x46\x56"
    b"\xd9\xc9\xf9\xe9\x99\x89\xb9\xa9\x58\x48\x78\x68\x18\x08\x38\x28"
    b"\xcb\xdb\xeb\xfb\x8b\x9b\xab\xbb\x4a\x5a\x6a\x7a\x0a\x1a\x2a\x3a"
    b"\xfd\xed\xdd\xcd\xbd\xad\x9d\x8d\x7c\x6c\x5c\x4c\x3c\x2c\x1c\x0c"
    b"\xef\xff\xcf\xdf\xaf\xbf\x8f\x9f\x6e\x7e\x4e\x5e\x2e\x3e\x0e\x1e"
)

_CRC_LO = (
    b"\x00\x21\x42\x63\x84\xa5\xc6\xe7\x08\x29\x4a\x6b\x8c\xad\xce\xef"
    b"\x31\x10\x73\x52\xb5\x94\xf7\xd6\x39\x18\x7b\x5a\xbd\x9c\xff\xde"
    b"\x62\x43\x20\x01\xe6\xc7\xa4\x85\x6a\x4b\x28\x09\xee\xcf\xac\x8d"
    b"\x53\x72\x11\x30\xd7\xf6\x95\xb4\x5b\x7a\x19\x38\xdf\xfe\x9d\xbc"
    b"\xc4\xe5\x86\xa7\x40\x61\x02\x23\xcc\xed\x8e\xaf\x48\x69\x0a\x2b"
    b"\xf5\xd4\xb7\x96\x71\x50\x33\x12\xfd\xdc\xbf\x9e\x79\x58\x3b\x1a"
    b"\xa6\x87\xe4\xc5\x22\x03\x60\x41\xae\x8f\xec\xcd\x2a\x0b\x68\x49"
    b"\x97\xb6\xd5\xf4\x13\x32\x51\x70\x9f\xbe\xdd\xfc\x1b\x3a\x59\x78"
    b"\x88\xa9\xca\xeb\x0c\x2d\x4e\x6f\x80\xa1\xc2\xe3\x04\x25\x46\x67"
    b"\xb9\x98\xfb\xda\x3d\x1c\x7f\x5e\xb1\x90\xf3\xd2\x35\x14\x77\x56"
    b"\xea\xcb\xa8\x89\x6e\x4f\x2c\x0d\xe2\xc3\xa0\x81\x66\x47\x24\x05"
    b"\xdb\xfa\x99\xb8\x5f\x7e\x1d\x3c\xd3\xf2\x91\xb0\x57\x76\x15\x34"
    b"\x4c\x6d\x0e\x2f\xc8\xe9\x8a\xab\x44\x65\x06\x27\xc0\xe1\x82\xa3"
    b"\x7d\x5c\x3f\x1e\xf9\xd8\xbb\x9a\x75\x54\x37\x16\xf1\xd0\xb3\x92"
    b"\x2e\x0f\x6c\x4d\xaa\x8b\xe8\xc9\x26\x07\x64\x45\xa2\x83\xe0\xc1"
    b"\x1f\x3e\x5d\x7c\x9b\xba\xd9\xf8\x17\x36\x55\x74\x93\xb2\xd1\xf0"
)


def py_crc16(buf, length, start):
    """CRC-16/CCITT-FALSE of buf[start:start + length] (no slice is made)."""
    hi = 0xFF
    lo = 0xFF
    table_hi = _CRC_HI
    table_lo = _CRC_LO
    for i in range(start, start + length):
        index = hi ^ buf[i]
        hi = lo ^ table_hi[index]
        lo = table_lo[index]
    return (hi << 8) | lo


def py_cobs_encode_into(src, length, dst, start):
    """COBS-encode src[start:start + length] into dst from index 0; return the encoded length.

    No trailing 0x00 is written: the caller appends the delimiter. dst must hold at least
    length + (length + 253) // 254 bytes (length + 1 when length < 254).
    """
    code_at = 0  # where the code byte of the current block goes
    out = 1
    code = 1
    end = start + length
    for i in range(start, end):
        byte = src[i]
        if byte:
            dst[out] = byte
            out += 1
            code += 1
            if code == 0xFF:
                dst[code_at] = 0xFF
                if i == end - 1:
                    return out  # a full block ends the input: no trailing code byte
                code_at = out
                out += 1
                code = 1
        else:
            dst[code_at] = code
            code_at = out
            out += 1
            code = 1
    dst[code_at] = code
    return out


def py_copy_into(src, start, dst, at, length):
    """dst[at:at + length] = src[start:start + length], without making a slice."""
    for i in range(length):
        dst[at + i] = src[start + i]


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


crc16 = py_crc16
cobs_encode_into = py_cobs_encode_into
copy_into = py_copy_into
NATIVE = False
try:  # MicroPython: the viper versions (frame_native.py) replace the three loops above
    from frame_native import cobs_encode_into, copy_into, crc16  # noqa: F401, F811

    NATIVE = True
except (ImportError, AttributeError, SyntaxError):  # CPython has no micropython.viper
    pass
