"""The flash record journal: a bounded ring of segment files holding every framed record.

The journal stores opaque frames (1..64 bytes; the RecordWriter gives each record's payload
and CRC, as queued in its ring, not the COBS frame it sends), each tagged with the boot number
and the record's u16 seq given by the caller, so that a host that was away can download the
backlog later. It knows nothing of the frame format.

Files (on the board's littlefs; any filesystem with atomic rename works):
    <root>/00000001.seg ...  segments, numbered upwards, each at most `segment_bytes`
    <root>/ack               the acknowledged position (persist.Store: atomic replace)

Entry format (little-endian), `OVERHEAD` = 7 bytes around the frame:
    u8 length n (1..64)   u16 boot   u16 seq   n bytes frame
    u16 CRC-16/CCITT-FALSE (frame.crc16) of the 5 header bytes and the frame
A segment is read from its start; the first entry that is short, out of range or fails its
CRC ends the readable part of that segment (a torn tail) and reading goes on with the next
segment. A segment with a torn tail is never appended to again.

Writing: `append()` packs an entry into a preallocated RAM buffer (no allocation, no I/O);
`flush()` writes the buffered entries to the newest segment as one block and syncs it (the
caller decides when: every N records, every T ms, or when `half_full()`; `append()` flushes by
itself only when the buffer is full). On MicroPython a flush writes straight from the buffer
(`write(buf, off, n)`) and allocates nothing unless it starts a segment (a file is opened).
A flush that would pass `segment_bytes` continues in a new segment; when there are
`max_segments` segments the oldest is deleted first. Entries deleted before the host
acknowledged them are counted in `dropped_records`; `take_dropped()` hands the caller the
count not yet reported so it can send a record about the loss.

Reading: `read_from(boot, seq)` / `read_unacknowledged()` position the journal's one `Cursor`;
`cursor.next_into(buf)` copies one frame per call (after at most `max_steps` entries read)
and returns its length, or 0 (`cursor.at_end` tells whether it has caught up with the flushed
data). `acknowledge(boot, seq)` persists "the host has everything up to here"; a later
`read_unacknowledged()`, after a reboot too, resumes after it.

Order of (boot, seq) keys: boots and seqs are compared modulo 2**16 (the nearer way round),
and only forward from a known position in storage order, so a key is unambiguous while fewer
than 32768 entries of one boot lie between the acknowledged position and the host's ack.

On littlefs, a segment of 16320 bytes fills exactly four 4096-byte blocks (each data block
after the first gives a few bytes to the file's skip-list pointers), hence the default.
"""

import os
import struct
import sys

from micropython import const

import persist
from frame import copy_into, crc16

OVERHEAD = const(7)
MAX_FRAME = const(64)
MAX_ENTRY = const(71)
_HEADER = const(5)
_SEG_SUFFIX = ".seg"
_ENOSPC = const(28)
_ACK_SEG = const(0)
_ACK_OFF = const(1)
_ACK_BOOT = const(2)
_ACK_SEQ = const(3)
_ACK_VALID = const(4)
# MicroPython streams write a part of a buffer without a memoryview slice (no allocation)
_WRITE_PART = sys.implementation.name == "micropython"

DEFAULT_SEGMENT_BYTES = const(16320)
DEFAULT_MAX_SEGMENTS = const(40)
# sizing (see docs/STORAGE.md): littlefs blocks, a segment's blocks, space kept for the
# firmware files, the state files and littlefs's own spare blocks
_BLOCK = const(4096)
_SEGMENT_BLOCKS = const(4)
RESERVE_BYTES = const(172032)  # 42 blocks: ~120 KiB of .mpy files, state, littlefs spares


def key_before(boot_a, seq_a, boot_b, seq_b):
    """True if (boot_a, seq_a) comes strictly before (boot_b, seq_b), modulo 2**16 each."""
    if boot_a != boot_b:
        return ((boot_b - boot_a) & 0xFFFF) < 0x8000
    return seq_a != seq_b and ((seq_b - seq_a) & 0xFFFF) < 0x8000


