"""The connection pool (DATABASE_POOL) after PostgreSQL dropped every idle connection, as a
restart does: the next connection asked for is a working one, well within the pool's timeout."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import connection

from marketplace.core.database.base import DatabaseWrapper

pytestmark = pytest.mark.django_db

IDLE = 6
TIMEOUT = 3.0  # upstream's back-off after failed checks (1 s, 2 s, ...) outlasts this with 6


@pytest.fixture
def pooled() -> Iterator[DatabaseWrapper]:
    settings = {
        **connection.settings_dict,
        "CONN_MAX_AGE": 0,
        "OPTIONS": {"pool": {"min_size": IDLE, "max_size": IDLE, "timeout": TIMEOUT}},
    }
    wrapper = DatabaseWrapper(settings, alias="pool-under-test")
    try:
        yield wrapper
    finally:
        wrapper.close_pool()


def _terminate(pids: list[int]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(pg_terminate_backend(pid)) FROM unnest(%s) AS pid", [pids])
        assert cursor.fetchone() == (len(pids),)


def test_a_pool_whose_idle_connections_all_died_hands_out_a_working_one(pooled):
    # given a pool holding IDLE connections, every one of them then terminated by the server
    pool = pooled.pool
    pool.open(wait=True)
    held = [pool.getconn() for _ in range(IDLE)]
    pids = [conn.info.backend_pid for conn in held]
    for conn in held:
        pool.putconn(conn)
    _terminate(pids)

    # when a connection is asked for
    conn = pool.getconn()

    # then it is a new, working one, and every dead one was dropped
    try:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.info.backend_pid not in pids
    finally:
        pool.putconn(conn)
    assert pool.get_stats()["connections_lost"] == IDLE
