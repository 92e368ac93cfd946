from topsmile.core.piccolo_app import app_config

APP_CONFIG = app_config("uploads")
