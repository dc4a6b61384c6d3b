"""Servers the fault tests own: a private `redis-server` and a private PostgreSQL 15 cluster,
each on a free loopback port in a temporary directory, that a test stops, kills and restarts on
the same port while the app keeps running against them."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
import redis

from marketplace.bench.live.server import free_port
from tests.operations.waiting import wait_until

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
PG_BIN = Path(os.environ.get("WAYPOST_PG_BIN", "/usr/lib/postgresql/15/bin"))
START_SECONDS = 30.0


# --- Redis ----------------------------------------------------------------------------------------
@dataclass
class RedisServer:
    """`redis-server` without persistence; `stop` and `start` keep the port."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def ping(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def start(self) -> None:
        assert self.process is None, "already running"
        log = (self.directory / "redis.log").open("ab")
        self.process = subprocess.Popen(
            [
                REDIS_SERVER,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--daemonize",
                "no",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        wait_until(self.ping, START_SECONDS, f"redis-server answers on {self.port}", pause=0.05)

    def stop(self, sig: signal.Signals = signal.SIGKILL) -> None:
        """Stop the server with `sig` and wait until it is gone (the port is free again)."""
        assert self.process is not None, "not running"
        self.process.send_signal(sig)
        self.process.wait(timeout=15)
        self.process = None


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    directory = Path(tempfile.mkdtemp(prefix="waypost-redis-"))
    server = RedisServer(port=free_port(), directory=directory)
    server.start()
    try:
        yield server
    finally:
        if server.process is not None:
            server.stop(signal.SIGKILL)
        shutil.rmtree(directory, ignore_errors=True)


# --- PostgreSQL -----------------------------------------------------------------------------------
def _as_postgres(command: list[str]) -> list[str]:
    """initdb and postgres refuse to run as root: run them as the `postgres` user then."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


@dataclass
class PostgresCluster:
    """A throwaway cluster (trust auth, TCP on loopback only) that a test restarts."""

    port: int
    directory: Path
    restarts: list[float] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "postgres.log"

    def url(self, dbname: str) -> str:
        return f"postgis://postgres@127.0.0.1:{self.port}/{dbname}"

    def conninfo(self, dbname: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={dbname}"

    def pg_ctl(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            _as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            cwd="/",
            stdout=subprocess.DEVNULL,
            timeout=timeout,
        )

    def init(self) -> None:
        subprocess.run(
            _as_postgres(
                [
                    str(PG_BIN / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "-E",
                    "UTF8",
                    "--locale=C",
                ]
            ),
            check=True,
            cwd="/",
            stdout=subprocess.DEVNULL,
            timeout=120,
        )
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "\n# the fault tests' throwaway cluster\n"
                "listen_addresses = '127.0.0.1'\n"
                f"port = {self.port}\n"
                "unix_socket_directories = ''\n"
                "max_connections = 50\n"
                "fsync = off\n"
                "synchronous_commit = off\n"
                "full_page_writes = off\n"
            )

    def start(self) -> None:
        self.pg_ctl("-l", str(self.log), "-w", "-t", "60", "start")

    def stop(self) -> None:
        self.pg_ctl("-m", "fast", "-w", "stop")

    def restart(self) -> None:
        """`pg_ctl restart -m fast`: sessions are ended, open transactions rolled back."""
        self.pg_ctl("-m", "fast", "-w", "-t", "60", "-l", str(self.log), "restart")

    def execute(self, dbname: str, sql: str) -> None:
        with psycopg.connect(self.conninfo(dbname), autocommit=True) as conn:
            conn.execute(sql)  # type: ignore[arg-type] (our own fixed statements)


@contextmanager
def postgres_cluster() -> Iterator[PostgresCluster]:
    # Under /var/tmp, not the checkout: the postgres user may not reach the checkout.
    directory = Path(tempfile.mkdtemp(prefix="waypost-pg-", dir="/var/tmp"))
    if os.geteuid() == 0:
        shutil.chown(directory, user="postgres", group="postgres")
    cluster = PostgresCluster(port=free_port(), directory=directory)
    cluster.init()
    cluster.start()
    try:
        yield cluster
    finally:
        with suppress(subprocess.SubprocessError):
            cluster.stop()
        shutil.rmtree(directory, ignore_errors=True)
