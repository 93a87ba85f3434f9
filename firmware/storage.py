"""Storage: what the gate keeps on its flash filesystem, opened once at boot.

`Storage.open(root, fs_bytes)` is the first thing a boot does after the pump is off:
`persist.Persist.boot()` counts the boot, learns how the previous session ended and marks this
one running; then `journal.Journal.open()` scans the record segments and recovers a torn tail.
Layout under `root` (the board's littlefs; "/flash" on the simulated board):

    state/     counters, settings, service values (persist.py, atomic replace)
    journal/   the record journal (journal.py, a ring of segment files)

A part that cannot be opened (OSError: no filesystem, flash worn out) is left None and its
bit set in `failed` (FAILED_COUNTERS, FAILED_JOURNAL): the gate then runs without it and says
so in a FAULT_STORAGE record. The journal ring is sized for `fs_bytes` (journal.segments_for).
"""

from micropython import const

import journal
import persist
from settings_store import SettingsStore

FAILED_COUNTERS = const(1)
FAILED_JOURNAL = const(2)
FAILED_COMMIT = const(4)  # set by the Gate when a later commit fails


class Storage:
    def __init__(self):
        self.persist = None
        self.journal = None
        self.settings = None  # the Commands settings_store over `persist`
        self.last_shutdown = persist.SHUTDOWN_UNKNOWN
        self.boot_count = 0
        self.failed = 0

    @classmethod
    def open(
        cls,
        root,
        fs_bytes=0,
        segment_bytes=journal.DEFAULT_SEGMENT_BYTES,
        max_segments=0,
        feed=None,
    ):
        """Opens the counters and the journal under `root`; never raises OSError."""
        storage = cls()
        try:
            state = persist.Persist(root + "/state")
            storage.last_shutdown = state.boot()
            storage.persist = state
            storage.boot_count = state.boot_count
            storage.settings = SettingsStore(state)
        except OSError:
            storage.failed |= FAILED_COUNTERS
        if not max_segments:
            if fs_bytes:
                max_segments = journal.segments_for(fs_bytes, segment_bytes)
            else:
                max_segments = journal.DEFAULT_MAX_SEGMENTS
        try:
            storage.journal = journal.Journal.open(
                root + "/journal", segment_bytes, max_segments, feed=feed
            )
        except OSError:
            storage.failed |= FAILED_JOURNAL
        return storage

    def close(self):
        """A clean shutdown: the journal flushed and closed, the session marked ended."""
        if self.journal is not None:
            self.journal.close()
        if self.persist is not None:
            self.persist.shutdown()
