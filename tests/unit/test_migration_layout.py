"""Migrations ship inside the package, one folder per Piccolo app, and none is ever skipped."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from piccolo.conf.apps import AppConfig

from topsmile.core.migrate import MigrationsNotFound, migration_modules
from topsmile.core.piccolo_app import MIGRATIONS
from topsmile.piccolo_conf import APPS

PACKAGE = Path(importlib.import_module("topsmile").__file__ or "").parent


def _registered() -> list[AppConfig]:
    return [importlib.import_module(name).APP_CONFIG for name in APPS]


def test_no_top_level_migrations_directory(project_root: Path) -> None:
    # A migration added under the old path would be left out of the wheel and never run.
    assert not (project_root / "migrations").exists(), (
        "migrations live in src/topsmile/migrations/<app>/, not in a top-level migrations/"
    )


def test_migrations_are_found_inside_the_package() -> None:
    assert MIGRATIONS == PACKAGE / "migrations"
    for app in _registered():
        assert Path(app.resolved_migrations_folder_path) == MIGRATIONS / app.app_name
        assert migration_modules(app), app.app_name


def test_every_migration_file_belongs_to_a_registered_app() -> None:
    # The runner reads only registered apps' folders: anything else would be silently skipped.
    apps = {app.app_name for app in _registered()}
    entries = {entry.name for entry in MIGRATIONS.iterdir() if entry.name != "__pycache__"}
    assert entries == apps
    for name in apps:
        files = [f for f in (MIGRATIONS / name).iterdir() if f.name != "__pycache__"]
        assert all(f.suffix == ".py" for f in files), files


@pytest.mark.parametrize("make_folder", [False, True], ids=["missing", "empty"])
def test_an_app_without_migrations_is_an_error(tmp_path: Path, make_folder: bool) -> None:
    folder = tmp_path / "clinics"
    if make_folder:
        folder.mkdir()
        (folder / "__init__.py").write_text("")
    app = AppConfig(app_name="clinics", migrations_folder_path=str(folder))
    with pytest.raises(
        MigrationsNotFound, match=r"no migrations found for app 'clinics' in .*clinics"
    ):
        migration_modules(app)
