"""GeoDjango's PostGIS backend, with a connection pool that gets over a restarted PostgreSQL.

psycopg_pool checks a connection before handing it out (Django passes CONN_HEALTH_CHECKS on as
the pool's `check`), and after each failed check it backs off (1 s, 2 s, 4 s, ...) before trying
the next idle connection. When PostgreSQL restarts, every idle connection is dead at once: with
ten of them the first request after the restart waited past the pool's timeout and failed. Here
the first failed check sends the pool through `ConnectionPool.check()`, which drops every dead
idle connection and opens new ones, so that request waits one back-off (about a second)."""

from __future__ import annotations

from typing import Any

from django.contrib.gis.db.backends.postgis import base
from django.core.exceptions import ImproperlyConfigured
from django.db.backends.base.base import NO_DB_ALIAS
from psycopg import Connection
from psycopg_pool import ConnectionPool


class DatabaseWrapper(base.DatabaseWrapper):
    @property
    def pool(self) -> ConnectionPool | None:
        options = self.settings_dict["OPTIONS"].get("pool")
        if self.alias == NO_DB_ALIAS or not options:
            return None
        # (upstream's class-wide pools, one per alias; django-stubs do not declare them)
        pools: dict[str, ConnectionPool] = self._connection_pools  # type: ignore[attr-defined]
        if self.alias not in pools:
            if self.settings_dict.get("CONN_MAX_AGE", 0) != 0:
                raise ImproperlyConfigured("Pooling doesn't support persistent connections.")
            kwargs = self.get_connection_params()
            kwargs["autocommit"] = True  # Django sets it as it needs later on (as upstream)

            def check_or_purge(conn: Connection[Any]) -> None:
                try:
                    ConnectionPool.check_connection(conn)
                except Exception:
                    # One dead connection: the others idle in the pool most likely died with it.
                    pool.check()
                    raise

            checks = self.settings_dict["CONN_HEALTH_CHECKS"]
            pool = ConnectionPool(
                kwargs=kwargs,
                open=False,  # opened by the first connection (as upstream)
                configure=self._configure_connection,  # type: ignore[attr-defined]
                check=check_or_purge if checks else None,
                **({} if options is True else options),
            )
            pools.setdefault(self.alias, pool)  # the first thread's pool wins (as upstream)
        return pools[self.alias]
