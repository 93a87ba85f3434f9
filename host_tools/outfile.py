"""Output files written whole or not at all (`export -o`, `report --png`).

`write_whole(path, fill, inputs=())` refuses an output that is one of the command's input files
(EXIT_USAGE: `export --db gate.db -o gate.db` must never touch the database), writes through
`fill(stream)` into a temporary file beside `path` and renames it over `path` only when it is
complete: a full disk, a missing folder or Ctrl-C leave no partial file and the old `path`, if
any, untouched. A `path` that exists and is not a regular file (/dev/stdout, a FIFO, /dev/full)
is written directly, as there is nothing to rename over. Any OSError is EXIT_FILE with one line.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile

from host_tools.errors import EXIT_FILE, EXIT_USAGE, FevergateError

__all__ = ["write_whole", "refuse_inputs"]


def _open(fd: int, binary: bool):
    """The stream over the temporary file's descriptor (tests wrap it to fill the disk)."""
    if binary:
        return os.fdopen(fd, "wb")
    return os.fdopen(fd, "w", newline="", encoding="utf-8")


def refuse_inputs(path: str, inputs) -> None:
    """EXIT_USAGE when `path` is one of the files the command reads."""
    for name in inputs:
        if name is None or not os.path.exists(path) or not os.path.exists(name):
            continue
        if os.path.samefile(path, name):
            raise FevergateError(
                f"{path} is the database being read: give another output file "
                "(nothing was written)",
                EXIT_USAGE,
            )


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _failed(path: str, exc: OSError) -> FevergateError:
    reason = exc.strerror or str(exc)
    return FevergateError(f"{path}: cannot write ({reason}); nothing written", EXIT_FILE)


def write_whole(path: str, fill, inputs=(), binary: bool = False):
    """Run `fill(stream)` into `path` atomically; returns what `fill` returned."""
    refuse_inputs(path, inputs)
    if os.path.exists(path) and not stat.S_ISREG(os.stat(path).st_mode):
        if os.path.isdir(path):
            raise FevergateError(f"{path} is a folder: give a file name", EXIT_USAGE)
        try:
            with open(path, "wb" if binary else "w", encoding=None if binary else "utf-8") as out:
                return fill(out)
        except OSError as exc:
            raise _failed(path, exc) from None
    folder = os.path.dirname(os.path.abspath(path))
    try:
        fd, temp = tempfile.mkstemp(
            prefix=f".{os.path.basename(path)}.", suffix=".part", dir=folder
        )
    except OSError as exc:
        raise _failed(path, exc) from None
    try:
        with _open(fd, binary) as out:
            result = fill(out)
        os.chmod(temp, 0o666 & ~_umask())
        os.replace(temp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise _failed(path, exc) from None
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    return result
