"""Power cuts at every flash write of a busy minute: nothing committed is ever lost.

A busy minute (journal appends, flushes, counter commits, acknowledgements, a full ring) runs
on a simulated flash (flashdev.FlashDevice under os.VfsLfs2). A clean run counts its flash
writes W; then for every N in 1..W the same minute runs on a fresh copy of the flash with the
power cut at the N-th write (torn in half), and the next boot (a new mount of the same bytes,
Persist.boot, Journal.open) must find: a filesystem that mounts, the last committed counters
(or the ones being committed at the cut), every flushed record readable in order, the
acknowledged position, and a boot that says the power was cut; a whole Gate booting on that
flash says RESET_POWER_CUT in its BOOT record.

littlefs only: skipped on CPython (no os.VfsLfs2), run on MicroPython by
tests/test_on_micropython.py.
"""

import journal
import persist
import protocol
from fakes_board import FakeBoard
from flashdev import FlashDevice, PowerCut, format_device, mount, need_littlefs, unmount
from frame import cobs_decode_in_place
from gate import Gate
from storage import Storage

BLOCKS = 24
SEGMENT_BYTES = 300  # 13 passage entries: the minute fills the ring and deletes segments
MAX_SEGMENTS = 4
PASSAGE = 15
STATUS = 27
FRAME = bytearray(64)
_clean = []


def frame_for(seq, length):
    for i in range(length):
        FRAME[i] = (seq * 11 + i + 3) & 0xFF
    return FRAME


class Track:
    """What the minute had committed (and was committing) when the power went."""

    def __init__(self):
        self.appended = []  # (boot, seq, length) in append order
        self.flushed = 0  # entries of `appended` that a completed flush() wrote
        self.counters = None  # counter values after the last completed commit
        self.counters_attempt = None  # values of a commit in progress
        self.booted = False  # the boot's own commit completed
        self.ack = None  # key of the last completed acknowledge()
        self.ack_attempt = None
        self.dropped = 0


def open_journal(point):
    return journal.Journal.open(point + "/journal", SEGMENT_BYTES, MAX_SEGMENTS, buffer_bytes=256)


def clean_flash():
    """A formatted flash after one clean session (so the minute starts from a known state)."""
    if not _clean:
        dev = FlashDevice(BLOCKS)
        format_device(dev)
        point = mount(dev)
        p = persist.Persist(point + "/state")
        p.boot()
        p.shutdown()
        open_journal(point).close()
        unmount(point)
        _clean.append(dev)
    return _clean[0].clone()


def busy_minute(dev, t):
    point = mount(dev)
    j = None
    try:
        p = persist.Persist(point + "/state")
        t.counters = list(p.counters.values) if p.load() else None
        attempt = list(p.values)
        attempt[0] += 1
        attempt[1] = 1
        t.counters_attempt = attempt
        p.boot()
        t.booted = True
        t.counters = list(p.values)
        boot = p.boot_count
        j = open_journal(point)
        seq = 0
        for second in range(60):
            for _ in range(2):  # two passages a second
                j.append(boot, seq, frame_for(seq, PASSAGE), PASSAGE)
                t.appended.append((boot & 0xFFFF, seq, PASSAGE))
                p.values[3] += 1
                seq += 1
            if second % 10 == 9:  # a status record every 10 s
                j.append(boot, seq, frame_for(seq, STATUS), STATUS)
                t.appended.append((boot & 0xFFFF, seq, STATUS))
                seq += 1
            if second % 2 == 1:  # flush every 2 s
                j.flush()
                t.flushed = len(t.appended)
            if second % 10 == 9:  # commit the counters every 10 s
                t.counters_attempt = list(p.values)
                p.commit()
                t.counters = list(p.values)
            if second in (29, 49):  # the host acknowledges most of what it has
                key = t.appended[t.flushed - 30][:2]
                t.ack_attempt = key
                j.acknowledge(key[0], key[1])
                t.ack = key
                t.flushed = len(t.appended)  # acknowledge() flushes first
        t.dropped = j.dropped_records
    finally:
        if j is not None:  # close its files now rather than in a finaliser during a later GC
            try:
                j.close()
            except OSError:  # the power is off: littlefs cannot write any more
                pass
        unmount(point)


def read_everything(j, cursor):
    out = []
    buf = bytearray(64)
    for _ in range(10000):
        n = cursor.next_into(buf)
        if n:
            assert bytes(buf[:n]) == bytes(frame_for(cursor.seq, n)[:n]), "frame damaged"
            out.append((cursor.boot, cursor.seq, n))
        elif cursor.at_end:
            return out
    raise AssertionError("cursor never reached its end")