def segments_for(fs_bytes, segment_bytes=DEFAULT_SEGMENT_BYTES, reserve_bytes=RESERVE_BYTES):
    """How many segments to keep on a filesystem of `fs_bytes` (whole littlefs blocks each)."""
    blocks = (segment_bytes + _BLOCK - 8 - 1) // (_BLOCK - 8)  # skip-list pointers: <= 8 bytes
    return max(2, (fs_bytes - reserve_bytes) // (blocks * _BLOCK))


def bytes_per_day(passages_per_day, status_per_day=1440, passage_frame=15, status_frame=45):
    """Journal bytes a day: every record stored with OVERHEAD bytes around its frame."""
    return passages_per_day * (passage_frame + OVERHEAD) + status_per_day * (
        status_frame + OVERHEAD
    )


def days_on_flash(
    flash_bytes,
    passages_per_day,
    status_per_day=1440,
    passage_frame=15,
    status_frame=45,
    segment_bytes=DEFAULT_SEGMENT_BYTES,
    scale=1,
):
    """Days of records the ring holds on a filesystem of `flash_bytes`, times `scale`, floored
    (integer maths: scale=10 gives tenths of a day).

    Frames default to their wire size with the 0x00 delimiter (passage 15, status 45 bytes).
    The ring keeps `segments_for(flash_bytes)` segments; the oldest may be about to go, so
    count one fewer. The result must stay within 2**30: keep scale small.
    """
    usable = (segments_for(flash_bytes, segment_bytes) - 1) * segment_bytes
    per_day = bytes_per_day(passages_per_day, status_per_day, passage_frame, status_frame)
    return usable * scale // per_day


class Cursor:
    """Reads stored frames in order, one per call; get it from Journal.read_from()."""

    def __init__(self, journal):
        self._j = journal
        self._ebuf = bytearray(MAX_ENTRY)
        self._f = None
        self._fseg = -1
        self._seg = 0
        self._off = 0
        self._skip = False
        self._skip_boot = 0
        self._skip_seq = 0
        self._seen_flushes = -1
        self.at_end = False
        self.active = False
        self.boot = -1  # key of the frame returned last
        self.seq = -1
        self.pos_seg = 0  # position just after the frame returned last
        self.pos_off = 0
        self.delivered = 0

    def _close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
            self._fseg = -1

    def _start(self, seg, off, boot, seq):
        self._close()
        self._seg = seg
        self._off = off
        self._skip = boot >= 0
        self._skip_boot = boot
        self._skip_seq = seq
        self._seen_flushes = -1
        self.at_end = False
        self.active = True
        self.boot = -1
        self.seq = -1
        self.pos_seg = seg
        self.pos_off = off
        self.delivered = 0

    def _segment_gone(self, seg, next_seg):
        """The journal deleted segment `seg`: move on to `next_seg` if the cursor was in it."""
        if self._fseg == seg:
            self._close()
        if self._seg <= seg:
            self._seg = next_seg
            self._off = 0

    def next_into(self, buf, max_steps=8):
        """Copies the next stored frame into `buf`; returns its length, or 0 for none now.

        Reads at most `max_steps` entries (skipped ones included) per call. With 0 returned,
        `at_end` is True once every flushed entry has been read (new ones are found on a
        later call after the next flush) and False if the step budget ran out first.
        """
        j = self._j
        if not self.active:
            return 0
        if self.at_end:
            if self._seen_flushes == j.flushes:
                return 0
            self.at_end = False
        steps = 0
        while steps < max_steps:
            steps += 1
            segs = j._segs
            if not segs:
                return self._caught_up()
            if self._seg < segs[0]:
                self._seg = segs[0]
                self._off = 0
            if self._seg > segs[-1]:
                return self._caught_up()
            if self._fseg != self._seg:
                self._close()
                if self._seg not in segs:
                    self._seg = _next_in(segs, self._seg)
                    self._off = 0
                    continue
                try:
                    self._f = open(j._path(self._seg), "rb")
                except OSError:
                    self._seg += 1
                    self._off = 0
                    continue
                self._fseg = self._seg
            size = j._read_entry(self._f, self._off, self._ebuf)
            if size <= 0:
                if self._seg == segs[-1]:
                    self._close()  # reopened after the next flush (a file handle opened
                    return self._caught_up()  # before a sync does not see the new data)
                self._close()
                self._seg = _next_in(segs, self._seg)
                self._off = 0
                continue
            e = self._ebuf
            self._off += size
            boot = e[1] | (e[2] << 8)
            seq = e[3] | (e[4] << 8)
            if self._skip:
                if key_before(boot, seq, self._skip_boot, self._skip_seq):
                    continue
                self._skip = False
            n = e[0]
            for i in range(n):
                buf[i] = e[_HEADER + i]
            self.boot = boot
            self.seq = seq
            self.pos_seg = self._seg
            self.pos_off = self._off
            self.delivered += 1
            return n
        return 0

    def bytes_ahead(self):
        """Bytes of flushed entries from the cursor's position to the journal's end (those
        it will skip included): what a download has still to read, for a progress bar."""
        j = self._j
        total = 0
        for seg in j._segs:
            if seg < self._seg:
                continue
            try:
                size = os.stat(j._path(seg))[6]
            except OSError:
                continue
            total += size - self._off if seg == self._seg else size
        return total

    def _caught_up(self):
        self.at_end = True
        self._seen_flushes = self._j.flushes
        return 0

    def close(self):
        self._close()
        self.active = False


def _next_in(segs, seg):
    """The first segment number in `segs` above `seg` (or seg + 1 past the newest)."""
    for s in segs:
        if s > seg:
            return s
    return seg + 1


class Journal:
    """A bounded ring of segment files; create it with Journal.open()."""

    def __init__(
        self,
        root="/journal",
        segment_bytes=DEFAULT_SEGMENT_BYTES,
        max_segments=DEFAULT_MAX_SEGMENTS,
        buffer_bytes=1024,
    ):
        if buffer_bytes < MAX_ENTRY or segment_bytes < MAX_ENTRY or max_segments < 2:
            raise ValueError("buffer and segment must hold an entry; at least 2 segments")
        self.root = root
        self.segment_bytes = segment_bytes
        self.max_segments = max_segments
        self._buf = bytearray(buffer_bytes)
        self._mv = memoryview(self._buf)
        self._ebuf = bytearray(MAX_ENTRY)
        self._fill = 0
        self.pending = 0  # entries in the RAM buffer
        self.urgent = False  # set by the caller: flush before anything else (cleared by flush)
        self._segs = []  # segment numbers on flash, oldest first
        self._wfile = None
        self._wsize = 0
        self._new_segment = True  # the next flush starts a new segment
        self._ack = persist.Store(root + "/ack", 5)
        self.cursor = Cursor(self)
        self.flushes = 0
        self.appended = 0
        self.dropped_records = 0  # entries deleted (ring full) before they were acknowledged
        self._unreported = 0
        self.write_errors = 0
        # what open() found
        self.entries = 0
        self.last_boot = -1
        self.last_seq = -1
        self.torn_bytes = 0

    # -- files ------------------------------------------------------------------------------
    def _path(self, seg):
        return "%s/%08d%s" % (self.root, seg, _SEG_SUFFIX)

    def _read_entry(self, f, off, e):
        """Size of the valid entry at `off` of file `f` (read into `e`); 0 if none or bad."""
        f.seek(off)
        n = f.readinto(e) or 0
        if n < OVERHEAD:
            return 0
        length = e[0]
        if length < 1 or length > MAX_FRAME or n < length + OVERHEAD:
            return 0
        end = _HEADER + length
        if (e[end] | (e[end + 1] << 8)) != crc16(e, end, 0):
            return 0
        return length + OVERHEAD

    @classmethod
    def open(
        cls,
        root="/journal",
        segment_bytes=DEFAULT_SEGMENT_BYTES,
        max_segments=DEFAULT_MAX_SEGMENTS,
        buffer_bytes=1024,
        feed=None,
    ):
        """Mounts the journal at boot: scans every segment and recovers.

        Sets `entries` (valid entries found), `last_boot`/`last_seq` (the last good entry,
        -1 if none), `torn_bytes` (bytes after the last good entry of each segment, skipped)
        and `segments`. `feed` (e.g. the watchdog's) is called after each segment.
        """
        j = cls(root, segment_bytes, max_segments, buffer_bytes)
        j._scan(feed)
        return j

    def _scan(self, feed):
        persist.makedirs(self.root)
        segs = []
        for name in os.listdir(self.root):
            if len(name) == 12 and name.endswith(_SEG_SUFFIX) and name[:8].isdigit():
                segs.append(int(name[:8]))
        segs.sort()
        self._segs = segs
        self._ack.load()
        e = self._ebuf
        last_torn = 0
        last_size = 0
        for seg in segs:
            off = 0
            with open(self._path(seg), "rb") as f:
                while True:
                    size = self._read_entry(f, off, e)
                    if size <= 0:
                        break
                    off += size
                    self.entries += 1
                    self.last_boot = e[1] | (e[2] << 8)
                    self.last_seq = e[3] | (e[4] << 8)
                total = os.stat(self._path(seg))[6]
            last_torn = total - off
            last_size = total
            self.torn_bytes += last_torn
            if feed is not None:
                feed()
        while len(self._segs) > self.max_segments:
            self._drop_oldest()
        # append to the newest segment only if it ends with a good entry and has room
        self._new_segment = not segs or last_torn > 0 or last_size >= self.segment_bytes
        if not self._new_segment:
            self._wfile = open(self._path(segs[-1]), "ab")
            self._wsize = last_size

    @property
    def segments(self):
        return len(self._segs)

    def close(self):
        """Flushes and closes the files (a clean shutdown)."""
        self.flush()
        self.cursor.close()
        if self._wfile is not None:
            self._wfile.close()
            self._wfile = None
        self._new_segment = True

    # -- writing ----------------------------------------------------------------------------
    def append(self, boot, seq, frame, length, start=0):
        """Buffers `frame[start:start + length]` tagged (boot, seq); flushes first if the
        buffer is full."""
        if length < 1 or length > MAX_FRAME:
            raise ValueError("frame length 1..64")
        size = length + OVERHEAD
        if self._fill + size > len(self._buf):
            self.flush()
        buf = self._buf
        p = self._fill
        struct.pack_into("<BHH", buf, p, length, boot & 0xFFFF, seq & 0xFFFF)
        q = p + _HEADER
        copy_into(frame, start, buf, q, length)
        struct.pack_into("<H", buf, q + length, crc16(buf, q + length - p, p))
        self._fill = p + size
        self.pending += 1
        self.appended += 1

    def half_full(self):
        """True when the RAM buffer is at least half full (time to flush, before a burst of
        records fills it and append() has to flush inside the caller's tick)."""
        return self._fill * 2 >= len(self._buf)

    def nearly_full(self):
        """True when the RAM buffer is three quarters full: a flush can wait no longer (the
        Gate's flash work waits for an idle channel until then)."""
        return self._fill * 4 >= len(self._buf) * 3

    def rotation_due(self):
        """True when the next flush would start a new segment first (Gate.after_tick then does
        that as a step of its own: closing, deleting the oldest, opening each cost flash)."""
        if self._new_segment:
            return True
        if self._fill:  # the oldest buffered entry does not fit in the newest segment
            return self._wsize + self._buf[0] + OVERHEAD > self.segment_bytes
        return self._wsize >= self.segment_bytes

    def rotate(self):
        """Starts the next segment now (see rotation_due); False if the filesystem failed (the
        next flush tries again and reports what it could not write)."""
        try:
            self._rotate()
        except OSError:
            self.write_errors += 1
            self._new_segment = True
            return False
        return True

    def flush(self, one_segment=False):
        """Writes the buffered entries to flash and syncs; returns the entries written.

        With `one_segment`, it stops where the newest segment is full (one write and sync at
        most, no segment change: `rotate` does that when `rotation_due`): the entries that did
        not fit stay buffered (`pending`, and `urgent`: still due) for the next call, so each
        call's flash work is bounded (Gate.after_tick). If the filesystem fails even after the
        oldest segment made room, the entries not written are counted in `dropped_records` (and
        `write_errors`), never lost silently.
        """
        fill = self._fill
        if not fill:
            return 0
        buf = self._buf
        pos = 0
        written = 0
        rest = 0
        try:
            while pos < fill:
                if self._new_segment or self._wsize >= self.segment_bytes:
                    if one_segment:  # the segment change is the next call's (rotate)
                        self._new_segment = True
                        rest = fill - pos
                        break
                    self._rotate()
                room = self.segment_bytes - self._wsize
                end = pos
                count = 0
                while end < fill and end + buf[end] + OVERHEAD - pos <= room:
                    end += buf[end] + OVERHEAD
                    count += 1
                if end == pos:
                    self._new_segment = True
                    continue
                self._write(pos, end)
                pos = end
                written += count
        except OSError:
            lost = self.pending - written
            self.dropped_records += lost
            self._unreported += lost
        finally:
            if rest:  # the entries left go to the buffer's start (a forward copy: safe)
                copy_into(buf, pos, buf, 0, rest)
                self._fill = rest
                self.pending -= written
                self.urgent = True  # the rest of a flush that was due is due
            else:
                self._fill = 0
                self.pending = 0
                self.urgent = False
            self.flushes += 1
        return written

    def _write(self, start, end):
        """Writes buf[start:end] to the newest segment and syncs it, making room if full."""
        for attempt in range(2):
            f = self._wfile
            if f is None:
                raise OSError(_ENOSPC)
            try:
                if _WRITE_PART:
                    f.write(self._buf, start, end - start)
                else:
                    f.write(self._mv[start:end])
                f.flush()
                self._wsize += end - start
                return
            except OSError as exc:
                self.write_errors += 1
                # the file may hold part of the block now: never append to it again
                self._close_writer()
                if attempt or exc.args[0] != _ENOSPC or len(self._segs) < 2:
                    raise
                self._drop_oldest()
                self._rotate()

    def _close_writer(self):
        self._new_segment = True
        if self._wfile is not None:
            try:
                self._wfile.close()
            except OSError:
                pass
            self._wfile = None

    def _rotate(self):
        """Closes the newest segment and starts the next, deleting the oldest if needed."""
        self._close_writer()
        seg = self._segs[-1] + 1 if self._segs else 1
        while len(self._segs) >= self.max_segments:
            self._drop_oldest()
        self._wfile = open(self._path(seg), "ab")
        self._segs.append(seg)
        self._wsize = 0
        self._new_segment = False

    def _drop_oldest(self):
        seg = self._segs[0]
        path = self._path(seg)
        ack = self._ack.values
        lost = 0
        if not ack[_ACK_VALID] or ack[_ACK_SEG] <= seg:
            start = ack[_ACK_OFF] if ack[_ACK_VALID] and ack[_ACK_SEG] == seg else 0
            try:
                with open(path, "rb") as f:
                    off = start
                    while True:
                        size = self._read_entry(f, off, self._ebuf)
                        if size <= 0:
                            break
                        off += size
                        lost += 1
            except OSError:
                pass
        self.cursor._segment_gone(seg, self._segs[1] if len(self._segs) > 1 else seg + 1)
        os.remove(path)
        self._segs.pop(0)
        self.dropped_records += lost
        self._unreported += lost

    def take_dropped(self):
        """Entries lost to a full ring since the last call (the caller records the loss)."""
        n = self._unreported
        self._unreported = 0
        return n

    # -- reading and acknowledging ----------------------------------------------------------
    def _ack_position(self):
        ack = self._ack.values
        if ack[_ACK_VALID]:
            return ack[_ACK_SEG], ack[_ACK_OFF]
        return 0, 0

    def read_unacknowledged(self):
        """Positions the cursor just after the acknowledged position; returns the cursor."""
        seg, off = self._ack_position()
        self.cursor._start(seg, off, -1, -1)
        return self.cursor

    def read_from(self, boot, seq):
        """Positions the cursor at the first stored entry not before (boot, seq).

        Starts at the acknowledged position when (boot, seq) is not before the acknowledged
        key (the usual resume), else at the oldest entry. Returns the cursor.
        """
        ack = self._ack.values
        if ack[_ACK_VALID] and not key_before(boot, seq, ack[_ACK_BOOT], ack[_ACK_SEQ]):
            seg, off = ack[_ACK_SEG], ack[_ACK_OFF]
        else:
            seg, off = 0, 0
        self.cursor._start(seg, off, boot & 0xFFFF, seq & 0xFFFF)
        return self.cursor

    def acknowledge(self, boot, seq):
        """The host has stored everything up to (boot, seq): persist it; True if it moved.

        Flushes the RAM buffer first. The new position is just after the last entry, going
        forward from the current acknowledged position, that is not after (boot, seq); when
        the cursor delivered (boot, seq) last, its position is used without reading.
        """
        boot &= 0xFFFF
        seq &= 0xFFFF
        self.flush()
        c = self.cursor
        if c.active and c.boot == boot and c.seq == seq:
            seg, off = c.pos_seg, c.pos_off
        else:
            seg, off = self._ack_position()
            seg, off = self._scan_ack(seg, off, boot, seq)
        ack = self._ack.values
        if ack[_ACK_VALID] and (seg, off) <= (ack[_ACK_SEG], ack[_ACK_OFF]):
            return False
        ack[_ACK_SEG] = seg
        ack[_ACK_OFF] = off
        ack[_ACK_BOOT] = boot
        ack[_ACK_SEQ] = seq
        ack[_ACK_VALID] = 1
        self._ack.commit()
        return True

    def _scan_ack(self, seg, off, boot, seq):
        e = self._ebuf
        best_seg, best_off = seg, off
        for s in self._segs:
            if s < seg:
                continue
            start = off if s == seg else 0
            with open(self._path(s), "rb") as f:
                while True:
                    size = self._read_entry(f, start, e)
                    if size <= 0:
                        break
                    if key_before(boot, seq, e[1] | (e[2] << 8), e[3] | (e[4] << 8)):
                        return best_seg, best_off
                    start += size
                    best_seg, best_off = s, start
        return best_seg, best_off

    @property
    def acknowledged(self):
        """(boot, seq) last acknowledged, or None."""
        ack = self._ack.values
        return (ack[_ACK_BOOT], ack[_ACK_SEQ]) if ack[_ACK_VALID] else None
