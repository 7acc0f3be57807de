"""E-mail addresses are checked by email-validator with German messages, stored with the
local part as typed and the domain in lower-case IDNA, and never looked up in DNS."""

from __future__ import annotations

import pytest

from web.forms import check_email, normalise_email

GENERIC = "Bitte geben Sie eine gültige E-Mail-Adresse ein, zum Beispiel b.tester@beispiel.de."
DOMAIN = "Die Domain der E-Mail-Adresse ist ungültig."


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("A.Mueller@Example.ORG", "A.Mueller@example.org"),
        ("l@przykład.pl", "l@xn--przykad-rjb.pl"),
        ("z@BÜCHER.de", "z@xn--bcher-kva.de"),
        # IDNA 2008, as DENIC registers them since 2010: straße.de is not strasse.de.
        ("x@straße.de", "x@xn--strae-oqa.de"),
        ("o'brien+portal@example.ie", "o'brien+portal@example.ie"),
    ],
)
def test_valid_addresses_are_stored_with_the_domain_in_lower_case_idna(typed, stored):
    assert check_email(typed) is None
    assert normalise_email(typed) == stored


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("", "Bitte geben Sie die E-Mail-Adresse ein."),
        ("a @example.org", "Die E-Mail-Adresse darf keine Leer-, Steuerzeichen oder Zeilenumbrüche enthalten."),
        ("a@example.org\r\nBcc: b@example.org", "Die E-Mail-Adresse darf keine Leer-, Steuerzeichen oder Zeilenumbrüche enthalten."),
        ("a\u200b@example.org", "Die E-Mail-Adresse darf keine Leer-, Steuerzeichen oder Zeilenumbrüche enthalten."),
        ("a" * 250 + "@x.de", "Die E-Mail-Adresse darf höchstens 254 Zeichen lang sein."),
        ("keine-adresse", GENERIC),
        ("a@", GENERIC),
        ("@example.org", GENERIC),
        ("a..b@example.org", GENERIC),
        (".a@example.org", GENERIC),
        ("a@localhost", GENERIC),
        ("a@1.2.3.4", GENERIC),
        ("a@[127.0.0.1]", DOMAIN),  # address literals are refused
        ('"ab"@example.org', GENERIC),  # quoted local parts are refused
        ("ä@example.org", GENERIC),  # not every mail server on the way speaks SMTPUTF8
        ("a@b@example.org", GENERIC),
        # Reserved names can never receive mail.
        ("a@portal.invalid", GENERIC),
        ("a@drucker.local", GENERIC),
        ("a@x.test", GENERIC),
        ("a@.de", DOMAIN),
        ("a@x..de", DOMAIN),
        ("a@exa_mple.de", DOMAIN),
        ("a@xn--zz.de", DOMAIN),
        ("a@" + "d" * 64 + ".de", DOMAIN),
    ],
)
def test_bad_addresses_get_todays_german_messages(typed, message):
    assert check_email(typed) == message


def test_no_dns_lookup_is_made(monkeypatch):
    """A form must neither wait for a resolver nor tell one which addresses are typed in."""
    from email_validator import deliverability

    def looked_up(*args, **kwargs):
        raise AssertionError("DNS lookup attempted")

    monkeypatch.setattr(deliverability, "validate_email_deliverability", looked_up)
    assert check_email("b.tester@diese-domain-gibt-es-nicht-4711.de") is None
    assert normalise_email("b.tester@diese-domain-gibt-es-nicht-4711.de") == "b.tester@diese-domain-gibt-es-nicht-4711.de"
