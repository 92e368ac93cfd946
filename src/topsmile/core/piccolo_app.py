from pathlib import Path

from piccolo.conf.apps import AppConfig

MIGRATIONS = Path(__file__).resolve().parents[3] / "migrations"

APP_CONFIG = AppConfig(
    app_name="core",
    migrations_folder_path=str(MIGRATIONS / "core"),
    table_classes=[],
)
