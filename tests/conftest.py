"""Puts firmware/, boards/ and the dual-interpreter test helpers on sys.path for CPython."""

import sys
from pathlib import Path

from host_tools import compat

compat.install()
FIRMWARE_TESTS = Path(__file__).resolve().parent / "firmware"
if str(FIRMWARE_TESTS) not in sys.path:
    sys.path.insert(0, str(FIRMWARE_TESTS))


# -- the site's real parts (host_tools/siteparts.py): one PostgreSQL server and one Mosquitto
# broker for the whole run, started on free loopback ports in temporary folders, stopped at the
# end. Each test gets a database of its own (`pg_url`).

import itertools  # noqa: E402

import pytest  # noqa: E402

_databases = itertools.count(1)


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory):
    from host_tools.siteparts import LocalPostgres

    server = LocalPostgres(tmp_path_factory.mktemp("postgres"))
    server.start()
    yield server
    server.remove()


@pytest.fixture
def pg_url(pg_server):
    """A fresh, empty database on the test PostgreSQL server."""
    import psycopg

    name = f"t{next(_databases)}"
    admin = f"postgresql://postgres@127.0.0.1:{pg_server.port}/postgres"
    with psycopg.connect(admin, autocommit=True) as db:
        db.execute(f"DROP DATABASE IF EXISTS {name}")
        db.execute(f"CREATE DATABASE {name}")
    return f"postgresql://postgres@127.0.0.1:{pg_server.port}/{name}"


@pytest.fixture(scope="session")
def mqtt_broker(tmp_path_factory):
    """A Mosquitto broker, anonymous access off, users `bridge` and `ingest`."""
    from host_tools.siteparts import LocalMosquitto

    broker = LocalMosquitto(tmp_path_factory.mktemp("mosquitto"))
    broker.start()
    yield broker
    broker.stop()
