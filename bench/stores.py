"""What every benchmark starts from: its own migrated embedded PostgreSQL + Redis."""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

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
