"""The hand-built mail (mail/mime.py) read back by the stdlib's parser: the same headers
and parts EmailMessage would give, and no value that starts a header of its own."""

from __future__ import annotations

import email
import email.policy
from datetime import datetime, timezone

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st

from mail.mime import InvalidAddress, compose, envelope_address, one_line, sender

DATE = datetime(2026, 1, 5, 9, 0, tzinfo=timezone.utc)
TEXT = "Guten Tag,\n\nIhre Einladung: http://test/einladung/abc\n.\nEine Zeile mit = und Umlauten: äöüß „“\n"
HTML = '<p>Guten Tag,</p>\n<p><a href="http://test/einladung/abc">Registrierung fortsetzen</a> – ß</p>\n'
INJECTIONS = [
    "Hallo\r\nBcc: evil@example.org",
    "Hallo\nBcc: evil@example.org",
    "Hallo\rBcc: evil@example.org",
    "Hallo\r\n\r\nKörper statt Kopf",
    "Hallo\x85Bcc: evil@example.org",  # NEL
    "Hallo\u2028Bcc: evil@example.org",  # LINE SEPARATOR
    "Hallo\x00\x0bBcc: evil@example.org",
    "Grüße\r\nBcc: evil@example.org",
]


def parse(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=email.policy.default)


def mail(subject="Ihre Einladung zum Partnerportal", mail_from="Partnerportal <noreply@partnerportal.invalid>",
         recipient="b.tester@example.org", text=TEXT, html=HTML) -> bytes:
    return compose(sender(mail_from), envelope_address(recipient), subject, text, html, "<outbox-7@partnerportal.invalid>", DATE)


def header_names(message) -> list[str]:
    return [name.lower() for name in message.keys()]


EXPECTED_HEADERS = ["from", "to", "subject", "date", "message-id", "auto-submitted", "content-language", "mime-version", "content-type"]


def test_the_mail_reads_back_as_text_and_html_with_its_headers():
    message = parse(mail())
    assert header_names(message) == EXPECTED_HEADERS
    assert message["From"] == "Partnerportal <noreply@partnerportal.invalid>"
    assert message["To"] == "b.tester@example.org"
    assert message["Subject"] == "Ihre Einladung zum Partnerportal"
    assert message["Message-ID"] == "<outbox-7@partnerportal.invalid>"
    assert message["Date"].datetime == DATE
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    assert text.replace("\r\n", "\n") == TEXT and html.replace("\r\n", "\n") == HTML


def test_lines_end_in_crlf_and_stay_short():
    data = mail(text="x" * 500 + "\n", html="<p>" + "ü" * 400 + "</p>\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert max(len(line) for line in data.split(b"\r\n")) <= 78


def test_non_ascii_subject_and_name_are_encoded_words():
    data = mail(subject="Neues Gerät für Ihren Zugang zum Portal „Süd“", mail_from="Pflegedienst Müller & Söhne <noreply@example.org>")
    assert data.isascii()
    message = parse(data)
    assert message["Subject"] == "Neues Gerät für Ihren Zugang zum Portal „Süd“"
    assert message["From"].addresses[0].display_name == "Pflegedienst Müller & Söhne"
    assert message["From"].addresses[0].addr_spec == "noreply@example.org"


@pytest.mark.parametrize("attack", INJECTIONS)
def test_line_breaks_in_the_subject_start_no_header(attack):
    message = parse(mail(subject=attack))
    assert header_names(message) == EXPECTED_HEADERS
    assert "\n" not in message["Subject"] and "\r" not in message["Subject"]
    assert message["Subject"].startswith("Hallo") or message["Subject"].startswith("Grüße")
    assert "evil@example.org" not in str(message.get("Bcc"))


@pytest.mark.parametrize("attack", INJECTIONS)
def test_line_breaks_in_the_sender_name_start_no_header(attack):
    message = parse(mail(mail_from=f"{attack} <noreply@example.org>"))
    assert header_names(message) == EXPECTED_HEADERS
    [address] = message["From"].addresses
    assert address.addr_spec == "noreply@example.org"


@pytest.mark.parametrize("recipient", [
    "b.tester@example.org\r\nBcc: evil@example.org",
    "b.tester@example.org\nBcc: evil@example.org",
    "b.tester@example.org>\r\nRCPT TO:<evil@example.org",
    "b.tester@example.org, evil@example.org",
    "B Tester <b.tester@example.org>",
    "\"b tester\"@example.org",
    "b.tester@exa mple.org",
    "b.tester@",
    "@example.org",
    "bütester@example.org",  # a non-ASCII local part needs SMTPUTF8, which the forms never let in
    "b.tester@example.org\x00",
])
def test_an_address_that_could_inject_is_refused(recipient):
    with pytest.raises(InvalidAddress):
        envelope_address(recipient)


def test_an_international_domain_goes_out_in_idna():
    assert envelope_address("anna@bücher.de") == "anna@xn--bcher-kva.de"  # the well-known example
    assert parse(mail(recipient="anna@bücher.de"))["To"] == "anna@xn--bcher-kva.de"


def test_a_sender_without_a_usable_address_is_refused():
    with pytest.raises(InvalidAddress):
        sender("Partnerportal <noreply@partner portal.example>")


def test_one_line_turns_every_control_character_into_a_space():
    assert one_line("a\r\nb\tc\x85d\u2028e\u2029f\x7fg") == "a  b c d e f g"


@hypothesis_settings(max_examples=200, deadline=None)
@given(subject=st.text(min_size=1, max_size=200), name=st.text(max_size=80))
def test_no_subject_or_name_adds_a_header(subject, name):
    """Whatever the portal's name or a subject holds, the mail has exactly its own headers."""
    display = name.replace("<", "").replace(">", "").replace('"', "").replace("\\", "")
    data = mail(subject=subject, mail_from=f'"{display}" <noreply@example.org>')
    message = parse(data)
    assert header_names(message) == EXPECTED_HEADERS
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
