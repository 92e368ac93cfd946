"""Piccolo's configuration module (PICCOLO_CONF): the engine and the apps with migrations."""

from piccolo.conf.apps import AppRegistry

from topsmile.core.db import DB

APPS = [
    "topsmile.core.piccolo_app",
    "topsmile.events.piccolo_app",
    "topsmile.clinics.piccolo_app",
    "topsmile.auth.piccolo_app",
    "topsmile.patients.piccolo_app",
    "topsmile.scheduling.piccolo_app",
    "topsmile.audit.piccolo_app",
    "topsmile.notifications.piccolo_app",
    "topsmile.uploads.piccolo_app",
]

APP_REGISTRY = AppRegistry(apps=APPS)

__all__ = ["APPS", "APP_REGISTRY", "DB"]
