"""Piccolo's configuration module; the app replaces DB with the engine from its settings
(db.engine.bind_tables). Importing it connects to nothing and creates no file."""

import os

from piccolo.conf.apps import AppRegistry

from db.engines import make_engine

# Empty means the default, as in core/settings.py.
DB = make_engine(os.environ.get("PARTNERPORTAL_DATABASE_URL", "").strip() or "sqlite:///var/partnerportal.sqlite")
APP_REGISTRY = AppRegistry(apps=["db.piccolo_app"])
