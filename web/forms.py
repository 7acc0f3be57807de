"""Form parsing and validation with messages next to each field (in the request's language).

Forms accept only the fields they expect, each exactly once (SES-8: a list where a
string is expected is an error), and no control characters anywhere (they would
end up in mail headers)."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field

import idna
from email_validator import EmailNotValidError, ValidatedEmail, validate_email
from litestar import Request

from core.i18n import _, lazy_gettext

CSRF_FIELD = "_csrf_token"
# Stored as the German words (the CSV import reads them so); shown translated.
SALUTATIONS = ("Frau", "Herr", "Divers", "keine Angabe")
SALUTATION_LABELS = {
    "Frau": lazy_gettext("Frau"), "Herr": lazy_gettext("Herr"), "Divers": lazy_gettext("Divers"),
    "keine Angabe": lazy_gettext("keine Angabe"),
}
NAME_MAX = 100
EMAIL_MAX = 254
_NAME_PUNCTUATION = set(" -'’.")


@dataclass
class FormResult:
    values: dict[str, str]
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors


async def read_form(request: Request, expected: tuple[str, ...]) -> FormResult:
    """The expected fields as single strings; anything else becomes an error."""
    form = await request.form()
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for key in form.keys():
        if key != CSRF_FIELD and key not in expected:
            errors["_form"] = _("Das Formular enthält unerwartete Felder. Bitte laden Sie die Seite neu.")
    for name in expected:
        items = form.getall(name) if name in form else []
        if len(items) > 1:
            errors[name] = _("Bitte geben Sie hier nur einen Wert an.")
        value = items[0] if items else ""
        values[name] = value.strip() if isinstance(value, str) else ""
        if not isinstance(value, str):
            errors[name] = _("Bitte geben Sie hier Text ein.")
    return FormResult(values, errors)


def has_control_characters(value: str) -> bool:
    return any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in value)


# Whole sentences per field: German declines the field's name ("den Vornamen"), other
# languages word it differently, so a translator needs the sentence, not the parts.
NAME_MESSAGES = {
    "first_name": {
        "missing": lazy_gettext("Bitte geben Sie den Vornamen ein."),
        "control": lazy_gettext("Der Vorname darf keine Zeilenumbrüche oder Steuerzeichen enthalten."),
        "long": lazy_gettext("Der Vorname darf höchstens %(max)d Zeichen lang sein."),
        "letters": lazy_gettext("Der Vorname darf nur Buchstaben, Leerzeichen, Bindestriche und Apostrophe enthalten."),
    },
    "last_name": {
        "missing": lazy_gettext("Bitte geben Sie den Nachnamen ein."),
        "control": lazy_gettext("Der Nachname darf keine Zeilenumbrüche oder Steuerzeichen enthalten."),
        "long": lazy_gettext("Der Nachname darf höchstens %(max)d Zeichen lang sein."),
        "letters": lazy_gettext("Der Nachname darf nur Buchstaben, Leerzeichen, Bindestriche und Apostrophe enthalten."),
    },
}


def check_name(value: str, field_name: str) -> str | None:
    messages = NAME_MESSAGES[field_name]
    if not value:
        return str(messages["missing"])
    if has_control_characters(value):
        return str(messages["control"])
    if len(value) > NAME_MAX:
        return messages["long"] % {"max": NAME_MAX}
    if not any(unicodedata.category(c).startswith("L") for c in value) or not all(
        unicodedata.category(c)[0] in "LM" or c in _NAME_PUNCTUATION for c in value
    ):
        return str(messages["letters"])
    return None


def normalise_email(value: str) -> str:
    """The address with its domain in ASCII (IDNA 2008) and lower case; local part kept.

    Call only with an address check_email accepted."""
    return _validated(value).ascii_email


def check_email(value: str) -> str | None:
    if not value:
        return _("Bitte geben Sie die E-Mail-Adresse ein.")
    if has_control_characters(value) or any(c.isspace() for c in value):
        return _("Die E-Mail-Adresse darf keine Leer-, Steuerzeichen oder Zeilenumbrüche enthalten.")
    if len(value) > EMAIL_MAX:
        return _("Die E-Mail-Adresse darf höchstens %(max)d Zeichen lang sein.") % {"max": EMAIL_MAX}
    try:
        _validated(value)
    except EmailNotValidError:
        if _domain_is_malformed(value):
            return _("Die Domain der E-Mail-Adresse ist ungültig.")
        return _("Bitte geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel b.tester@beispiel.de.")
    return None


def _validated(value: str) -> ValidatedEmail:
    # No DNS lookups (a form must not wait for, or leak addresses to, a resolver); ASCII
    # local parts only, as not every mail server on the way speaks SMTPUTF8.
    return validate_email(value, check_deliverability=False, allow_smtputf8=False)


def _domain_is_malformed(value: str) -> bool:
    """The part after the last @ cannot be written as an IDNA host name at all (the same
    rules email-validator applies), as opposed to one that mail merely cannot reach."""
    local, at, domain = value.rpartition("@")
    if not at or not local or not domain:
        return False
    try:
        idna.encode(domain, uts46=True)
    except idna.IDNAError:
        return True
    return False


PERSON_FIELDS = ("salutation", "first_name", "last_name", "email")
# The invitation form also asks for the language of the invitation's mails (empty: German).
INVITE_FIELDS = (*PERSON_FIELDS, "invitation_language")


def validate_invitation(result: FormResult, offered: list[str]) -> FormResult:
    """A person plus the invitation's language, one of the offered ones (default German)."""
    result = validate_person(result)
    language = result.values.get("invitation_language") or offered[0]
    if "invitation_language" not in result.errors and language not in offered:
        result.errors["invitation_language"] = _("Bitte wählen Sie eine der angebotenen Sprachen aus.")
    result.values["invitation_language"] = language
    return result


def validate_person(result: FormResult) -> FormResult:
    v = result.values
    errors = result.errors
    if "salutation" not in errors and v["salutation"] not in SALUTATIONS:
        errors["salutation"] = _("Bitte wählen Sie eine Anrede aus.")
    for name in ("first_name", "last_name"):
        if name not in errors and (problem := check_name(v[name], name)):
            errors[name] = problem
    if "email" not in errors and (problem := check_email(v["email"])):
        errors["email"] = problem
    if not errors:
        v["email"] = normalise_email(v["email"])
    return result
