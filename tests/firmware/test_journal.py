"""The flash record journal (journal.py): entries, ring, cursor, acknowledgement, recovery.

Runs on both interpreters: on MicroPython each test gets a fresh littlefs mount, on CPython a
temporary directory.
"""

import os

import micropython

import journal
from flashdev import need_littlefs, scratch_dir
from support import raises

FRAME = bytearray(64)


def frame_for(seq, length=15):
    """A recognisable frame: every byte derived from seq."""
    for i in range(length):
        FRAME[i] = (seq * 7 + i + 1) & 0xFF
    return FRAME


def expected(seq, length=15):
    return bytes(frame_for(seq, length)[:length])


def new_journal(**kw):
    return journal.Journal.open(scratch_dir() + "/journal", **kw)


def reopen(j, **kw):
    j.close()
    return journal.Journal.open(j.root, j.segment_bytes, j.max_segments, **kw)


def fill(j, boot, first, count, length=15):
    for seq in range(first, first + count):
        j.append(boot, seq, frame_for(seq, length), length)


def read_all(cursor, limit=100000):
    """(boot, seq, frame) of every frame the cursor gives until it is at its end."""
    out = []
    buf = bytearray(64)
    for _ in range(limit):
        n = cursor.next_into(buf)
        if n:
            assert bytes(buf[:n]) == expected(cursor.seq, n)
            out.append((cursor.boot, cursor.seq))
        elif cursor.at_end:
            return out
    raise AssertionError("cursor never reached its end")


def seg_files(j):
    return sorted(n for n in os.listdir(j.root) if n.endswith(".seg"))


def test_flushed_entries_are_read_back_in_order():
    j = new_journal()
    fill(j, 1, 0, 20)
    j.flush()
    assert read_all(j.read_from(1, 0)) == [(1, s) for s in range(20)]


def test_append_does_not_write_until_flush():
    j = new_journal()
    fill(j, 1, 0, 5)
    assert j.pending == 5
    assert read_all(j.read_from(1, 0)) == []
    assert j.flush() == 5
    assert j.pending == 0


def test_append_buffers_without_allocating():
    j = new_journal(buffer_bytes=1024)
    frame = frame_for(3)
    j.append(1, 0, frame, 15)
    micropython.heap_lock()
    try:
        for seq in range(1, 20):
            j.append(1, seq, frame, 15)
    finally:
        micropython.heap_unlock()
    assert j.pending == 20


def test_full_buffer_flushes_by_itself():
    j = new_journal(buffer_bytes=100)  # room for 4 entries of 22 bytes
    fill(j, 1, 0, 9)
    assert j.flushes == 2
    assert j.pending == 1


def test_entry_overhead_is_seven_bytes():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.flush()
    assert os.stat(j.root + "/" + seg_files(j)[0])[6] == 10 * (15 + journal.OVERHEAD)


def test_frame_length_outside_1_to_64_is_rejected():
    j = new_journal()
    raises(ValueError, j.append, 1, 0, bytearray(65), 65)
    raises(ValueError, j.append, 1, 0, bytearray(1), 0)


def test_frames_of_every_length_round_trip():
    j = new_journal()
    for n in range(1, 65):
        j.append(2, n, frame_for(n, n), n)
    j.flush()
    c = j.read_from(2, 0)
    buf = bytearray(64)
    for n in range(1, 65):
        while True:
            got = c.next_into(buf)
            if got:
                break
        assert got == n and bytes(buf[:n]) == expected(n, n)


def test_open_reports_entries_and_last_key():
    j = new_journal()
    fill(j, 3, 100, 30)
    j.flush()
    k = reopen(j)
    assert k.entries == 30
    assert (k.last_boot, k.last_seq) == (3, 129)
    assert k.torn_bytes == 0


def test_open_of_an_empty_journal_reports_nothing():
    j = new_journal()
    assert j.entries == 0
    assert (j.last_boot, j.last_seq) == (-1, -1)


def test_torn_tail_is_skipped_and_reported():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.flush()
    path = j.root + "/" + seg_files(j)[0]
    j.close()
    with open(path, "ab") as f:
        f.write(b"\x0f\x01\x00\x0a\x00abc")  # a header and part of a frame
    k = journal.Journal.open(j.root, j.segment_bytes, j.max_segments)
    assert k.entries == 10
    assert k.torn_bytes == 8
    assert (k.last_boot, k.last_seq) == (1, 9)
    assert read_all(k.read_from(1, 0)) == [(1, s) for s in range(10)]


