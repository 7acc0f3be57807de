"""Every route handler of the app, in one list (controllers stay small modules)."""

from __future__ import annotations

from pathlib import Path

from litestar.static_files import create_static_files_router

from web.controllers.flow import flow_svg, flow_view
from web.controllers.health import health
from web.controllers.home import home
from web.controllers.users import UsersController

STATIC_DIR = Path(__file__).parent / "static"

ROUTES = [
    home,
    health,
    UsersController,
    flow_view,
    flow_svg,
    create_static_files_router(path="/static", directories=[STATIC_DIR], name="static"),
]
