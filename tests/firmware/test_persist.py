"""Atomic persistence of counters and settings (persist.py), on both interpreters.

On MicroPython each test gets a fresh littlefs mount; on CPython a temporary directory.
"""

import os

import persist
from config import Config
from flashdev import scratch_dir


def new_persist():
    return persist.Persist(scratch_dir() + "/state")


def reopen(p):
    return persist.Persist(p.root)


def corrupt(path, index):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[index] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def test_load_without_any_file_returns_defaults_and_says_so():
    p = new_persist()
    assert p.load() is False
    assert p.counters.source == persist.SOURCE_DEFAULTS
    assert p.boot_count == 0
    assert p.last_shutdown == persist.SHUTDOWN_UNKNOWN


def test_committed_counters_are_loaded_after_a_restart():
    p = new_persist()
    p.set("people_in_total", 1234)
    p.set("fevers", 7)
    p.commit()
    q = reopen(p)
    assert q.load() is True
    assert q.get("people_in_total") == 1234
    assert q.get("fevers") == 7


def test_boot_increments_the_boot_count_and_persists_it_at_once():
    p = new_persist()
    p.boot()
    p.boot()
    q = reopen(p)
    q.load()
    assert q.boot_count == 2


def test_boot_after_shutdown_reports_a_clean_shutdown():
    p = new_persist()
    p.boot()
    p.shutdown()
    assert reopen(p).boot() == persist.SHUTDOWN_CLEAN


def test_boot_without_shutdown_reports_a_power_cut():
    p = new_persist()
    p.boot()
    p.commit()
    assert reopen(p).boot() == persist.SHUTDOWN_CUT


def test_first_boot_reports_unknown_shutdown():
    assert new_persist().boot() == persist.SHUTDOWN_UNKNOWN


def test_commit_leaves_no_temporary_file():
    p = new_persist()
    p.commit()
    p.commit()
    assert not exists(p.root + "/counters.tmp")
    assert exists(p.root + "/counters")


def test_corrupt_current_file_falls_back_to_the_previous_good_one():
    p = new_persist()
    p.set("people_out", 5)
    p.commit()
    p.set("people_out", 6)
    p.commit()
    corrupt(p.root + "/counters", 10)
    q = reopen(p)
    assert q.load() is True
    assert q.counters.source == persist.SOURCE_BACKUP
    assert q.get("people_out") == 5


def test_both_files_corrupt_gives_defaults_never_garbage():
    p = new_persist()
    p.set("people_out", 5)
    p.commit()
    p.commit()
    corrupt(p.root + "/counters", 9)
    corrupt(p.root + "/counters.bak", 12)
    q = reopen(p)
    assert q.load() is False
    assert q.get("people_out") == 0


def test_truncated_file_is_rejected():
    p = new_persist()
    p.set("fevers", 3)
    p.commit()
    with open(p.root + "/counters", "rb") as f:
        data = f.read()
    with open(p.root + "/counters", "wb") as f:
        f.write(data[:-3])
    assert reopen(p).load() is False


def test_complete_new_file_left_by_a_cut_before_the_rename_is_used():
    p = new_persist()
    p.set("fevers", 1)
    p.commit()
    p.set("fevers", 2)
    p.commit()
    # a cut after the new file was closed and the old one renamed away, before the last rename
    os.rename(p.root + "/counters", p.root + "/counters.tmp")
    os.rename(p.root + "/counters.bak", p.root + "/counters")
    q = reopen(p)
    q.load()
    assert q.counters.source == persist.SOURCE_NEW
    assert q.get("fevers") == 2


def test_store_rejects_a_file_with_another_value_count():
    root = scratch_dir()
    a = persist.Store(root + "/x", 3)
    a.values[0] = 9
    a.commit()
    b = persist.Store(root + "/x", 4, defaults=[1, 2, 3, 4])
    assert b.load() == persist.SOURCE_DEFAULTS
    assert b.values == [1, 2, 3, 4]


def test_store_keeps_negative_and_large_values():
    root = scratch_dir()
    a = persist.Store(root + "/x", 2)
    a.values[0] = -(2**30)
    a.values[1] = 2**30 - 1
    a.commit()
    b = persist.Store(root + "/x", 2)
    b.load()
    assert b.values == [-(2**30), 2**30 - 1]


def test_settings_are_persisted_and_applied():
    p = new_persist()
    c = Config()
    c.set("fever_threshold_cc", 3800)
    p.save_config(c)
    d = Config()
    assert reopen(p).load_config(d) == persist.SOURCE_FILE
    assert d.fever_threshold_cc == 3800


def test_the_ambient_compensation_settings_are_persisted_and_applied():
    p = new_persist()
    c = Config()
    c.set("ambient_comp", 0)
    c.set("ambient_gain_permille", 120)
    c.set("ambient_ref_cc", 2000)
    p.save_config(c)
    d = Config()
    assert reopen(p).load_config(d) == persist.SOURCE_FILE
    assert (d.ambient_comp, d.ambient_gain_permille, d.ambient_ref_cc) == (0, 120, 2000)


def test_settings_without_a_file_stay_at_defaults():
    d = Config()
    assert new_persist().load_config(d) == persist.SOURCE_DEFAULTS
    assert d.fever_threshold_cc == Config().fever_threshold_cc


def test_stored_setting_out_of_range_is_rejected_and_counted():
    p = new_persist()
    c = Config()
    p.save_config(c)
    store = persist.Store(p.root + "/config", 2 * persist.CONFIG_SLOTS)
    store.load()
    store.values[1] = 9999  # slot 0 holds key 1, fever_threshold_cc (3500..4200)
    store.commit()
    d = Config()
    q = reopen(p)
    q.load_config(d)
    assert q.config_rejected == 1
    assert d.fever_threshold_cc == Config().fever_threshold_cc


def test_state_files_are_checked_with_the_one_crc16_of_frame():
    import frame

    assert persist.crc16 is frame.crc16
