"""Every route handler of the app, in one list (controllers stay small modules)."""

from __future__ import annotations

from pathlib import Path

from litestar.static_files import create_static_files_router

from web.controllers.app_api import activate, answer, check_code, list_requests
from web.controllers.branding import brand_css, brand_logo, companion_brand_css
from web.controllers.companion import companion_app, companion_manifest, companion_service_worker, companion_static
from web.controllers.dev_mailbox import dev_mailbox, dev_mailbox_html, dev_mailbox_mail
from web.controllers.consent import consent_page, give_consent, show_document, withdraw_consent
from web.controllers.flow import flow_svg, flow_view
from web.controllers.flow_migrate import FlowMigrateController
from web.controllers.flow_simulation import FlowSimulationController
from web.controllers.flow_studio import FlowStudioController
from web.controllers.funnel import funnel_csv, funnel_page
from web.controllers.health import health
from web.controllers.home import home
from web.controllers.invitation import invitation, start_registration
from web.controllers.language import switch_language
from web.controllers.login import extend_session, login_ended, login_finish, login_page, login_start, login_wait, logout
from web.controllers.pages import (
    accessibility_page, app_download_page, barrier_report_form, barrier_report_submit, barrier_thanks, contact_page, help_page,
)
from web.controllers.postfach import inbox, open_message, read_message
from web.controllers.profile import device_lost, logout_everywhere, profile
from web.controllers.registration import RegistrationController
from web.controllers.subject_access import export_json, export_page
from web.controllers.users import UsersController
from web.controllers.users_import import UsersImportController

STATIC_DIR = Path(__file__).parent / "static"

ROUTES = [
    home,
    brand_css,
    brand_logo,
    companion_brand_css,
    health,
    UsersController,
    UsersImportController,
    export_page,
    export_json,
    consent_page,
    give_consent,
    withdraw_consent,
    show_document,
    inbox,
    open_message,
    read_message,
    profile,
    device_lost,
    logout_everywhere,
    invitation,
    start_registration,
    RegistrationController,
    login_page,
    login_start,
    login_wait,
    login_finish,
    login_ended,
    logout,
    extend_session,
    activate,
    check_code,
    list_requests,
    answer,
    companion_app,
    companion_manifest,
    companion_service_worker,
    companion_static,
    flow_view,
    flow_svg,
    FlowStudioController,
    FlowMigrateController,
    FlowSimulationController,
    funnel_page,
    funnel_csv,
    dev_mailbox,
    dev_mailbox_mail,
    dev_mailbox_html,
    help_page,
    switch_language,
    accessibility_page,
    barrier_report_form,
    barrier_report_submit,
    barrier_thanks,
    app_download_page,
    contact_page,
    # Assets need no CSRF cookie; every page sets it.
    create_static_files_router(path="/static", directories=[STATIC_DIR], name="static", opt={"exclude_from_csrf": True}),
]
