"""`make deploy`: copy the compiled firmware onto a board, also onto one running the gate.

`python -m host_tools.deploy PORT SRC=DEST ...` (DEST ending in / is a folder), in one mpremote
connection (its Python API):
1. stops whatever runs (Ctrl-C; main.py ends the gate's session cleanly) and soft-resets into
   the raw REPL, where main.py does not run;
2. reads the board's `sys.implementation._mpy` and refuses, in one line and before anything is
   copied, a MicroPython that cannot load the compiled files (another .mpy version; for files
   with native code, another sub-version or architecture);
3. keeps a running gate's watchdog fed: on rp2 a `machine.WDT` cannot be stopped and survives
   a soft reset, so a gate stopped for a deploy would be reset mid-copy. A timer feeding it
   every second (re-armed at the longest rp2 timeout, 8.3 s) runs until the board is reset;
   a board whose watchdog is off is left as it is;
4. hashes the board's copies in one go and writes only the files that differ (the journal,
   counters and settings under /data are never touched); each is written to a temporary name
   and renamed, so an interrupted deploy leaves whole files.
Exit codes: 0 deployed, 1 the board cannot load the files, 3 the port cannot be opened or the
board does not answer, 2 bad arguments.
"""

import argparse
import base64
import hashlib
import os
import sys

EXIT_READY = 0
EXIT_INCOMPATIBLE = 1
EXIT_NO_BOARD = 3

RP2_WATCHDOG_CTRL = 0x40058000
RP2_WATCHDOG_ENABLE = 1 << 30
FEED_PERIOD_MS = 1000
RP2_WDT_MAX_MS = 8300

PROBE = f"""
import sys
_m = getattr(sys.implementation, '_mpy', 0)
_wd = 1
if sys.platform == 'rp2':
    import machine
    _wd = 1 if machine.mem32[{RP2_WATCHDOG_CTRL:#x}] & {RP2_WATCHDOG_ENABLE:#x} else 0
print(_m, _wd, sys.platform, '.'.join(str(v) for v in sys.implementation.version[:3]))
"""

FEEDER = f"""
import machine
_deploy_wdt = machine.WDT(timeout={RP2_WDT_MAX_MS})
_deploy_wdt.feed()
def _deploy_feed(t):
    _deploy_wdt.feed()
try:
    _deploy_timer = machine.Timer(period={FEED_PERIOD_MS}, callback=_deploy_feed, hard=True)
except TypeError:
    _deploy_timer = machine.Timer(period={FEED_PERIOD_MS}, callback=_deploy_feed)
"""


def mpy_header(path):
    """(version, sub_version, arch, small_int_bits) of a compiled .mpy file."""
    with open(path, "rb") as f:
        head = f.read(4)
    if len(head) < 4 or head[0] != ord("M"):
        raise ValueError(f"{path} is not a .mpy file")
    return head[1], head[2] & 3, head[2] >> 2, head[3]


def incompatibility(board_mpy, files):
    """Why a board whose sys.implementation._mpy is `board_mpy` cannot load `files`, or None.

    The rule of MicroPython's persistentcode.c: the .mpy version must match; a file with native
    code must also match the sub-version and the architecture."""
    version = board_mpy & 0xFF
    flags = (board_mpy >> 8) & 0xFF
    sub, arch = flags & 3, flags >> 2
    for path in files:
        f_version, f_sub, f_arch, _ = mpy_header(path)
        if not board_mpy:
            return "it does not say which .mpy files it loads (MicroPython older than 1.19)"
        if f_version != version:
            return f"it loads .mpy version {version}, the compiled files are version {f_version}"
        if f_arch and (f_sub != sub or f_arch != arch):
            return (
                f"{path} has native code for architecture {f_arch} (.mpy {f_version}.{f_sub}), "
                f"the board is architecture {arch} (.mpy {version}.{sub})"
            )
    return None


HASHES = """
import hashlib, binascii
def _deploy_hash(p):
    try:
        h = hashlib.sha256()
        with open(p, 'rb') as f:
            while True:
                b = f.read(1024)
                if not b:
                    break
                h.update(b)
        return binascii.hexlify(h.digest()).decode()
    except OSError:
        return '-'
for _p in %r:
    print(_p, _deploy_hash(_p))
"""
WRITE_CHUNK = 2048


