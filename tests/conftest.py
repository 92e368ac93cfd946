"""Shared fixtures: one embedded PostgreSQL + Redis per test session, a fresh database.

`TOPSMILE_TEST_PG_BIN=<dir with initdb, pg_ctl, postgres, psql>` swaps the embedded PostgreSQL
for a throwaway cluster of that installed server (tests/support/pg_cluster.py).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.pg_cluster import ClusterPostgres
from topsmile.app import create_app, lifespan
from topsmile.config import Settings, load_settings
from topsmile.core import db
from topsmile.core.embedded import EmbeddedStores
from topsmile.core.middleware import EdgeMiddleware
from topsmile.core.migrate import apply_migrations

TEST_DATABASE = "topsmile_test"
PG_BIN_VAR = "TOPSMILE_TEST_PG_BIN"


@pytest.fixture(scope="session")
def postgres_bin() -> Path:
    """The directory of the PostgreSQL binaries the session's server runs from."""
    named = os.environ.get(PG_BIN_VAR, "").strip()
    if named:
        return Path(named)
    warnings.filterwarnings("ignore", module="platformdirs")
    from pgserver._commands import POSTGRES_BIN_PATH

    return Path(POSTGRES_BIN_PATH)


@pytest.fixture(scope="session")
def stores(postgres_bin: Path) -> Iterator[EmbeddedStores]:
    """Embedded servers in a world-traversable temp dir: PostgreSQL runs as its own user."""
    warnings.filterwarnings("ignore", module="platformdirs")
    directory = Path(tempfile.mkdtemp(prefix="topsmile-stores-"))
    directory.chmod(0o755)
    stores = EmbeddedStores(directory)
    if os.environ.get(PG_BIN_VAR, "").strip():
        stores.postgres = ClusterPostgres(postgres_bin, directory / "postgres")
    yield stores
    stores.release()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(stores: EmbeddedStores) -> Settings:
    stores.postgres.start(TEST_DATABASE)
    stores.postgres.drop_database(TEST_DATABASE)
    urls = stores.start(TEST_DATABASE)
    asyncio.run(apply_migrations(urls.database_migration_url))
    # Every test request comes from one client address: per-IP limits get room here, and
    # the tests of those limits build an app with the real defaults.
    roomy = {
        f"TOPSMILE_RATE_{name}_PER_IP": "100000/1h"
        for name in ("LOGIN", "REGISTER", "SIGNUP", "FORGOT", "PUBLIC")
    }
    # Uploaded files go to the session's temp dir, never to the working tree.
    uploads = stores.postgres.directory.parent / "uploads"
    environ = {"TOPSMILE_ENV": "test", "TOPSMILE_STORAGE_DIR": str(uploads), **roomy}
    base = load_settings(environ=environ, dotenv=None)
    return base.with_urls(
        database_url=urls.database_url,
        database_migration_url=urls.database_migration_url,
        redis_url=urls.redis_url,
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[EdgeMiddleware]:
    asgi = create_app(settings, run_relay=False)
    async with lifespan(asgi.app):
        yield asgi


def store_env(settings: Settings) -> dict[str, str]:
    """Environment that points a child process at the test session's stores."""
    assert settings.database_url is not None
    assert settings.database_migration_url is not None
    assert settings.redis_url is not None
    return {
        "TOPSMILE_ENV": "test",
        "DATABASE_URL": settings.database_url,
        "DATABASE_MIGRATION_URL": settings.database_migration_url,
        "REDIS_URL": settings.redis_url,
        "TOPSMILE_STORAGE_DIR": settings.storage_dir,
    }


def client_for(app: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),  # type: ignore[arg-type]
        base_url="http://testserver",
    )


@pytest.fixture(autouse=True)
async def no_leaked_connections() -> AsyncIterator[None]:
    """Every test gives back every pooled connection it took (a leak would exhaust the pool)."""
    yield
    pool = db.DB.pool
    if pool is None:
        return
    for _ in range(50):
        if pool.get_idle_size() == pool.get_size():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"{pool.get_size() - pool.get_idle_size()} pooled connection(s) leaked")


@pytest.fixture
async def client(app: EdgeMiddleware) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as client:
        yield client


@pytest.fixture(scope="session")
def project_root() -> Path:
    return Path(__file__).resolve().parents[1]
