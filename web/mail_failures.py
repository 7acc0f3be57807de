"""Why a mail failed, in words for the admin (in the request's language), from the
outbox's last_error (the mail server's answer, or what the dispatcher noted:
jobs/outbox.py, a record matched here by its German start, never shown alone)."""

from __future__ import annotations

import re
from core.i18n import _, lazy_gettext

_REPLY = re.compile(r"^([45])(\d\d)\b")

# Exact SMTP reply codes the admin can act on (RFC 5321 and common server practice).
_BY_CODE = {
    "550": lazy_gettext("Die Empfängeradresse wurde vom Mailserver abgelehnt. Bitte prüfen Sie, ob es die Adresse gibt."),
    "551": lazy_gettext("Die Empfängeradresse wurde vom Mailserver abgelehnt. Bitte prüfen Sie, ob es die Adresse gibt."),
    "553": lazy_gettext("Die Empfängeradresse ist ungültig."),
    "552": lazy_gettext("Das Postfach der Empfängerin oder des Empfängers ist voll."),
    "554": lazy_gettext("Der Mailserver hat die E-Mail abgelehnt (zum Beispiel als Spam)."),
}


def explain(last_error: str) -> str:
    """One German sentence: what went wrong and, where possible, what to do."""
    error = (last_error or "").strip()
    reply = _REPLY.match(error)
    if reply:
        code = reply.group(0)
        if code in _BY_CODE:
            return str(_BY_CODE[code])
        if reply.group(1) == "5":
            return _("Der Mailserver hat die E-Mail dauerhaft abgelehnt.")
        return _("Der Mailserver hat die E-Mail wiederholt vorübergehend abgelehnt; die Zustellung wurde aufgegeben.")
    if error.startswith("Mailserver lehnt die Verbindung ab"):
        return _("Der Mailserver lehnt die Verbindung des Portals ab. Bitte wenden Sie sich an den technischen Support.")
    if error.startswith("Mailserver nicht erreichbar"):
        return _("Der Mailserver war nicht erreichbar; die Zustellung wurde nach mehreren Versuchen aufgegeben.")
    if error.startswith("Interner Fehler"):
        return _("Die E-Mail konnte wegen eines internen Fehlers nicht erstellt werden.")
    return _("Die E-Mail konnte nicht zugestellt werden.")
