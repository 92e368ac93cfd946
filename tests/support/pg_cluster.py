"""A throwaway PostgreSQL cluster from an installed server's binaries, for running the
database tests against a PostgreSQL other than the embedded one (docs/DEPLOYMENT.md,
"Supported PostgreSQL"): `TOPSMILE_TEST_PG_BIN=/usr/lib/postgresql/15/bin`.

It stands in for `EmbeddedPostgres`: same `start(database)`, `drop_database`, `release`, and
the same roles, created by the same bootstrap SQL. The app connects over TCP on 127.0.0.1 and
a free port, as it would to any external server.
"""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

from topsmile.core.embedded import APP_ROLE, OWNER_ROLE, EmbeddedPostgres, _check_identifier

# initdb and postgres refuse to run as root: a root test run hands the cluster to this user.
SERVER_USER = "postgres"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ClusterPostgres(EmbeddedPostgres):
    """initdb + pg_ctl from `bin_dir` in `directory`, trust auth, superuser `postgres`."""

    def __init__(self, bin_dir: Path, directory: Path) -> None:
        super().__init__(directory)
        self.bin_dir = bin_dir
        self.port = _free_port()
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            entry = pwd.getpwnam(SERVER_USER)
            self._run_as = {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}
        self._running = False

    def _tool(self, *args: str) -> str:
        done = subprocess.run(
            [str(self.bin_dir / args[0]), *args[1:]],
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=self.directory,
            **self._run_as,
        )
        if done.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def _boot(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._run_as:
            os.chown(self.directory, self._run_as["user"], self._run_as["group"])
        data = self.directory / "data"
        self._tool("initdb", "-D", str(data), "-U", "postgres", "--auth=trust", "-E", "UTF8")
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
        log = self.directory / "server.log"
        self._tool("pg_ctl", "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
        self._running = True

    def psql(self, sql: str) -> str:
        """Run SQL as the cluster's superuser; the output is psql's (`(1 row)` and so on)."""
        done = subprocess.run(
            [
                str(self.bin_dir / "psql"),
                *("-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", "postgres"),
                *("-v", "ON_ERROR_STOP=1", "-c", sql),
            ],
            check=False,
            capture_output=True,
            text=True,
            timeout=60,
        )
        if done.returncode != 0:
            raise RuntimeError(f"psql failed: {done.stderr}")
        return done.stdout

    def version(self) -> str:
        return self.psql("SELECT version();").splitlines()[2].strip()

    def start(self, database: str = "topsmile") -> tuple[str, str]:
        _check_identifier(database)
        if not self._running:
            self._boot()
        self._bootstrap(self, database)
        where = f"127.0.0.1:{self.port}/{database}"
        return f"postgresql://{APP_ROLE}@{where}", f"postgresql://{OWNER_ROLE}@{where}"

    def drop_database(self, database: str) -> None:
        _check_identifier(database)
        if self._running:
            self.psql(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE);')

    def release(self) -> None:
        if self._running:
            self._running = False
            self._tool("pg_ctl", "-D", str(self.directory / "data"), "-m", "fast", "stop")
        shutil.rmtree(self.directory, ignore_errors=True)
