"""A real SMTP server for tests (aiosmtpd in its own thread) that keeps what it
receives and can be told to answer with a temporary (4xx) or permanent (5xx) error."""

from __future__ import annotations

import asyncio
import email
import email.policy
import re
import socket
import threading
from email.message import EmailMessage

from aiosmtpd.controller import Controller

LINK = re.compile(r"https?://[^\s<>\"]+/einladung/[^\s<>\"]+")


def free_port() -> int:
    # aiosmtpd cannot bind port 0 (its start-up check connects to the configured port).
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class _Handler:
    def __init__(self):
        self.lock = threading.Lock()
        self.received = threading.Condition(self.lock)
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.reply: str | None = None
        self.gate: threading.Event | None = None  # set: DATA is answered; clear: DATA waits
        self.arrived = threading.Event()  # a DATA is waiting at the gate
        self.abandoned = threading.Event()  # a held DATA lost its connection
        self.greeted: list[tuple] = []  # the client's address per EHLO: one per connection
        self.drop_at: int | None = None  # the mail (count) after which the connection is dropped
        self.goodbyes = 0  # QUITs: connections the client closed politely
        self.refused_recipients: dict[str, str] = {}  # address -> the reply to its RCPT
        self.resets = 0  # RSETs: envelopes the client abandoned

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        with self.lock:
            self.greeted.append(session.peer)
        session.host_name = hostname
        return responses

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            refusal = self.refused_recipients.get(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_RSET(self, server, session, envelope):
        with self.lock:
            self.resets += 1
        return "250 OK"

    async def handle_QUIT(self, server, session, envelope):
        with self.lock:
            self.goodbyes += 1
        return "221 Bye"

    async def handle_DATA(self, server, session, envelope) -> str:
        gate = self.gate
        if gate is not None and not gate.is_set():
            self.arrived.set()
            # Waits in a thread, so the server keeps serving other connections meanwhile.
            try:
                await asyncio.get_running_loop().run_in_executor(None, gate.wait)
            except asyncio.CancelledError:
                self.abandoned.set()  # the connection went away while the mail waited: not stored
                raise
        with self.lock:
            if self.reply:
                return self.reply
            message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
            self.messages.append(message)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self.received.notify_all()
            drop = self.drop_at == len(self.messages)
            if drop:
                self.drop_at = None
        if drop:
            # The mail is stored, but the client never hears so: it must send it again.
            server.transport.close()
        return "250 OK"


class SmtpServer:
    """`port` is fixed at construction, so a test can point the app at a server that
    is not running yet (connection refused) and start it later."""

    def __init__(self, port: int | None = None):
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self._handler = _Handler()
        self._controller: Controller | None = None

    async def start(self) -> None:
        self._controller = Controller(self._handler, hostname=self.host, port=self.port, ready_timeout=10)
        # start() blocks until the server thread answers; keep the test's loop free meanwhile.
        await asyncio.to_thread(self._controller.start)

    async def stop(self) -> None:
        self.release()  # a held DATA would keep the server thread from stopping
        if self._controller is not None:
            await asyncio.to_thread(self._controller.stop)
            self._controller = None

    async def __aenter__(self) -> "SmtpServer":
        await self.start()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.stop()

    def answer(self, reply: str | None) -> None:
        """Answer every DATA with this reply (e.g. "451 4.3.0 Bitte später erneut"); None: accept."""
        with self._handler.lock:
            self._handler.reply = reply

    def refuse_recipient(self, address: str, reply: str) -> None:
        """Answer RCPT for this address with `reply` (e.g. "550 5.1.1 Unbekannt")."""
        with self._handler.lock:
            self._handler.refused_recipients[address] = reply

    @property
    def resets(self) -> int:
        """How many RSETs the clients sent."""
        with self._handler.lock:
            return self._handler.resets

    def drop_connection_after(self, count: int) -> None:
        """Once `count` mails have arrived, close that connection without answering the last."""
        with self._handler.lock:
            self._handler.drop_at = count

    @property
    def connections(self) -> int:
        """How many SMTP connections said EHLO so far."""
        with self._handler.lock:
            return len(self._handler.greeted)

    @property
    def goodbyes(self) -> int:
        """How many connections the client closed with QUIT."""
        with self._handler.lock:
            return self._handler.goodbyes

    def hold(self) -> None:
        """From now on, DATA waits (the sender is stuck mid-send) until `release()`."""
        self._handler.arrived.clear()
        self._handler.abandoned.clear()
        self._handler.gate = threading.Event()

    def release(self) -> None:
        if self._handler.gate is not None:
            self._handler.gate.set()

    async def wait_for_held_mail(self, timeout: float) -> bool:
        """True once a mail waits at the gate set by `hold()`."""
        return await asyncio.to_thread(self._handler.arrived.wait, timeout)

    async def wait_for_abandoned_mail(self, timeout: float) -> bool:
        """True once a mail held by `hold()` lost its connection (the server did not store it)."""
        return await asyncio.to_thread(self._handler.abandoned.wait, timeout)

    async def wait_until(self, predicate, timeout: float) -> bool:
        """Wait (without polling) until predicate(messages) holds; False after timeout seconds."""

        def wait() -> bool:
            with self._handler.received:
                return self._handler.received.wait_for(lambda: predicate(list(self._handler.messages)), timeout)

        return await asyncio.to_thread(wait)

    @property
    def messages(self) -> list[EmailMessage]:
        with self._handler.lock:
            return list(self._handler.messages)

    @property
    def envelopes(self) -> list[tuple[str, list[str]]]:
        with self._handler.lock:
            return list(self._handler.envelopes)

    def settings_for(self, settings):
        from dataclasses import replace

        return replace(settings, smtp_host=self.host, smtp_port=self.port, smtp_security="none")


def parts(message: EmailMessage) -> tuple[str, str]:
    """The text and HTML alternatives of a mail."""
    return (
        message.get_body(preferencelist=("plain",)).get_content(),
        message.get_body(preferencelist=("html",)).get_content(),
    )


def link_in(message: EmailMessage) -> str:
    text, _ = parts(message)
    links = LINK.findall(text)
    assert len(set(links)) == 1, f"expected one invitation link, found {links}"
    return links[0]
