"""Information pages linked in every page's footer: Hilfe, Barrierefreiheit, Barriere
melden (a form whose reports operators list with `partnerportal reports list`),
Download Zwei-Faktor-Authentifizierung and Kontakt. Open to everyone, logged in or not."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

from litestar import Request, Response, get, post
from litestar.exceptions import NoRouteMatchFoundException
from litestar.response import Redirect
from litestar.status_codes import HTTP_422_UNPROCESSABLE_ENTITY, HTTP_429_TOO_MANY_REQUESTS

from core.i18n import _
from db import barrier_reports
from core.settings import Settings
from web.auth import client_ip
from web.forms import FormResult, check_email, has_control_characters, normalise_email, read_form
from web.rendering import page
from core.i18n import _, ngettext

REPORT_FIELDS = ("page_url", "description", "email")
PAGE_URL_MAX = 500
DESCRIPTION_MAX = 2000
# The date the accessibility statement was written and last reviewed (BITV 2.0 § 7).
STATEMENT_DATE = "29. November 2026"
APP_PATH_FALLBACK = "/app/"
# Line breaks and tabs belong in a description; no other control character does.
_TEXT_WHITESPACE = re.compile(r"[\n\t]")


@dataclass(frozen=True)
class Contact:
    """One way to reach someone: a topic with an e-mail address and a phone number."""

    topic: str
    intro: str
    email: str
    phone: str
    kind: str = "support"  # "support" or "payment": pages in Leichte Sprache word each their own way

    @property
    def tel(self) -> str:
        """The number for a `tel:` link: digits and a leading plus only."""
        return re.sub(r"(?!^\+)[^0-9]", "", self.phone.strip())

    @property
    def shown(self) -> bool:
        return bool(self.email or self.phone)


# Shown in development for a contact nobody configured, so the demo's pages are complete;
# never in production, where an example address would send people nowhere.
EXAMPLE_CONTACTS = {
    "support_email": "support@partnerportal.example",
    "support_phone": "0800 000000",
    "payment_contact_email": "zahlungsavise@partnerportal.example",
    "payment_contact_phone": "0800 000001",
}


def _contact_value(settings: Settings, name: str) -> str:
    value = getattr(settings, name).strip()
    if value or not settings.is_development:
        return value
    return EXAMPLE_CONTACTS[name]


def support_contact(settings: Settings) -> Contact:
    return Contact(_("Technischer Support"), _("Bei technischen Problemen, etwa mit der Anmeldung oder der Zwei-Faktor-App:"),
                   _contact_value(settings, "support_email"), _contact_value(settings, "support_phone"))


def contacts(settings: Settings, support_only: bool = False) -> list[Contact]:
    """The contacts configured (an unset one hides its line; both unset, the topic)."""
    found = [support_contact(settings)]
    if not support_only:
        found.append(Contact(_("Fragen zu Zahlungsavisen"), _("Bei Fragen rund um Zahlungsavise:"),
                             _contact_value(settings, "payment_contact_email"), _contact_value(settings, "payment_contact_phone"),
                             kind="payment"))
    return [c for c in found if c.shown]


def app_url(request: Request) -> str:
    """Where the Zwei-Faktor-App lives; the plain path while no route of that name exists."""
    try:
        # Litestar reverses "/app/" as "/app"; the app's service worker scope needs the slash.
        return request.app.route_reverse("companion_app").rstrip("/") + "/"
    except NoRouteMatchFoundException:
        return APP_PATH_FALLBACK


def same_site_path(value: str, base_url: str) -> str | None:
    """A path of this portal ("/hilfe"), given as a path or a full address on base_url;
    None for anything else, so no report (or prefilled form) points off-site."""
    if not value or len(value) > PAGE_URL_MAX or has_control_characters(value) or "\\" in value:
        return None
    if any(c.isspace() for c in value):
        return None
    base = base_url.rstrip("/")
    if value.lower().startswith(base.lower() + "/"):
        value = value[len(base):]
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/") or value.startswith("//"):
        return None
    return value


def description_problem(value: str) -> str | None:
    if not value:
        return _("Bitte beschreiben Sie die Barriere.")
    # Only C0/C1 controls: format characters (soft hyphens, emoji joiners) come with pasted text.
    if any(unicodedata.category(c) == "Cc" for c in _TEXT_WHITESPACE.sub("", value)):
        return _("Die Beschreibung darf keine Steuerzeichen enthalten.")
    if len(value) > DESCRIPTION_MAX:
        return _("Die Beschreibung darf höchstens %(max)d Zeichen lang sein; sie hat jetzt %(length)d.") % {
            "max": DESCRIPTION_MAX, "length": len(value)}
    return None


def validate_report(result: FormResult, base_url: str) -> FormResult:
    values, errors = result.values, result.errors
    values["description"] = values["description"].replace("\r\n", "\n").replace("\r", "\n")
    if "page_url" not in errors and values["page_url"]:
        path = same_site_path(values["page_url"], base_url)
        if path is None:
            errors["page_url"] = (
                _("Bitte geben Sie eine Adresse dieses Portals an, zum Beispiel /hilfe, oder lassen Sie das Feld leer.")
            )
        else:
            values["page_url"] = path
    if "description" not in errors and (problem := description_problem(values["description"])):
        errors["description"] = problem
    if "email" not in errors and values["email"] and (problem := check_email(values["email"])):
        errors["email"] = problem
    if not errors and values["email"]:
        values["email"] = normalise_email(values["email"])
    return result


def page_facts(request: Request) -> dict[str, int]:
    """The numbers the help and accessibility pages name, from the flow file and the settings in force."""
    settings: Settings = request.app.state.settings
    expiry = request.app.state.registry.onboarding().timer_for("expiry")
    return {
        "link_hours": int(expiry.after.total_seconds() // 3600),
        "code_minutes": settings.activation_code_minutes,
        "code_attempts": settings.activation_code_attempts,
        "registration_code_attempts": settings.registration_code_attempts,
        "pin_attempts": settings.pin_attempts,
        "login_request_seconds": settings.login_request_seconds,
        "session_idle_minutes": settings.session_idle_minutes,
    }


@get("/hilfe", name="help")
async def help_page(request: Request) -> Response:
    return page("help.html", {
        "facts": page_facts(request),
        "contacts": contacts(request.app.state.settings),
        "app_url": app_url(request),
    })


@get("/barrierefreiheit", name="accessibility")
async def accessibility_page(request: Request) -> Response:
    return page("accessibility.html", {
        "statement_date": STATEMENT_DATE,
        "facts": page_facts(request),
        "app_url": app_url(request),
        "contacts": contacts(request.app.state.settings, support_only=True),
    })


@get("/zwei-faktor-app", name="app_download")
async def app_download_page(request: Request) -> Response:
    return page("app_download.html", {"app_url": app_url(request), "contacts": contacts(request.app.state.settings, support_only=True)})


@get("/kontakt", name="contact")
async def contact_page(request: Request) -> Response:
    return page("contact.html", {"contacts": contacts(request.app.state.settings)})


def _report_form(values: dict[str, str], errors: dict[str, str], status_code: int = 200,
                 headers: dict[str, str] | None = None) -> Response:
    return page("barrier_report.html", {
        "values": values, "errors": errors, "description_max": DESCRIPTION_MAX, "page_url_max": PAGE_URL_MAX,
    }, status_code=status_code, headers=headers)


@get("/barriere-melden", name="barrier_report")
async def barrier_report_form(request: Request) -> Response:
    """The form, its page field filled from ?seite= when that names a page of this portal."""
    given = request.query_params.getall("seite", [])
    path = same_site_path(given[0], request.app.state.settings.base_url) if len(given) == 1 else None
    return _report_form({"page_url": path or "", "description": "", "email": ""}, {})


@post("/barriere-melden", name="barrier_report_submit")
async def barrier_report_submit(request: Request) -> Response:
    settings: Settings = request.app.state.settings
    form = validate_report(await read_form(request, REPORT_FIELDS), settings.base_url)
    if not form.ok:
        return _report_form(form.values, form.errors, HTTP_422_UNPROCESSABLE_ENTITY)
    limit = settings.barrier_reports_per_ip_per_hour
    report = barrier_reports.NewReport(client_ip=client_ip(request), **form.values)
    stored = await barrier_reports.add(request.app.state.db, report, request.app.state.clock.now(), limit)
    if stored is None:
        form.errors["_form"] = ngettext(
            "Von Ihrer Internetverbindung ist in der letzten Stunde bereits %(count)d Meldung eingegangen. "
            "Bitte versuchen Sie es später noch einmal oder wenden Sie sich an den technischen Support.",
            "Von Ihrer Internetverbindung sind in der letzten Stunde bereits %(count)d Meldungen eingegangen. "
            "Bitte versuchen Sie es später noch einmal oder wenden Sie sich an den technischen Support.",
            limit,
        ) % {"count": limit}
        return _report_form(form.values, form.errors, HTTP_429_TOO_MANY_REQUESTS, headers={"Retry-After": "3600"})
    return Redirect(request.app.route_reverse("barrier_thanks"), status_code=303)


@get("/barriere-melden/danke", name="barrier_thanks")
async def barrier_thanks(request: Request) -> Response:
    return page("barrier_thanks.html", {})
