"""What every benchmark starts from: its own migrated embedded PostgreSQL + Redis."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import uvloop

from topsmile.config import Settings, load_settings
from topsmile.core.embedded import EmbeddedStores, EmbeddedUrls
from topsmile.core.migrate import apply_migrations


@asynccontextmanager
async def fresh_stores() -> AsyncIterator[EmbeddedUrls]:
    """Migrated stores in a temp dir (never `./.topsmile/`), stopped and removed after."""
    warnings.filterwarnings("ignore", module="platformdirs")
    directory = Path(tempfile.mkdtemp(prefix="topsmile-bench-"))
    directory.chmod(0o755)  # PostgreSQL runs as its own user
    stores = EmbeddedStores(directory)
    try:
        urls = stores.start("bench")
        await apply_migrations(urls.database_migration_url)
        yield urls
    finally:
        stores.release()
        shutil.rmtree(directory, ignore_errors=True)


def server_env(urls: EmbeddedUrls, **extra: str) -> dict[str, str]:
    """The environment for a `topsmile` child process on these stores."""
    return {
        **os.environ,
        "DATABASE_URL": urls.database_url,
        "REDIS_URL": urls.redis_url,
        "DATABASE_MIGRATION_URL": urls.database_migration_url,
        **extra,
    }


def run_on_fresh_stores(
    measure: Callable[[argparse.Namespace, EmbeddedUrls], Awaitable[object]],
    args: argparse.Namespace,
) -> None:
    """`measure(args, urls)` on one uvloop event loop, against fresh stores (the in-process
    benches: no server, so the loop is the one `topsmile serve` runs on)."""

    async def go() -> None:
        async with fresh_stores() as urls:
            await measure(args, urls)

    uvloop.run(go())
    sys.stdout.flush()


def app_settings(urls: EmbeddedUrls, **env: str) -> Settings:
    """Settings for an app built in the bench's own process, on these stores."""
    return load_settings(environ={"TOPSMILE_ENV": "development", **env}, dotenv=None).with_urls(
        database_url=urls.database_url,
        database_migration_url=urls.database_migration_url,
        redis_url=urls.redis_url,
    )
