"""The `topsmile` command: serve, migrate (more commands arrive with their features)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from urllib.parse import urlsplit

from topsmile.config import ConfigError, Settings, load_settings
from topsmile.core.logging import configure_logging


@contextlib.contextmanager
def resolved_settings() -> Iterator[Settings]:
    """Settings with every URL filled in, starting embedded stores for the missing ones.

    Resolved URLs are exported to the environment so uvicorn's worker processes (and any
    child process) use the very same servers.
    """
    settings = load_settings()
    stores = None
    if settings.uses_embedded_database or settings.uses_embedded_redis:
        warnings.filterwarnings("ignore", module="platformdirs")
        from topsmile.core.embedded import EmbeddedStores

        stores = EmbeddedStores(Path(settings.data_dir))
        urls = stores.start()
        database_url = settings.database_url or urls.database_url
        migration_url = settings.database_migration_url or (
            urls.database_migration_url if settings.uses_embedded_database else database_url
        )
        settings = settings.with_urls(
            database_url=database_url,
            database_migration_url=migration_url,
            redis_url=settings.redis_url or urls.redis_url,
        )
    elif settings.database_migration_url is None:
        assert settings.database_url is not None
        settings = settings.with_urls(
            database_url=settings.database_url,
            database_migration_url=settings.database_url,
            redis_url=settings.redis_url or "",
        )
    assert settings.database_url and settings.database_migration_url and settings.redis_url
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ["DATABASE_MIGRATION_URL"] = settings.database_migration_url
    os.environ["REDIS_URL"] = settings.redis_url
    try:
        yield settings
    finally:
        if stores is not None:
            stores.release()


def _migrate(settings: Settings) -> list[str]:
    from topsmile.core.migrate import apply_migrations

    assert settings.database_migration_url and settings.database_url
    app_role = urlsplit(settings.database_url).username
    return asyncio.run(apply_migrations(settings.database_migration_url, app_role))


def cmd_migrate(_: argparse.Namespace) -> int:
    with resolved_settings() as settings:
        applied = _migrate(settings)
    print(f"migrations applied: {len(applied)}" + "".join(f"\n  {m}" for m in applied))
    return 0


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    with resolved_settings() as settings:
        _migrate(settings)
        url = f"http://{args.host}:{args.port}"
        print(f"TopSmile is running at {url}", flush=True)
        print(f"  API docs:   {url}/schema", flush=True)
        print(f"  health:     {url}/api/health", flush=True)
        # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit
        # lets the embedded stores be released on the way out.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(
            "topsmile.app:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            log_config=None,
            access_log=False,
            proxy_headers=False,
            timeout_graceful_shutdown=10,
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topsmile", description="TopSmile clinic scheduling")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate and serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(handler=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.set_defaults(handler=cmd_migrate)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        code: int = args.handler(args)
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        print(f"topsmile: configuration error: {exc}", file=sys.stderr)
        return 2
    return code
