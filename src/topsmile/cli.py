"""The `topsmile` command: serve, migrate, worker, events (more arrive with their features)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import sys
import warnings
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlsplit

from topsmile.config import ConfigError, Settings, load_settings
from topsmile.core.logging import configure_logging

if TYPE_CHECKING:
    from topsmile.uploads.storage import LocalStorage

T = TypeVar("T")


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


def run_migrations(settings: Settings) -> list[str]:
    from topsmile.core.migrate import MigrationsNotFound, apply_migrations

    assert settings.database_migration_url and settings.database_url
    app_role = urlsplit(settings.database_url).username
    try:
        return asyncio.run(apply_migrations(settings.database_migration_url, app_role))
    except MigrationsNotFound as exc:
        raise SystemExit(f"topsmile: {exc}") from None  # exit 1; `serve` must not start


def cmd_migrate(_: argparse.Namespace) -> int:
    with resolved_settings() as settings:
        applied = run_migrations(settings)
    print(f"migrations applied: {len(applied)}" + "".join(f"\n  {m}" for m in applied))
    return 0


def storage_for(settings: Settings) -> LocalStorage:
    from topsmile.uploads.storage import LocalStorage

    return LocalStorage(Path(settings.storage_dir))


async def _demo_on_empty(settings: Settings) -> bool:
    """Seed the demo clinic on an empty database; True when the demo clinic exists."""
    from topsmile.auth.passwords import Hasher
    from topsmile.demo import seed as demo

    await demo.seed_if_empty(Hasher(), storage_for(settings))
    return await demo.exists()


def cmd_demo(_: argparse.Namespace) -> int:
    from topsmile.auth.passwords import Hasher
    from topsmile.demo import seed as demo

    storage = storage_for(load_settings())
    created = operator_action(lambda: demo.seed(Hasher(), storage=storage))
    if created is None:
        return 1
    print("demo clinic created" if created else "demo clinic already exists")
    print(demo.describe("http://127.0.0.1:8000"))
    return 0


# uvloop + httptools roughly double what one process answers over asyncio + h11 (see
# docs/PERFORMANCE.md "Request path"); bench/request_path.py serves its bare route with these
# same options so the comparison stays fair.
SERVER_OPTIONS: dict[str, Any] = {
    "loop": "uvloop",
    "http": "httptools",
    "log_config": None,
    "access_log": False,
    "proxy_headers": False,
    "timeout_graceful_shutdown": 10,
}


def _exit_on_signal(signum: int, _frame: object) -> None:
    raise SystemExit(0)


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from topsmile.demo import seed as demo

    with resolved_settings() as settings:
        run_migrations(settings)
        has_demo = asyncio.run(
            with_pool(settings, lambda: with_bus(settings, lambda: _demo_on_empty(settings)))
        )
        url = f"http://{args.host}:{args.port}"
        print(f"TopSmile is running at {url}", flush=True)
        print(f"  API docs:   {url}/schema", flush=True)
        print(f"  health:     {url}/api/health", flush=True)
        if has_demo:
            print(demo.describe(url), flush=True)
        # uvicorn re-raises SIGTERM after its graceful shutdown; turning it into SystemExit
        # lets the embedded stores be released on the way out.
        signal.signal(signal.SIGTERM, _exit_on_signal)
        uvicorn.run(
            "topsmile.app:create_served_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            **SERVER_OPTIONS,
        )
    return 0


async def _run_worker(settings: Settings) -> None:
    from topsmile.core import db
    from topsmile.events import bus
    from topsmile.events.relay import Relay, relay_config
    from topsmile.wiring import build_bus

    assert settings.database_url
    config = relay_config(settings)
    await db.open_pool(settings.database_url, max_size=config.connections)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    event_bus = build_bus(settings)
    bus.install(event_bus)
    relay = Relay(event_bus, config)
    relay.start()
    print("TopSmile worker is relaying events (Ctrl-C to stop)", flush=True)
    try:
        await stop.wait()
    finally:
        await relay.stop()
        await db.close_pool()


def cmd_worker(_: argparse.Namespace) -> int:
    with resolved_settings() as settings:
        run_migrations(settings)
        asyncio.run(_run_worker(settings))
    return 0


async def with_pool(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from topsmile.core import db

    assert settings.database_url
    await db.open_pool(settings.database_url, min_size=1, max_size=2)
    try:
        return await work()
    finally:
        await db.close_pool()


def problem_line(exc: Exception) -> str:
    from topsmile.core.errors import AppError

    if isinstance(exc, AppError) and exc.errors:
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(exc)


async def with_bus(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Services publish events; deliveries are recorded for the relay (`serve`, `worker`)."""
    from topsmile.events import bus
    from topsmile.wiring import build_bus

    bus.install(build_bus(settings))
    return await work()


def operator_action(work: Callable[[], Awaitable[T]]) -> T | None:
    """Run `work` on a migrated database; a refused request prints one line and gives None."""
    from topsmile.core.errors import AppError

    with resolved_settings() as settings:
        run_migrations(settings)
        try:
            return asyncio.run(with_pool(settings, lambda: with_bus(settings, work)))
        except AppError as exc:
            print(f"topsmile: {problem_line(exc)}", file=sys.stderr)
            return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="topsmile", description="TopSmile clinic scheduling")
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="migrate and serve the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    serve.set_defaults(run=cmd_serve)

    migrate = commands.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.set_defaults(run=cmd_migrate)

    demo_cmd = commands.add_parser("demo", help="seed the demo clinic (idempotent)")
    demo_cmd.set_defaults(run=cmd_demo)

    worker = commands.add_parser("worker", help="relay events and reminders, without HTTP")
    worker.set_defaults(run=cmd_worker)

    from topsmile import cli_operators  # it imports this module's helpers

    cli_operators.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging()
    try:
        code: int = args.run(args)
    except KeyboardInterrupt:
        return 0
    except ConfigError as exc:
        print(f"topsmile: configuration error: {exc}", file=sys.stderr)
        return 2
    return code