def plan(pairs):
    """[(source, board path)] from SRC=DEST arguments (DEST/ takes the source's name)."""
    out = []
    for pair in pairs:
        src, sep, dest = pair.partition("=")
        if not sep or not src or not dest:
            raise ValueError(f"{pair!r} is not SRC=DEST")
        if dest.endswith("/"):
            dest += os.path.basename(src)
        out.append((src, "/" + dest.lstrip("/")))
    return out


def deploy(port, pairs, transport_class=None, say=print):
    """Returns (exit_code, message)."""
    files = [src for src, _ in pairs]
    mpy_files = [src for src in files if src.endswith(".mpy")]
    if transport_class is None:
        from mpremote.transport_serial import SerialTransport as transport_class
    from mpremote.transport import TransportError

    try:
        transport = transport_class(port, baudrate=115200)
    except Exception as exc:  # mpremote raises its own, pyserial's or an OSError
        return EXIT_NO_BOARD, f"make deploy: cannot open {port}: {exc}"
    try:
        transport.enter_raw_repl(soft_reset=True)
        words = transport.exec(PROBE).decode().split()
        board_mpy, watchdog_on, platform, version = int(words[0]), words[1] == "1", *words[2:4]
        why = incompatibility(board_mpy, mpy_files)
        if why:
            return EXIT_INCOMPATIBLE, (
                f"make deploy: the board's MicroPython {version} ({platform}) cannot load the "
                f"compiled firmware: {why}; flash a matching MicroPython first (nothing copied)"
            )
        if watchdog_on:
            transport.exec(FEEDER)
        copied = _copy(transport, pairs, say)
        transport.exit_raw_repl()
    except (TransportError, OSError, ValueError, IndexError) as exc:
        return EXIT_NO_BOARD, f"make deploy: the board on {port} does not answer: {exc}"
    finally:
        try:
            transport.close()
        except Exception:
            pass
    return EXIT_READY, f"{copied} of {len(pairs)} files written, the others up to date"


def _copy(transport, pairs, say):
    """Writes the files whose board copy differs; returns how many it wrote."""
    folders = sorted({os.path.dirname(dest) for _, dest in pairs} - {"/", ""})
    if folders:
        transport.exec(
            f"import os\nfor d in {folders!r}:\n    try:\n        os.mkdir(d)\n"
            "    except OSError:\n        pass"
        )
    on_board = {}
    for line in transport.exec(HASHES % [dest for _, dest in pairs]).decode().splitlines():
        path, _, digest = line.strip().rpartition(" ")
        on_board[path] = digest
    copied = 0
    for src, dest in pairs:
        with open(src, "rb") as f:
            data = f.read()
        if on_board.get(dest) == hashlib.sha256(data).hexdigest():
            say(f"up to date  {dest}")
            continue
        _write(transport, dest, data)
        say(f"wrote       {dest} ({len(data)} bytes)")
        copied += 1
    return copied


def _write(transport, dest, data):
    """The file in base64 chunks (a literal the board parses about twice as fast as a bytes
    repr), written to a temporary name and renamed: a cut copy never replaces a good file."""
    tmp = dest + ".part"
    transport.exec(f"from binascii import a2b_base64 as _a\n_f = open({tmp!r}, 'wb')")
    for i in range(0, len(data), WRITE_CHUNK):
        chunk = base64.b64encode(data[i : i + WRITE_CHUNK]).decode()
        transport.exec(f"_f.write(_a({chunk!r}))")
    transport.exec(f"_f.close()\nimport os\nos.rename({tmp!r}, {dest!r})")


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m host_tools.deploy")
    parser.add_argument("port")
    parser.add_argument("files", nargs="+", metavar="SRC=DEST")
    args = parser.parse_args(argv)
    try:
        pairs = plan(args.files)
        for src, _ in pairs:
            with open(src, "rb"):
                pass
    except (ValueError, OSError) as exc:
        print(f"make deploy: {exc}")
        return 2
    code, message = deploy(args.port, pairs)
    if message:
        print(message)
    return code


if __name__ == "__main__":
    sys.exit(main())
