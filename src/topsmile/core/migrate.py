"""Apply Piccolo migrations, app by app, each migration in its own transaction.

Piccolo's own runner records a migration after running it, outside its transaction, and
prints to stdout; ours applies the same migration files atomically and quietly, and holds an
advisory lock so that several processes starting at once migrate exactly once.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType

from piccolo.apps.migrations.auto.migration_manager import MigrationManager
from piccolo.apps.migrations.tables import Migration
from piccolo.conf.apps import AppConfig

from topsmile.core import db
from topsmile.core.embedded import APP_ROLE

log = logging.getLogger("topsmile.migrate")

_LOCK_KEY = 727_101  # any fixed number, shared by every TopSmile process


def _app_configs() -> list[AppConfig]:
    from topsmile.piccolo_conf import APPS

    return [importlib.import_module(name).APP_CONFIG for name in APPS]


def _load(app: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"topsmile_migrations.{app}.{path.stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class MigrationsNotFound(RuntimeError):
    """A registered app has no migration files (e.g. a package installed without them)."""


def migration_modules(app: AppConfig) -> list[ModuleType]:
    """The app's migration modules in id order; an app without any is a broken install."""
    folder = Path(app.resolved_migrations_folder_path)
    paths = sorted(folder.glob("*.py")) if folder.is_dir() else []
    modules = [_load(app.app_name, path) for path in paths if path.name != "__init__.py"]
    if not modules:
        raise MigrationsNotFound(
            f"no migrations found for app '{app.app_name}' in {folder}; "
            "the topsmile package must ship its migrations (nothing was applied)"
        )
    return sorted(modules, key=lambda m: str(m.ID))


async def apply_migrations(owner_dsn: str, app_login_role: str | None = None) -> list[str]:
    """Bring the schema up to date as the owner role; return the ids applied.

    Runs before the process opens its application pool (Piccolo would otherwise route the
    owner's statements through the application role's pool).
    """
    if db.DB.pool is not None:
        raise RuntimeError("apply migrations before opening the application pool")
    # Found before touching the database: a package without its migrations changes nothing.
    found = [(app, migration_modules(app)) for app in _app_configs()]
    previous = dict(db.DB.config)
    db.configure(owner_dsn)
    applied: list[str] = []
    lock_conn = await db.DB.get_new_connection()
    try:
        await lock_conn.execute("SELECT pg_advisory_lock($1)", _LOCK_KEY)
        await Migration.create_table(if_not_exists=True).run()  # type: ignore[no-untyped-call]
        pending: list[tuple[str, int, AppConfig, ModuleType]] = []
        for order, (app, modules) in enumerate(found):
            done = set(await Migration.get_migrations_which_ran(app_name=app.app_name))
            pending += [(str(m.ID), order, app, m) for m in modules if m.ID not in done]
        # Migration ids are timestamps: one global order lets an app's migration depend on
        # an earlier migration of another app (a foreign key to its table).
        for _, _, app, module in sorted(pending, key=lambda item: item[:2]):
            async with db.DB.transaction():
                manager = await module.forwards()
                if isinstance(manager, MigrationManager):
                    with contextlib.redirect_stdout(io.StringIO()):  # Piccolo prints
                        await manager.run()
                await Migration.insert(Migration(name=module.ID, app_name=app.app_name))
            log.info("migration applied", extra={"app": app.app_name, "migration": module.ID})
            applied.append(f"{app.app_name}:{module.ID}")
        if app_login_role and app_login_role != APP_ROLE:
            await _grant_app_role(app_login_role)
    finally:
        await lock_conn.execute("SELECT pg_advisory_unlock($1)", _LOCK_KEY)
        await lock_conn.close()
        db.DB.config = previous
    return applied


def raw_sql(
    app_name: str, migration_id: str, description: str, statements: list[str]
) -> Callable[[], Awaitable[MigrationManager]]:
    """A Piccolo migration's `forwards` that runs raw SQL statements in order.

    Statements pass through `db.fetch`, where `{}` is a placeholder: write no
    literal braces (e.g. `jsonb_build_object()` rather than `'{}'`).
    """

    async def forwards() -> MigrationManager:
        manager = MigrationManager(
            migration_id=migration_id, app_name=app_name, description=description
        )

        async def run() -> None:
            for statement in statements:
                await db.fetch(statement)

        manager.add_raw(run)
        return manager

    return forwards


def tenant_policy(table: str) -> list[str]:
    """Forced row-level security limiting `table` to the transaction's clinic."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"""CREATE POLICY {table}_tenant ON {table}
            USING (clinic_id = app_clinic_id()) WITH CHECK (clinic_id = app_clinic_id())""",
    ]


async def _grant_app_role(login_role: str) -> None:
    """Let an externally created application login act with TopSmile's grants."""
    rows = await db.fetch("SELECT 1 AS ok FROM pg_roles WHERE rolname = {}", login_role)
    if rows:
        quoted = '"' + login_role.replace('"', '""') + '"'
        await db.fetch(f"GRANT {APP_ROLE} TO {quoted}")
