"""The wire form of an outbox mail (multipart/alternative: text and HTML), built by hand.

Why not `email.message.EmailMessage`: building one mail with it (headers, `set_content`,
`add_alternative`) and flattening it cost 2.5-5 ms of CPU on this kind of machine,
measured with timeit (`bench/invites.py --mime` prints both figures), more than the
whole rest of creating and sending an invitation. Written here it costs ~50 us. The
stdlib still does the delicate parts: RFC 2047 encoded words (`email.header.Header`),
display names (`email.utils.formataddr`), quoted-printable (`binascii.b2a_qp`) and the
date (`email.utils.format_datetime`).

No value can start a header of its own: every control character (CR and LF included)
in a header value becomes a space before encoding, non-ASCII text becomes an encoded
word, and an address that is not a plain ASCII dot-atom after IDNA encoding of its
domain is refused (`InvalidAddress`) rather than sent. tests/unit/test_mime.py tries.
"""

from __future__ import annotations

import binascii
import functools
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr

import idna

CRLF = "\r\n"
# A local part or domain as RFC 5322 dot-atoms in plain ASCII (what web/forms.py lets in,
# after the domain's IDNA encoding): nothing that needs quoting, no space, no control character.
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_ADDRESS = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


class InvalidAddress(ValueError):
    """The address cannot be written into an envelope or a header safely."""


@dataclass(frozen=True)
class Sender:
    """The From header and the envelope sender, worked out once per dispatcher."""

    header: str
    address: str


@functools.lru_cache(maxsize=16)
def sender(mail_from: str) -> Sender:
    # "Name <address>" or a bare address; not parseaddr, which takes the first thing that
    # looks like an address, even inside the name ("Info evil@x.org <noreply@...>").
    text = one_line(mail_from)
    if text.endswith(">") and "<" in text:
        name, _, address = text[:-1].rpartition("<")
        name = name.strip().removeprefix('"').removesuffix('"').strip()
    else:
        name, address = "", text
    address = envelope_address(address)
    shown = formataddr((one_line(name), address), charset="utf-8") if name else address
    return Sender(header=_fold("From", shown), address=address)


def one_line(value: str) -> str:
    """Control characters (CR, LF, TAB, NEL, ...) and line separators as spaces."""
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in value).strip()


def envelope_address(address: str) -> str:
    """The address in ASCII (IDNA domain), or InvalidAddress."""
    local, at, domain = address.strip().rpartition("@")
    if not at or not local or not domain:
        raise InvalidAddress(address)
    try:
        ascii_domain = idna.encode(domain, uts46=True).decode("ascii") if not domain.isascii() else domain
    except idna.IDNAError:
        raise InvalidAddress(address) from None
    result = f"{local}@{ascii_domain}"
    if len(result) > 254 or not _ADDRESS.fullmatch(result):
        raise InvalidAddress(address)
    return result


@functools.lru_cache(maxsize=64)
def encoded_subject(subject: str) -> str:
    """The Subject header line (folded, encoded words for non-ASCII); subjects repeat, so cached."""
    return _fold("Subject", one_line(subject))


def _fold(name: str, value: str) -> str:
    if value.isascii() and len(name) + 2 + len(value) <= 78:
        return f"{name}: {value}"
    if value.isascii():
        return f"{name}: " + Header(value, header_name=name).encode(linesep=CRLF)
    return f"{name}: " + Header(value, "utf-8", header_name=name).encode(linesep=CRLF)


def _quoted_printable(text: str) -> str:
    lines = text.replace("\r\n", "\n").replace("\r", "\n")
    return binascii.b2a_qp(lines.encode("utf-8"), istext=True).decode("ascii").replace("\n", CRLF)


def compose(
    sender_: Sender, recipient: str, subject: str, text: str, html: str, message_id: str, date: datetime
) -> bytes:
    """The whole mail as bytes, with CRLF line ends, ready for SMTP DATA.

    `recipient` must come from `envelope_address`. The boundary starts with "=_", which
    quoted-printable never produces (it writes "=" as "=3D"), so no body can contain it."""
    boundary = "=_" + message_id.strip("<>").replace("@", ".")
    part = 'Content-Type: text/{}; charset="utf-8"' + CRLF + "Content-Transfer-Encoding: quoted-printable" + CRLF
    return CRLF.join([
        sender_.header,
        f"To: {recipient}",
        encoded_subject(subject),
        f"Date: {format_datetime(date)}",
        f"Message-ID: {message_id}",
        "Auto-Submitted: auto-generated",
        "Content-Language: de",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/alternative;{CRLF} boundary="{boundary}"',
        "",
        f"--{boundary}",
        part.format("plain"),
        _quoted_printable(text),
        f"--{boundary}",
        part.format("html"),
        _quoted_printable(html),
        f"--{boundary}--",
        "",
    ]).encode("ascii")
