"""SMTP connections for the outbox dispatcher: a claimed batch goes out over a few
connections opened once (PARTNERPORTAL_SMTP_CONNECTIONS), each carrying many mails in
turn, instead of one connection per mail (which capped the outbox at ~160-180 mails/s).

What a send reports: nothing (the server accepted the mail), `TemporaryFailure` (try
again later; `server_down` when the rest would fail too) or `PermanentFailure` (a 5xx
for this mail). A connection that drops mid-batch is opened again once for the mail it
was carrying: the server may already have taken that mail, so it can arrive twice, with
the same Message-ID (delivery is at least once). If no new connection can be opened,
the mails not yet accepted are reported `server_down` and stay in the outbox."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiosmtplib

from core.metrics import SMTP_ERRORS
from core.settings import Settings

log = logging.getLogger(__name__)

SMTP_TIMEOUT_SECONDS = 30


class TemporaryFailure(Exception):
    """Try again later; `server_down` means the rest of the batch would fail too."""

    def __init__(self, reason: str, server_down: bool = False):
        super().__init__(reason)
        self.reason, self.server_down = reason, server_down


class PermanentFailure(Exception):
    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class Outgoing:
    """One mail ready for the wire: `data` from mail.mime.compose."""

    key: int
    sender: str
    recipient: str
    data: bytes


# Called once per mail, as soon as its fate is known: None when the server accepted it.
Report = Callable[[Outgoing, Exception | None], Awaitable[None]]


class _ConnectionLost(Exception):
    """The connection broke while a mail was on it; the server may or may not have it."""


class SmtpConnections:
    """Up to `settings.smtp_connections` connections, opened when first needed and
    closed by `close()` (one dispatch round keeps them across its batches)."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.size = settings.smtp_connections
        self._idle: list[aiosmtplib.SMTP] = []
        self.opened = 0  # connections opened so far (tests and the benchmark read it)

    async def send(self, mails: list[Outgoing], report: Report) -> None:
        """Send every mail, `min(size, len(mails))` at a time, each connection taking the next."""
        queue = deque(mails)
        down: list[TemporaryFailure] = []
        await asyncio.gather(*[self._work(queue, down, report) for _ in range(min(self.size, len(mails)))])

    async def close(self) -> None:
        """Say goodbye (QUIT) on every connection left open."""
        idle, self._idle = self._idle, []
        for connection in idle:
            with contextlib.suppress(Exception):
                await connection.quit(timeout=5)

    def abort(self) -> None:
        """Drop every connection at once (the round ends with an error or is cancelled)."""
        idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    async def _work(self, queue: deque[Outgoing], down: list[TemporaryFailure], report: Report) -> None:
        connection = None
        try:
            while queue:
                mail = queue.popleft()
                if down:  # nothing else gets through now: no timeout per mail
                    await report(mail, down[0])
                    continue
                try:
                    connection, failure = await self._deliver(connection, mail)
                except TemporaryFailure as unreachable:  # no connection could be opened
                    connection, failure = None, unreachable
                if isinstance(failure, TemporaryFailure) and failure.server_down:
                    down.append(failure)
                await report(mail, failure)
        except BaseException:
            if connection is not None:
                connection.close()  # it may be mid-mail: never reuse it
            raise
        if connection is not None and connection.is_connected:
            self._idle.append(connection)  # for the next batch of this round

    async def _deliver(
        self, connection: aiosmtplib.SMTP | None, mail: Outgoing
    ) -> tuple[aiosmtplib.SMTP | None, TemporaryFailure | PermanentFailure | None]:
        """Send one mail: the connection for the next mail, and why this one was not
        accepted (None: it was). The connection comes back even when the server refused
        the mail, so it carries the next one (before, a refusal of a connection's first
        mail left that connection open and unused until the round ended). Raises
        TemporaryFailure (server down) if no connection can be opened."""
        if connection is None or not connection.is_connected:
            connection = await self._connect()
        try:
            await _sendmail(connection, mail)
            return connection, None
        except (TemporaryFailure, PermanentFailure) as refused:
            return connection, refused
        except _ConnectionLost:
            log.info("SMTP connection lost while sending; opening a new one for the rest of the batch")
        except BaseException:
            connection.close()  # mid-mail (e.g. cancelled): never reused, also if opened here
            raise
        connection = await self._connect()  # once: a server that is gone now is "down"
        try:
            await _sendmail(connection, mail)
        except (TemporaryFailure, PermanentFailure) as refused:
            return connection, refused
        except _ConnectionLost:
            SMTP_ERRORS.labels("unreachable").inc()
            return None, TemporaryFailure("Verbindung zum Mailserver während des Versands abgebrochen.")
        except BaseException:
            connection.close()
            raise
        return connection, None

    async def _connect(self) -> aiosmtplib.SMTP:
        while self._idle:
            connection = self._idle.pop()
            if connection.is_connected:
                return connection
        settings = self.settings
        connection = aiosmtplib.SMTP(
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=SMTP_TIMEOUT_SECONDS,
        )
        try:
            await connection.connect()
        except (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError, aiosmtplib.SMTPAuthenticationError) as exc:
            # The server refuses us, not a mail: fix the configuration, nothing is lost.
            SMTP_ERRORS.labels("refused").inc()
            raise TemporaryFailure(f"Mailserver lehnt die Verbindung ab: {exc.code} {exc.message}", server_down=True) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            SMTP_ERRORS.labels("unreachable").inc()
            raise TemporaryFailure(f"Mailserver nicht erreichbar: {type(exc).__name__}", server_down=True) from None
        self.opened += 1
        return connection


async def _sendmail(connection: aiosmtplib.SMTP, mail: Outgoing) -> None:
    try:
        await _transaction(connection, mail)
    except aiosmtplib.SMTPServerDisconnected:
        raise _ConnectionLost() from None
    except aiosmtplib.SMTPResponseException as exc:
        if exc.code == 421:
            # The server closes this connection (too busy, shutting down): the next mail
            # opens a new one; this one is tried again later, like any 4xx.
            connection.close()
        _count_reply(exc.code)
        _raise_for_reply(exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError):
        connection.close()
        raise _ConnectionLost() from None


async def _transaction(connection: aiosmtplib.SMTP, mail: Outgoing) -> None:
    """MAIL, RCPT and DATA for one mail with one recipient, as aiosmtplib's `sendmail` sends
    them. Not `sendmail` itself: it parses each address twice and converts the line
    endings of the whole message twice (once only to count its size), which was ~0.2 ms
    of CPU per mail (measured in docs/benchmarks-nutzerverwaltung.md, "Issue 12, round 6").
    `mail()` and `rcpt()` still check each address, `data()` still ends lines and escapes
    dots; a refusal resets the envelope (RSET), as `sendmail` does, so the connection can
    carry the next mail. MAIL carries no SIZE parameter (optional, RFC 1870; the server
    still refuses a mail too large at the end of DATA): ours are a few kilobytes."""
    try:
        await connection.mail(mail.sender)
        await connection.rcpt(mail.recipient)
        await connection.data(mail.data)
    except (aiosmtplib.SMTPResponseException, ValueError):
        with contextlib.suppress(aiosmtplib.SMTPException, OSError, TimeoutError):
            await connection.rset()
        raise


def _count_reply(code: int) -> None:
    SMTP_ERRORS.labels("permanent" if 500 <= code < 600 else "temporary").inc()


def _raise_for_reply(code: int, reply: str) -> None:
    reason = f"{code} {reply}".strip()
    if 500 <= code < 600:
        raise PermanentFailure(reason)
    raise TemporaryFailure(reason)