def test_entry_with_a_bad_checksum_ends_its_segment():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.flush()
    path = j.root + "/" + seg_files(j)[0]
    j.close()
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[5 * 22 + 8] ^= 0x40  # a frame byte of entry 5
    with open(path, "wb") as f:
        f.write(data)
    k = journal.Journal.open(j.root, j.segment_bytes, j.max_segments)
    assert k.entries == 5
    assert read_all(k.read_from(1, 0)) == [(1, s) for s in range(5)]


def test_appends_after_a_torn_tail_go_to_a_new_segment_and_are_readable():
    j = new_journal()
    fill(j, 1, 0, 3)
    j.flush()
    path = j.root + "/" + seg_files(j)[0]
    j.close()
    with open(path, "ab") as f:
        f.write(b"\x0f\x01")
    k = journal.Journal.open(j.root, j.segment_bytes, j.max_segments)
    fill(k, 2, 0, 3)
    k.flush()
    assert len(seg_files(k)) == 2
    assert read_all(k.read_from(1, 0)) == [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1), (2, 2)]


def test_reopened_clean_journal_appends_to_its_newest_segment():
    j = new_journal()
    fill(j, 1, 0, 3)
    j.flush()
    k = reopen(j)
    fill(k, 2, 0, 3)
    k.flush()
    assert len(seg_files(k)) == 1
    assert len(read_all(k.read_from(1, 0))) == 6


def test_segment_never_exceeds_segment_bytes():
    j = new_journal(segment_bytes=200, max_segments=50)
    fill(j, 1, 0, 40)
    j.flush()
    sizes = [os.stat(j.root + "/" + n)[6] for n in seg_files(j)]
    assert max(sizes) <= 200
    assert sizes[0] == 9 * 22  # 9 whole entries; the 10th goes to the next segment
    assert sum(sizes) == 40 * 22


def test_ring_full_deletes_the_oldest_segment():
    j = new_journal(segment_bytes=220, max_segments=3)  # 10 entries a segment
    fill(j, 1, 0, 30)
    j.flush()
    first = seg_files(j)
    fill(j, 1, 30, 1)
    j.flush()
    now = seg_files(j)
    assert len(now) == 3
    assert now[0] == first[1]


def test_ring_full_counts_the_unacknowledged_entries_it_deleted():
    j = new_journal(segment_bytes=220, max_segments=3)
    fill(j, 1, 0, 31)
    j.flush()
    assert j.dropped_records == 10
    assert j.take_dropped() == 10
    assert j.take_dropped() == 0


def test_ring_full_does_not_count_acknowledged_entries_as_dropped():
    j = new_journal(segment_bytes=220, max_segments=3)
    fill(j, 1, 0, 30)
    j.acknowledge(1, 6)
    fill(j, 1, 30, 1)
    j.flush()
    assert j.dropped_records == 3  # seqs 7, 8, 9 went before the host had them


def test_reading_after_ring_full_starts_at_the_oldest_kept_entry():
    j = new_journal(segment_bytes=220, max_segments=3)
    fill(j, 1, 0, 35)
    j.flush()
    assert read_all(j.read_from(1, 0)) == [(1, s) for s in range(10, 35)]


def test_unacknowledged_reading_after_ring_full_starts_at_the_oldest_kept_entry():
    j = new_journal(segment_bytes=220, max_segments=3)
    fill(j, 1, 0, 10)
    j.acknowledge(1, 4)
    fill(j, 1, 10, 25)
    j.flush()
    assert read_all(j.read_unacknowledged())[0] == (1, 10)


def test_cursor_reads_at_most_max_steps_entries_per_call():
    j = new_journal()
    fill(j, 1, 0, 20)
    j.flush()
    c = j.read_from(1, 15)  # 15 entries to skip
    buf = bytearray(64)
    assert c.next_into(buf, 4) == 0 and not c.at_end
    assert c.next_into(buf, 4) == 0 and not c.at_end
    assert c.next_into(buf, 4) == 0 and not c.at_end
    assert c.next_into(buf, 4) == 15 and c.seq == 15


def test_cursor_returns_one_frame_per_call():
    j = new_journal()
    fill(j, 1, 0, 3)
    j.flush()
    c = j.read_from(1, 0)
    buf = bytearray(64)
    assert c.next_into(buf, 100) == 15 and c.seq == 0
    assert c.next_into(buf, 100) == 15 and c.seq == 1