def check_after_cut(dev, t, n):
    point = mount(dev)  # must not raise: the filesystem survives every cut
    try:
        p = persist.Persist(point + "/state")
        p.load()
        loaded = list(p.values)
        shutdown = p.last_shutdown
        assert loaded in (t.counters, t.counters_attempt), "cut %d: counters %r" % (n, loaded)
        if t.booted:
            assert shutdown == persist.SHUTDOWN_CUT, "cut %d: boot did not see the cut" % n
        j = open_journal(point)
        got = read_everything(j, j.read_from(0, 0))
        # a contiguous, in-order run of what was appended, ending at or after the last flush
        if got:
            start = t.appended.index(got[0])
            assert got == t.appended[start : start + len(got)], "cut %d: order" % n
            assert start + len(got) >= t.flushed, "cut %d: flushed records lost" % n
            # the ring keeps at least its full segments but the two at its ends
            floor = (MAX_SEGMENTS - 2) * (SEGMENT_BYTES // (STATUS + journal.OVERHEAD))
            assert len(got) >= min(t.flushed, floor), "cut %d: ring lost too much" % n
        else:
            assert t.flushed == 0, "cut %d: nothing readable" % n
        acked = j.acknowledged
        assert acked in (t.ack, t.ack_attempt), "cut %d: ack %r" % (n, acked)
        rest = read_everything(j, j.read_unacknowledged())
        keys = [entry[:2] for entry in got]
        if acked is not None and acked in keys:
            assert rest == got[keys.index(acked) + 1 :], "cut %d: resumes after the ack" % n
        else:
            assert rest == got, "cut %d: resumes at the oldest kept entry" % n
        j.close()
    finally:
        unmount(point)


def clean_run():
    dev = clean_flash()
    t = Track()
    start = dev.writes
    busy_minute(dev, t)
    return dev, t, dev.writes - start


def test_busy_minute_without_a_cut_keeps_everything_readable():
    need_littlefs()
    dev, t, writes = clean_run()
    assert t.dropped > 0  # the minute really filled the ring
    check_after_cut(dev.clone(), t, 0)


def test_busy_minute_is_a_few_hundred_flash_writes():
    need_littlefs()
    writes = clean_run()[2]
    assert 100 <= writes <= 1000, writes


def test_power_cut_at_every_write_of_a_busy_minute_loses_nothing_committed():
    need_littlefs()
    writes = clean_run()[2]
    for n in range(1, writes + 1):
        dev = clean_flash()
        dev.cut_after(n, tear=True)
        t = Track()
        try:
            busy_minute(dev, t)
        except PowerCut:
            pass
        assert dev.dead, "cut %d never happened" % n
        check_after_cut(dev.clone(), t, n)


def test_power_cut_between_writes_loses_nothing_committed():
    need_littlefs()
    writes = clean_run()[2]
    for n in range(1, writes + 1, 5):  # the cut write is lost whole instead of torn
        dev = clean_flash()
        dev.cut_after(n, tear=False)
        t = Track()
        try:
            busy_minute(dev, t)
        except PowerCut:
            pass
        check_after_cut(dev.clone(), t, n)


def boot_a_gate(dev):
    """Boot the whole gate on the flash as found: its BOOT record's reset cause and the
    storage failures it reports (0: none)."""
    point = mount(dev)
    try:
        storage = Storage.open(point, segment_bytes=SEGMENT_BYTES, max_segments=MAX_SEGMENTS)
        board = FakeBoard()
        Gate(board, storage=storage).step(board.now)
        frame = bytearray(board.uart.data[: board.uart.data.index(0)])
        cobs_decode_in_place(frame, len(frame))
        assert frame[0] & 0x1F == protocol.BOOT
        return frame[7], storage.failed
    finally:
        unmount(point)


def test_a_gate_booting_after_a_cut_at_any_write_says_power_cut_in_its_boot_record():
    need_littlefs()
    writes = clean_run()[2]
    for n in range(1, writes + 1, 7):
        dev = clean_flash()
        dev.cut_after(n, tear=True)
        t = Track()
        try:
            busy_minute(dev, t)
        except PowerCut:
            pass
        if not t.booted:
            continue  # the cut came before the minute's own boot was on flash
        assert boot_a_gate(dev.clone()) == (protocol.RESET_POWER_CUT, 0), "cut %d" % n


def test_a_gate_booting_after_a_clean_shutdown_says_power_on():
    need_littlefs()
    dev = clean_flash()  # one clean session: booted and shut down
    assert boot_a_gate(dev.clone()) == (protocol.RESET_POWER_ON, 0)
