"""Piccolo's configuration module; the app replaces DB with the engine from its settings."""

import os

from piccolo.conf.apps import AppRegistry

from db.engine import make_engine  # noqa: E402

# Empty means the default, as in partnerportal/settings.py.
DB = make_engine(os.environ.get("PARTNERPORTAL_DATABASE_URL", "").strip() or "sqlite:///var/partnerportal.sqlite")
APP_REGISTRY = AppRegistry(apps=["db.piccolo_app"])