def test_cursor_at_end_sees_entries_flushed_later():
    j = new_journal()
    fill(j, 1, 0, 3)
    j.flush()
    c = j.read_from(1, 0)
    assert len(read_all(c)) == 3
    fill(j, 1, 3, 2)
    j.flush()
    assert read_all(c) == [(1, 3), (1, 4)]


def test_cursor_follows_entries_into_new_segments():
    j = new_journal(segment_bytes=220, max_segments=10)
    fill(j, 1, 0, 5)
    j.flush()
    c = j.read_from(1, 0)
    assert len(read_all(c)) == 5
    fill(j, 1, 5, 20)
    j.flush()
    assert read_all(c) == [(1, s) for s in range(5, 25)]


def test_read_from_starts_at_the_given_key_across_boots():
    j = new_journal()
    fill(j, 1, 0, 5)
    fill(j, 2, 0, 5)
    j.flush()
    assert read_all(j.read_from(2, 3)) == [(2, 3), (2, 4)]


def test_read_from_handles_seq_wrapping_within_a_boot():
    j = new_journal()
    fill(j, 1, 65533, 3)
    fill(j, 1, 0, 3)  # seq wrapped after 65535
    j.flush()
    assert read_all(j.read_from(1, 65535)) == [(1, 65535), (1, 0), (1, 1), (1, 2)]


def test_read_unacknowledged_resumes_after_the_acknowledged_entry():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.flush()
    assert j.acknowledge(1, 6) is True
    assert read_all(j.read_unacknowledged()) == [(1, 7), (1, 8), (1, 9)]


def test_acknowledge_resumes_across_a_reboot():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.flush()
    c = j.read_from(1, 0)
    buf = bytearray(64)
    for _ in range(4):
        c.next_into(buf)
    j.acknowledge(c.boot, c.seq)
    k = reopen(j)
    assert k.acknowledged == (1, 3)
    assert read_all(k.read_unacknowledged()) == [(1, s) for s in range(4, 10)]


def test_acknowledge_flushes_buffered_entries_first():
    j = new_journal()
    fill(j, 1, 0, 5)
    j.acknowledge(1, 2)
    assert j.pending == 0
    assert read_all(j.read_unacknowledged()) == [(1, 3), (1, 4)]


def test_acknowledge_never_moves_backwards():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.acknowledge(1, 6)
    assert j.acknowledge(1, 2) is False
    assert j.acknowledged == (1, 6)


def test_acknowledging_a_key_beyond_the_journal_acknowledges_everything():
    j = new_journal()
    fill(j, 1, 0, 10)
    j.acknowledge(2, 0)
    assert read_all(j.read_unacknowledged()) == []


def test_key_order_is_modulo_2_to_the_16():
    assert journal.key_before(1, 65535, 1, 0)
    assert not journal.key_before(1, 0, 1, 65535)
    assert journal.key_before(1, 9, 2, 0)
    assert journal.key_before(65535, 5, 0, 1)
    assert not journal.key_before(3, 3, 3, 3)


def test_entries_are_checked_with_the_one_crc16_of_frame():
    import frame

    assert journal.crc16 is frame.crc16


def test_pico_filesystem_holds_a_week_of_a_busy_gate():
    # littlefs of 1408 KiB on a Pico, 5,000 passages and 1,440 status records a day
    assert journal.bytes_per_day(5000) == 5000 * (15 + 7) + 1440 * (45 + 7)
    assert journal.days_on_flash(1408 * 1024, 5000) == 6
    assert journal.days_on_flash(1408 * 1024, 5000, scale=10) == 67


def test_pico_w_filesystem_holds_almost_four_days():
    # the Pico W keeps 848 KiB for littlefs (the CYW43 firmware takes the rest)
    assert journal.days_on_flash(848 * 1024, 5000, scale=10) == 36


def test_days_on_flash_shrinks_as_traffic_grows():
    assert journal.days_on_flash(848 * 1024, 10000) < journal.days_on_flash(848 * 1024, 5000)


def test_full_filesystem_deletes_the_oldest_segment_and_counts_the_loss():
    need_littlefs()
    root = scratch_dir(blocks=12) + "/journal"  # far fewer blocks than 40 segments need
    j = journal.Journal.open(root, segment_bytes=4000, max_segments=40)
    for second in range(300):
        fill(j, 1, second * 10, 10)
        j.flush()
    assert j.write_errors > 0
    assert j.dropped_records > 0
    got = read_all(j.read_from(1, 0))
    assert got[-1] == (1, 2999)  # the newest records were kept
    assert got == [(1, s) for s in range(got[0][1], 3000)]
