"""The `topsmile` command: serve, migrate, worker, events (more arrive with their features)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import re
import signal
import sys
import uuid
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


def _migrate(settings: Settings) -> list[str]:
    from topsmile.core.migrate import MigrationsNotFound, apply_migrations

    assert settings.database_migration_url and settings.database_url
    app_role = urlsplit(settings.database_url).username
    try:
        return asyncio.run(apply_migrations(settings.database_migration_url, app_role))
    except MigrationsNotFound as exc:
        raise SystemExit(f"topsmile: {exc}") from None  # exit 1; `serve` must not start


def cmd_migrate(_: argparse.Namespace) -> int:
    with resolved_settings() as settings:
        applied = _migrate(settings)
    print(f"migrations applied: {len(applied)}" + "".join(f"\n  {m}" for m in applied))
    return 0


def _storage(settings: Settings) -> LocalStorage:
    from topsmile.uploads.storage import LocalStorage

    return LocalStorage(Path(settings.storage_dir))


async def _demo_on_empty(settings: Settings) -> bool:
    """Seed the demo clinic on an empty database; True when the demo clinic exists."""
    from topsmile.auth.passwords import Hasher
    from topsmile.demo import seed as demo

    await demo.seed_if_empty(Hasher(), _storage(settings))
    return await demo.exists()


def cmd_demo(_: argparse.Namespace) -> int:
    from topsmile.auth.passwords import Hasher
    from topsmile.demo import seed as demo

    storage = _storage(load_settings())
    created = _operator_action(lambda: demo.seed(Hasher(), storage=storage))
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
        _migrate(settings)
        has_demo = asyncio.run(
            _with_pool(settings, lambda: _with_bus(settings, lambda: _demo_on_empty(settings)))
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
            "topsmile.app:create_app",
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
    await db.open_pool(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    event_bus = build_bus(settings)
    bus.install(event_bus)
    relay = Relay(event_bus, relay_config(settings))
    relay.start()
    print("TopSmile worker is relaying events (Ctrl-C to stop)", flush=True)
    try:
        await stop.wait()
    finally:
        await relay.stop()
        await db.close_pool()


def cmd_worker(_: argparse.Namespace) -> int:
    with resolved_settings() as settings:
        _migrate(settings)
        asyncio.run(_run_worker(settings))
    return 0


async def _with_pool(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    from topsmile.core import db

    assert settings.database_url
    await db.open_pool(settings.database_url, min_size=1, max_size=2)
    try:
        return await work()
    finally:
        await db.close_pool()


def cmd_events_dead(args: argparse.Namespace) -> int:
    from topsmile.events import admin

    with resolved_settings() as settings:
        rows = asyncio.run(_with_pool(settings, lambda: admin.dead_deliveries(args.limit)))
    if not rows:
        print("no dead deliveries")
    for row in rows:
        print(
            f"{row.event_id}  {row.handler:<8} {row.name:<32} "
            f"attempts={row.attempts}  {row.updated_at:%Y-%m-%d %H:%M}  {row.last_error}"
        )
    return 0


def cmd_events_retry(args: argparse.Namespace) -> int:
    from topsmile.events import admin

    try:
        event_id = uuid.UUID(args.event_id)
    except ValueError:
        print(f"topsmile: not an event id: {args.event_id}", file=sys.stderr)
        return 2
    with resolved_settings() as settings:
        count = asyncio.run(_with_pool(settings, lambda: admin.retry(event_id, args.only_handler)))
    print(f"{count} dead deliver{'y' if count == 1 else 'ies'} scheduled again")
    return 0 if count else 1


def cmd_uploads_cleanup(args: argparse.Namespace) -> int:
    from topsmile.uploads import admin

    if args.grace_minutes < 0:
        print("topsmile: --grace-minutes must be 0 or more", file=sys.stderr)
        return 2
    with resolved_settings() as settings:
        storage = _storage(settings)
        removed = asyncio.run(
            _with_pool(settings, lambda: admin.cleanup(storage, args.grace_minutes))
        )
    for leftover in removed:
        print(f"removed {'temp file' if leftover.temporary else 'orphan'} {leftover.key}")
    print(f"{len(removed)} leftover file(s) removed")
    return 0


def _names_from_email(email: str, fallback_last: str) -> tuple[str, str]:
    """`ana.lima@x` → ("Ana", "Lima"); a one-word local part gets `fallback_last`."""
    words = [w for w in re.split(r"[._+-]+", email.partition("@")[0]) if w]
    first = words[0].title() if words else fallback_last
    last = " ".join(words[1:]).title() or fallback_last
    return first[:100], last[:100]


def _problem_line(exc: Exception) -> str:
    from topsmile.core.errors import AppError

    if isinstance(exc, AppError) and exc.errors:
        return "; ".join(f"{e.field}: {e.message}" for e in exc.errors)
    return str(exc)


async def _with_bus(settings: Settings, work: Callable[[], Awaitable[T]]) -> T:
    """Services publish events; deliveries are recorded for the relay (`serve`, `worker`)."""
    from topsmile.events import bus
    from topsmile.wiring import build_bus

    bus.install(build_bus(settings))
    return await work()


def _operator_action(work: Callable[[], Awaitable[T]]) -> T | None:
    """Run `work` on a migrated database; a refused request prints one line and gives None."""
    from topsmile.core.errors import AppError

    with resolved_settings() as settings:
        _migrate(settings)
        try:
            return asyncio.run(_with_pool(settings, lambda: _with_bus(settings, work)))
        except AppError as exc:
            print(f"topsmile: {_problem_line(exc)}", file=sys.stderr)
            return None


def cmd_clinic_create(args: argparse.Namespace) -> int:
    import msgspec

    from topsmile.auth.passwords import Hasher
    from topsmile.clinics import service
    from topsmile.clinics.schemas import ClinicSignup
    from topsmile.core.schemas import validation_error

    first, last = _names_from_email(args.admin_email, "Admin")
    raw = {
        "name": args.name,
        "slug": args.slug,
        "timezone": args.timezone,
        "currency": args.currency,
        "admin": {
            "email": args.admin_email,
            "password": args.admin_password,
            "firstName": args.admin_first_name or first,
            "lastName": args.admin_last_name or last,
        },
    }
    try:
        data = msgspec.convert(raw, ClinicSignup, strict=True)
    except msgspec.ValidationError as exc:
        print(f"topsmile: {_problem_line(validation_error(exc))}", file=sys.stderr)
        return 1
    created = _operator_action(lambda: service.create_clinic(Hasher(), data))
    if created is None:
        return 1
    print(f"clinic created: id={created.clinic.id} slug={created.clinic.slug}")
    print(f"admin user: id={created.admin.id} email={created.admin.email}")
    return 0


def cmd_user_create(args: argparse.Namespace) -> int:
    import msgspec

    from topsmile.auth.passwords import Hasher
    from topsmile.clinics import service
    from topsmile.core.schemas import validation_error
    from topsmile.users.schemas import StaffUserCreate

    first, last = _names_from_email(args.email, args.role.title())
    raw = {
        "email": args.email,
        "password": args.password,
        "firstName": args.first_name or first,
        "lastName": args.last_name or last,
        "role": args.role,
    }
    try:
        data = msgspec.convert(raw, StaffUserCreate, strict=True)
    except msgspec.ValidationError as exc:
        print(f"topsmile: {_problem_line(validation_error(exc))}", file=sys.stderr)
        return 1
    user = _operator_action(lambda: service.create_user_in(Hasher(), args.clinic, data))
    if user is None:
        return 1
    print(f"user created: id={user.id} email={user.email} role={user.role}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from topsmile.core.actor import STAFF_ROLES

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

    events = commands.add_parser("events", help="inspect and retry event deliveries")
    events_commands = events.add_subparsers(dest="events_command", required=True)
    dead = events_commands.add_parser("dead", help="list deliveries that gave up")
    dead.add_argument("--limit", type=int, default=100)
    dead.set_defaults(run=cmd_events_dead)
    retry = events_commands.add_parser("retry", help="retry an event's dead deliveries")
    retry.add_argument("event_id", metavar="ID")
    retry.add_argument(
        "--handler", dest="only_handler", help="only this handler (email, sms, audit)"
    )
    retry.set_defaults(run=cmd_events_retry)
    uploads = commands.add_parser("uploads", help="maintain stored patient files")
    uploads_commands = uploads.add_subparsers(dest="uploads_command", required=True)
    cleanup = uploads_commands.add_parser(
        "cleanup", help="delete temp files and files without a row, older than the grace period"
    )
    cleanup.add_argument("--grace-minutes", type=int, default=60)
    cleanup.set_defaults(run=cmd_uploads_cleanup)
    clinic = commands.add_parser("clinic", help="operate on clinics")
    clinic_commands = clinic.add_subparsers(dest="clinic_command", required=True)
    clinic_create = clinic_commands.add_parser(
        "create", help="create a clinic and its first admin (no sign-up switch, no throttle)"
    )
    clinic_create.add_argument("--name", required=True)
    clinic_create.add_argument("--slug", required=True)
    clinic_create.add_argument(
        "--timezone", required=True, help="IANA zone, e.g. America/Sao_Paulo"
    )
    clinic_create.add_argument("--currency", required=True, help="ISO 4217 code, e.g. brl")
    clinic_create.add_argument("--admin-email", required=True)
    clinic_create.add_argument("--admin-password", required=True)
    clinic_create.add_argument("--admin-first-name", help="default: from the email")
    clinic_create.add_argument("--admin-last-name", help="default: from the email")
    clinic_create.set_defaults(run=cmd_clinic_create)

    user = commands.add_parser("user", help="operate on staff users")
    user_commands = user.add_subparsers(dest="user_command", required=True)
    user_create = user_commands.add_parser("create", help="add a staff user to a clinic")
    user_create.add_argument("--clinic", required=True, metavar="SLUG")
    user_create.add_argument("--email", required=True)
    user_create.add_argument("--role", required=True, choices=STAFF_ROLES)
    user_create.add_argument("--password", required=True)
    user_create.add_argument("--first-name", help="default: from the email")
    user_create.add_argument("--last-name", help="default: from the email")
    user_create.set_defaults(run=cmd_user_create)
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
