from pathlib import Path

from piccolo.conf.apps import AppConfig
from piccolo.table import Table

# Inside the package, so an installed wheel carries its schema history.
MIGRATIONS = Path(__file__).resolve().parents[1] / "migrations"


def app_config(name: str, tables: list[type[Table]] | None = None) -> AppConfig:
    """A Piccolo app whose migrations live in `topsmile/migrations/<name>/`."""
    return AppConfig(
        app_name=name,
        migrations_folder_path=str(MIGRATIONS / name),
        table_classes=tables or [],
    )


APP_CONFIG = app_config("core")
