"""Atomic persistence of the gate's counters and settings on the board's filesystem.

Every persisted item is a small table of integers in one file, replaced atomically:

1. write the new contents to `name.tmp` and close it (littlefs commits a file at close),
2. `os.rename(name, name.bak)`, 3. `os.rename(name.tmp, name)`.

littlefs renames atomically, so at any power cut at least one of `name`, `name.bak` (the
previous good contents) or a complete `name.tmp` is intact. File format, little-endian:

    u16 magic 0x4746 ("FG")   u8 format 1   u8 count n   u32 generation
    n x i32 values            u16 CRC-16/CCITT-FALSE (frame.crc16) of all before

`Store.load()` reads the three candidates and keeps the valid one (magic, format, count, CRC)
with the highest generation; when none is valid it keeps the defaults and says so
(`source == SOURCE_DEFAULTS`). It never returns a half-written or corrupt file.

`Persist` holds the counters (boot count, clean-shutdown marker, people in today and in total,
people out, fevers, remeasures) and the settings (by key id, checked by `Config.set`).
`Persist.boot()` is the first thing a boot does: it loads, counts the boot, marks the session
"running" and commits before anything else; `shutdown()` marks a clean end. A boot that finds
the "running" marker knows the previous session ended in a power cut or a crash.

Commits allocate a little (file objects, paths): they are made every few seconds at most,
never on the per-tick path.
"""

import os
import struct

from micropython import const

from frame import crc16

_MAGIC = const(0x4746)
_FORMAT = const(1)
_HEAD = const(8)  # magic, format, count, generation
_GEN_MASK = const(0x3FFFFFFF)
CONFIG_SLOTS = const(48)  # (key id, value) pairs in the settings file; key 0 = unused slot

SOURCE_DEFAULTS = const(0)  # nothing valid was found: the values are the defaults
SOURCE_FILE = const(1)  # the current file
SOURCE_NEW = const(2)  # a complete name.tmp newer than the file (cut before the rename)
SOURCE_BACKUP = const(3)  # the previous good file (the current one was missing or corrupt)

SHUTDOWN_UNKNOWN = const(0)  # no valid counters were found (first boot or all lost)
SHUTDOWN_CLEAN = const(1)  # the previous session called shutdown()
SHUTDOWN_CUT = const(2)  # the previous session was running: power cut, crash or reset

# The counters file, in this order (indices into Persist.values).
COUNTERS = (
    "boot_count",
    "running",
    "people_in_today",
    "people_in_total",
    "people_out",
    "fevers",
    "remeasures",
    "day",  # days since 1970 that people_in_today counts (0: no time sync yet)
)
_BOOT_COUNT = const(0)
_RUNNING = const(1)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass


def makedirs(path):
    """Creates `path` and its parents where missing (littlefs has no makedirs)."""
    part = ""
    for name in path.split("/"):
        if not name:
            continue
        part += "/" + name if (part or path.startswith("/")) else name
        try:
            os.mkdir(part)
        except OSError:
            pass


class Store:
    """A table of `count` integers (each within +-2**30) in one atomically replaced file."""

    def __init__(self, path, count, defaults=None):
        if count > 255:
            raise ValueError("at most 255 values")
        self.path = path
        self.count = count
        self.values = [0] * count
        self.defaults = defaults
        self.generation = 0
        self.source = SOURCE_DEFAULTS
        self._buf = bytearray(_HEAD + 4 * count + 2)
        self._check = bytearray(len(self._buf))

    def _valid(self, buf, n):
        if n != len(buf):
            return False
        magic, fmt, count = struct.unpack_from("<HBB", buf, 0)
        if magic != _MAGIC or fmt != _FORMAT or count != self.count:
            return False
        return struct.unpack_from("<H", buf, n - 2)[0] == crc16(buf, n - 2, 0)

    def _read(self, path):
        """The generation in `path` (its values left in self._check), or -1 if not valid."""
        try:
            with open(path, "rb") as f:
                n = f.readinto(self._check)
                if n == len(self._check) and f.readinto(bytearray(1)):
                    return -1  # longer than a valid file
        except OSError:
            return -1
        if not self._valid(self._check, n or 0):
            return -1
        return struct.unpack_from("<I", self._check, 4)[0]

    def load(self):
        """Loads the newest valid candidate; returns and sets `source` (SOURCE_*)."""
        best = -1
        source = SOURCE_DEFAULTS
        for path, kind in (
            (self.path, SOURCE_FILE),
            (self.path + ".tmp", SOURCE_NEW),
            (self.path + ".bak", SOURCE_BACKUP),
        ):
            generation = self._read(path)
            if generation > best:
                best = generation
                source = kind
                self._buf[:] = self._check
        self.source = source
        if best < 0:
            self.generation = 0
            for i in range(self.count):
                self.values[i] = self.defaults[i] if self.defaults else 0
            return source
        self.generation = best
        for i in range(self.count):
            self.values[i] = struct.unpack_from("<i", self._buf, _HEAD + 4 * i)[0]
        return source

    def commit(self):
        """Writes `values` atomically (tmp, close, rename); returns the new generation."""
        generation = (self.generation + 1) & _GEN_MASK
        buf = self._buf
        struct.pack_into("<HBBI", buf, 0, _MAGIC, _FORMAT, self.count, generation)
        for i in range(self.count):
            struct.pack_into("<i", buf, _HEAD + 4 * i, self.values[i])
        n = len(buf)
        struct.pack_into("<H", buf, n - 2, crc16(buf, n - 2, 0))
        tmp = self.path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(buf)
        if _exists(self.path):
            os.rename(self.path, self.path + ".bak")
        os.rename(tmp, self.path)
        self.generation = generation
        self.source = SOURCE_FILE
        return generation

    def erase(self):
        """Removes every file of this store (factory reset)."""
        for suffix in ("", ".tmp", ".bak"):
            _remove(self.path + suffix)


