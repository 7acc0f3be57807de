"""Entwicklungs-Postfach: without an SMTP server, mails land in the dev_mail table and
are read here. Exists only in development without SMTP; everywhere else it is a 404.
Its mails carry live registration links, so it answers only clients on a loopback
address unless PARTNERPORTAL_DEV_MAILBOX_REMOTE opens it (INV-1)."""

from __future__ import annotations

import ipaddress
import re

from litestar import Request, Response, get
from litestar.connection import ASGIConnection
from litestar.exceptions import NotFoundException
from litestar.handlers import BaseRouteHandler
from litestar.params import FromPath
from litestar.response import Template

from db.tables import DevMail
from core.settings import Settings
from mail.rendering import local_time

DEV_MAILBOX_PATH = "/dev/postfach"
LIST_LIMIT = 200
_URL = re.compile(r"(https?://[^\s<>\"]+)")


def dev_mailbox_enabled(settings: Settings) -> bool:
    return settings.is_development and not settings.smtp_host


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _development_only(connection: ASGIConnection, _: BaseRouteHandler) -> None:
    settings = connection.app.state.settings
    if not dev_mailbox_enabled(settings):
        raise NotFoundException()
    # The peer as the ASGI server reports it: someone else on the network (a demo on a
    # shared machine or in a container) must not read other people's registration links.
    if not settings.dev_mailbox_remote and not is_loopback(connection.client.host if connection.client else None):
        raise NotFoundException()


def paragraphs(text: str) -> list[list[list[tuple[str, bool]]]]:
    """Paragraphs of lines of (piece, is_link): the template escapes every piece and
    links only http(s) addresses, so the page wraps and needs no <pre>."""
    return [
        [[(piece, i % 2 == 1) for i, piece in enumerate(_URL.split(line)) if piece] for line in block.splitlines()]
        for block in re.split(r"\n\s*\n", text.strip())
    ]


async def _mail_or_404(request: Request, mail_id: int) -> dict:
    mail = await request.app.state.db.fetch_one(DevMail.select().where(DevMail.id == mail_id))
    if mail is None:
        raise NotFoundException()
    return mail


@get(DEV_MAILBOX_PATH, name="dev_mailbox", guards=[_development_only])
async def dev_mailbox(request: Request) -> Template:
    mails = await request.app.state.db.fetch(
        DevMail.select(DevMail.id, DevMail.recipient, DevMail.subject, DevMail.created_at)
        .order_by(DevMail.id, ascending=False)
        .limit(LIST_LIMIT)
    )
    for mail in mails:
        mail["received"] = local_time(mail["created_at"])
    return Template("dev_mailbox.html", context={"mails": mails, "mail": None})


@get(f"{DEV_MAILBOX_PATH}/{{mail_id:int}}", name="dev_mailbox_mail", guards=[_development_only])
async def dev_mailbox_mail(request: Request, mail_id: FromPath[int]) -> Template:
    mail = await _mail_or_404(request, mail_id)
    mail["received"] = local_time(mail["created_at"])
    mail["paragraphs"] = paragraphs(mail["text"])
    return Template("dev_mailbox.html", context={"mails": None, "mail": mail})


@get(f"{DEV_MAILBOX_PATH}/{{mail_id:int}}/html", name="dev_mailbox_html", guards=[_development_only])
async def dev_mailbox_html(request: Request, mail_id: FromPath[int]) -> Response:
    """The HTML part as its own page. It comes from our autoescaped templates, and the
    app's CSP (no inline script, no framing) applies to it like to every page."""
    mail = await _mail_or_404(request, mail_id)
    return Response(mail["html"], media_type="text/html; charset=utf-8")

