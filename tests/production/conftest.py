"""Process-level tests of the production topology: real worker processes, PostgreSQL, Redis.

They run against a throwaway database on the PostgreSQL at 127.0.0.1:5432 and a redis-server
of their own, so they can kill, cut and restart things without disturbing anyone; they skip
only when PostgreSQL is unreachable or no redis-server binary is installed.
"""
import os
import shutil

import pytest

from tests.services import reachable

from .stack import Database, RedisServer, Stack


def _missing(reason):
    # CI (PARLEY_REQUIRE_SERVICES=1) has the services: there a skip would hide a broken set-up.
    if os.environ.get("PARLEY_REQUIRE_SERVICES") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def _services():
    if not reachable("postgres://127.0.0.1:5432", 5432):
        _missing("PostgreSQL at 127.0.0.1:5432 is not reachable")
    if not shutil.which("redis-server"):
        _missing("redis-server is not installed (these tests run Redis servers of their own)")


@pytest.fixture(scope="session")
def prod_database(_services, tmp_path_factory):
    database = Database()
    database.create()
    try:
        workdir = tmp_path_factory.mktemp("migrate")
        Stack(database, RedisServer(workdir), workdir).manage("migrate", "--noinput")  # Redis not needed
        yield database
    finally:
        database.drop()


@pytest.fixture
def stack(prod_database, tmp_path):
    redis = RedisServer(tmp_path)
    redis.start()
    stack = Stack(prod_database, redis, tmp_path)
    try:
        yield stack
    finally:
        stack.stop_all()
        redis.stop()
        # Shown by pytest only when the test failed.
        for log in sorted(tmp_path.glob("*.log")):
            print(f"===== {log.name}\n{log.read_text()[-6000:]}")