class Persist:
    """The gate's persisted counters and settings under `root` (default /state)."""

    def __init__(self, root="/state"):
        self.root = root
        makedirs(root)
        self.counters = Store(root + "/counters", len(COUNTERS))
        self.values = self.counters.values
        self.last_shutdown = SHUTDOWN_UNKNOWN
        self.loaded = False
        self.config_rejected = 0

    # counters by name, for callers that prefer attributes
    def get(self, name):
        return self.values[COUNTERS.index(name)]

    def set(self, name, value):
        self.values[COUNTERS.index(name)] = value

    @property
    def boot_count(self):
        return self.values[_BOOT_COUNT]

    def load(self):
        """Loads the counters; True if a valid file was found, False if they are the defaults.

        Sets `last_shutdown` from the marker (SHUTDOWN_CLEAN, SHUTDOWN_CUT, or
        SHUTDOWN_UNKNOWN when nothing valid exists).
        """
        source = self.counters.load()
        self.loaded = source != SOURCE_DEFAULTS
        if not self.loaded:
            self.last_shutdown = SHUTDOWN_UNKNOWN
        elif self.values[_RUNNING]:
            self.last_shutdown = SHUTDOWN_CUT
        else:
            self.last_shutdown = SHUTDOWN_CLEAN
        return self.loaded

    def boot(self):
        """Loads, counts this boot, marks the session running and commits: call it first.

        Returns `last_shutdown` (how the previous session ended).
        """
        self.load()
        self.values[_BOOT_COUNT] = (self.values[_BOOT_COUNT] + 1) & _GEN_MASK
        self.values[_RUNNING] = 1
        self.counters.commit()
        return self.last_shutdown

    def commit(self):
        """Persists the counters as they are now (atomically)."""
        return self.counters.commit()

    def shutdown(self):
        """Marks a clean end of the session (before a deliberate reset or power-off)."""
        self.values[_RUNNING] = 0
        return self.counters.commit()

    # settings: stored as CONFIG_SLOTS (key id, value) pairs, so a firmware with more or fewer
    # settings still reads the ones it knows
    def save_config(self, config):
        """Persists every setting of `config` (a config.Config) atomically."""
        import config as config_module

        rows = config_module.SETTINGS
        if len(rows) > CONFIG_SLOTS:
            raise ValueError("more settings than CONFIG_SLOTS")
        store = Store(self.root + "/config", 2 * CONFIG_SLOTS)
        store.load()
        for i in range(CONFIG_SLOTS):
            row = rows[i] if i < len(rows) else None
            store.values[2 * i] = row[0] if row else 0
            store.values[2 * i + 1] = getattr(config, row[1]) if row else 0
        return store.commit()

    def load_config(self, config):
        """Applies the persisted settings to `config` through `config.set` (range checked).

        Returns the source (SOURCE_*); a stored value `config.set` rejects is skipped and
        counted in `config_rejected`, keeping that setting's current value.
        """
        import config as config_module

        store = Store(self.root + "/config", 2 * CONFIG_SLOTS)
        source = store.load()
        self.config_rejected = 0
        if source == SOURCE_DEFAULTS:
            return source
        for i in range(CONFIG_SLOTS):
            if store.values[2 * i] == 0:
                continue
            try:
                row = config_module.setting_by_key(store.values[2 * i])
                config.set(row[1], store.values[2 * i + 1])
            except ValueError:
                self.config_rejected += 1
        return source
