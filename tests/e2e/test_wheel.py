"""The built wheel, installed into a fresh venv (as a container image would), migrates an
empty database and serves; without its migrations it refuses to migrate."""

from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from topsmile.config import Settings
from topsmile.core.embedded import EmbeddedStores, EmbeddedUrls
from topsmile.core.migrate import migration_modules
from topsmile.piccolo_conf import APPS

from .test_serve import _free_port, _wait_healthy

DATABASE = "topsmile_wheel"


def _uv(project_root: Path) -> str:
    # `uv run` (dev.py test) names itself in $UV; dev.py installs uv into .tools/ otherwise.
    found = os.environ.get("UV") or shutil.which("uv") or str(project_root / ".tools/bin/uv")
    assert Path(found).exists(), "uv not found"
    return found


def _run(command: list[str | Path], timeout: float, **kwargs: object) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)
    assert done.returncode == 0, f"{command}: {done.stdout}{done.stderr}"
    return str(done.stdout)


@pytest.fixture
def venv(project_root: Path, tmp_path: Path) -> Path:
    """A new venv with only the built wheel (and its dependencies) installed."""
    uv = _uv(project_root)
    _run([uv, "build", "--wheel", "--out-dir", tmp_path / "dist", project_root], 120)
    (wheel,) = (tmp_path / "dist").glob("topsmile-*.whl")
    _run([uv, "venv", "--quiet", "--python", sys.executable, tmp_path / "venv"], 60)
    python = tmp_path / "venv" / "bin" / "python"
    _run([uv, "pip", "install", "--quiet", "--python", python, wheel], 120)
    return tmp_path / "venv"


@pytest.fixture
def fresh_database(stores: EmbeddedStores, settings: Settings) -> Iterator[EmbeddedUrls]:
    """An empty database on the session's PostgreSQL; the session's Redis."""
    stores.postgres.drop_database(DATABASE)
    app_url, owner_url = stores.postgres.start(DATABASE)
    assert settings.redis_url is not None
    yield EmbeddedUrls(app_url, owner_url, settings.redis_url)
    stores.postgres.drop_database(DATABASE)


async def _schema(url: str) -> tuple[set[str], set[tuple[str, str]]]:
    conn = await asyncpg.connect(url)
    try:
        tables = await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ran = await conn.fetch("SELECT app_name, name FROM migration")
    finally:
        await conn.close()
    return {r["tablename"] for r in tables}, {(r["app_name"], r["name"]) for r in ran}


def test_installed_wheel_migrates_and_serves(
    venv: Path, fresh_database: EmbeddedUrls, settings: Settings, tmp_path: Path
) -> None:
    # No PYTHONPATH and a working directory outside the repo: only the installed copy is used.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env |= {
        "TOPSMILE_ENV": "test",
        "DATABASE_URL": fresh_database.database_url,
        "DATABASE_MIGRATION_URL": fresh_database.database_migration_url,
        "REDIS_URL": fresh_database.redis_url,
    }
    where = {"cwd": tmp_path, "env": env}
    package = Path(
        _run(
            [venv / "bin/python", "-c", "import topsmile; print(topsmile.__file__)"], 30, **where
        ).strip()
    ).parent
    assert package.is_relative_to(venv)

    out = _run([venv / "bin/topsmile", "migrate"], 60, **where)
    apps = [importlib.import_module(name).APP_CONFIG for name in APPS]  # the source tree's
    expected = {(app.app_name, str(m.ID)) for app in apps for m in migration_modules(app)}
    assert f"migrations applied: {len(expected)}" in out
    tables, ran = asyncio.run(_schema(fresh_database.database_migration_url))
    assert settings.database_migration_url is not None
    source_tables, _ = asyncio.run(_schema(settings.database_migration_url))
    assert ran == expected
    assert tables == source_tables  # the same schema as migrating from the source tree

    port = _free_port()
    log_path = tmp_path / "serve.log"
    with log_path.open("wb") as log:  # a pipe nobody reads while it runs could block it
        proc = subprocess.Popen(
            [venv / "bin/topsmile", "serve", "--port", str(port)],
            stdout=log,
            stderr=subprocess.STDOUT,
            **where,
        )
        try:
            health = _wait_healthy(
                f"http://127.0.0.1:{port}/api/health", proc, time.monotonic() + 45
            )
            assert health.json()["checks"]["database"]["status"] == "ok"
            assert httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=5).status_code == 200
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    assert proc.returncode == 0, log_path.read_text()

    # A package that lost its migrations says so and fails, instead of "applied: 0".
    shutil.rmtree(package / "migrations")
    broken = subprocess.run(
        [venv / "bin/topsmile", "migrate"], capture_output=True, text=True, timeout=60, **where
    )
    assert broken.returncode == 1
    assert "no migrations found for app 'core'" in broken.stderr
    assert "migrations applied" not in broken.stdout
