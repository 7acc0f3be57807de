"""Send the mails of the outbox (REL-1, REL-2).

Each process may run the dispatcher: a small batch of due rows is claimed in one UPDATE
that pushes their `next_attempt_at` a lease (PARTNERPORTAL_OUTBOX_LEASE_SECONDS) into the
future, so a second dispatcher skips them. While it sends, the dispatcher renews the
lease of the rows it still holds; on any error (the database gone, the job cancelled) it
gives them back at once. A process that dies (kill -9) leaves its rows to be claimed
again when the short lease runs out (delivery is at least once; the Message-ID derived
from the row id makes a duplicate recognisable). Mails that carry a link get a fresh token here; only its hash
is stored, and neither the token nor the mail text is written to the outbox row, the
history or the log (LOG-2).

A claimed batch is read and rendered with a few statements for the whole batch
(jobs/mail_preparation.py) and sent over a few SMTP connections that the round keeps
open (jobs/smtp.py, PARTNERPORTAL_SMTP_CONNECTIONS); a mail is marked sent only after
the server accepted it, in one statement per batch."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from piccolo.columns.combination import WhereRaw

from db import links
from db.engine import Database, Step
from db.outage import is_outage
from db.tables import DevMail, Outbox
from core.settings import Settings
from core.signing import Signer
from jobs import mail_preparation
from jobs.mail_preparation import Prepared
from jobs.smtp import Outgoing, PermanentFailure, SmtpConnections
from mail import mime
from workflows.registry import FlowRegistry

log = logging.getLogger(__name__)

# A dispatcher that dies holds at most this many mails, for at most the lease, while the
# others take over the rest. 50 rather than 10: the batch's own statements (claim, reads,
# links, "sent") are then shared by more mails, which cut the CPU per mail by 15-25 %
# in bench/invites.py.
CLAIM_BATCH_SIZE = 50
RETRY_FIRST = timedelta(minutes=1)
RETRY_LONGEST = timedelta(hours=1)
ERROR_LENGTH = 500


@dataclass
class DispatchResult:
    sent: int = 0
    retried: int = 0
    failed: int = 0
    cancelled: int = 0
    # Why mails are retried, with how many: logged once per round (jobs/scheduler.py).
    retry_reasons: Counter = field(default_factory=Counter)

    def add(self, outcome: str, count: int = 1) -> None:
        setattr(self, outcome, getattr(self, outcome) + count)

    @property
    def handled(self) -> int:
        return self.sent + self.retried + self.failed + self.cancelled


@dataclass(frozen=True)
class Dispatcher:
    db: Database
    settings: Settings
    clock: object
    registry: FlowRegistry
    signer: Signer


async def dispatch_due_mail(
    db: Database, settings: Settings, clock, registry: FlowRegistry, signer: Signer, batch_size: int = CLAIM_BATCH_SIZE,
    connections: SmtpConnections | None = None,
) -> DispatchResult:
    """Send (or, without SMTP, put into the development mailbox) every mail due now.

    `connections`: SMTP connections the caller keeps open between rounds (and closes);
    without, the round opens its own and closes them at its end."""
    dispatcher = Dispatcher(db, settings, clock, registry, signer)
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    total = DispatchResult()
    own = connections is None
    if not settings.smtp_host:
        connections = None
    elif own:
        connections = SmtpConnections(settings)
    try:
        while True:
            now = clock.now()
            claimed = await claim(db, now, batch_size, lease)
            server_down = False
            if claimed:
                async with Lease(db, clock, [row["id"] for row in claimed], now + lease, lease).kept() as held:
                    server_down = await _deliver_batch(dispatcher, claimed, total, held, connections)
            # A server that is down now stays down for the next batch too: the next round tries again.
            if len(claimed) < batch_size or server_down:
                break
    except BaseException:
        if connections is not None:
            connections.abort()
        raise
    if connections is not None and own:
        await connections.close()
    return total


def message_id(outbox_id: int, mail_from: str) -> str:
    """Stable per outbox row, so a mail sent twice (at least once delivery) is one mail."""
    try:
        domain = mime.sender(mail_from).address.rpartition("@")[2]
    except mime.InvalidAddress:
        domain = "localhost"
    return f"<outbox-{outbox_id}@{domain}>"


# -- claiming ----------------------------------------------------------------------------


def claim_query(now: datetime, batch_size: int, postgres: bool, lease: timedelta):
    """Take up to batch_size due rows for the lease and count the attempt.

    The status is a literal and the subquery is ordered by next_attempt_at, so
    PostgreSQL keeps the partial index outbox_pending_next even in a generic plan
    (see jobs/timers.py). On PostgreSQL the ids are taken with SKIP LOCKED, so a second
    dispatcher takes the next rows instead of waiting for ours, and inside ARRAY(...),
    which runs once: as a plain `id IN (subquery)` the planner may re-run a locking
    subquery for every row and update far more than batch_size rows. The locked rows
    stay ours until the UPDATE commits; SQLite runs one writer at a time anyway."""
    due = "SELECT id FROM outbox WHERE status = 'pending' AND next_attempt_at <= {} ORDER BY next_attempt_at LIMIT {}"
    if postgres:
        due_ids = WhereRaw("id = ANY(ARRAY(" + due + " FOR UPDATE SKIP LOCKED))", now, batch_size)
    else:
        due_ids = WhereRaw("id IN (" + due + ")", now, batch_size)
    return (
        Outbox.update({Outbox.next_attempt_at: now + lease, Outbox.attempts: Outbox.attempts + 1})
        .where(due_ids & WhereRaw("status = 'pending'"))
        .returning(
            Outbox.id, Outbox.organisation, Outbox.instance, Outbox.kind, Outbox.recipient,
            Outbox.attempts, Outbox.created_at,
        )
    )


async def claim(db: Database, now: datetime, batch_size: int, lease: timedelta) -> list[dict]:
    rows = (await db.write([claim_query(now, batch_size, postgres=not db.is_sqlite, lease=lease)]))[0]
    return sorted(rows, key=lambda row: row["id"])


class Lease:
    """The claimed rows this dispatcher still holds: renewed every third of the lease while
    it works on them, given back at once if the work ends with an error or is cancelled.

    Renewal and release touch only rows that are still pending *with the claim's own
    next_attempt_at*: a row already marked sent, failed or set to retry later is left alone
    (an optimistic check, so the timer task and the sends need no lock between them)."""

    def __init__(self, db: Database, clock, ids: list[int], until: datetime, length: timedelta):
        self.db, self.clock, self.length = db, clock, length
        self.held = set(ids)
        self.until = until

    def done(self, outbox_id: int) -> None:
        self.held.discard(outbox_id)

    @contextlib.asynccontextmanager
    async def kept(self):
        renewer = asyncio.create_task(self._renew_periodically())
        try:
            yield self
        except BaseException:
            renewer.cancel()
            # Shielded: a cancelled job (scheduler shutdown) still gives its mails back.
            await asyncio.shield(self._release_quietly())
            raise
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer

    async def _renew_periodically(self) -> None:
        while self.held:
            await asyncio.sleep(self.length.total_seconds() / 3)
            try:
                await self.renew()
            except Exception as exc:  # the database may be restarting; the lease still runs out
                log.warning("Could not renew the claim on %s mail(s): %s", len(self.held), type(exc).__name__)

    async def renew(self) -> None:
        until = self.clock.now() + self.length
        rows = await self._move(until)
        self.held &= {row["id"] for row in rows}
        self.until = until

    async def release(self) -> None:
        await self._move(self.clock.now())
        self.held.clear()

    async def _release_quietly(self) -> None:
        if not self.held:
            return
        try:
            await self.release()
        except Exception as exc:
            log.warning("Could not give back %s claimed mail(s) (%s); they return when the lease ends",
                        len(self.held), type(exc).__name__)

    async def _move(self, next_attempt_at: datetime) -> list[dict]:
        if not self.held:
            return []
        query = (
            Outbox.update({Outbox.next_attempt_at: next_attempt_at})
            .where(Outbox.id.is_in(sorted(self.held)) & (Outbox.status == "pending") & (Outbox.next_attempt_at == self.until))
            .returning(Outbox.id)
        )
        return (await self.db.write([query]))[0]


# -- delivering --------------------------------------------------------------------------


async def _deliver_batch(
    dispatcher: Dispatcher, claimed: list[dict], total: DispatchResult, lease: Lease, connections: SmtpConnections | None
) -> bool:
    """Send the batch; True if the mail server is down (the rest waits for its backoff)."""
    # A row whose lease could not be renewed in time may be another dispatcher's now.
    rows = [row for row in claimed if row["id"] in lease.held]
    settings = dispatcher.settings
    if not settings.smtp_host and not settings.is_development:
        # Production never keeps mails (with live links) in the database: the mail waits
        # in the outbox, without a link, until a mail server is configured (REL-2).
        await _retry_all(dispatcher, rows, "Kein Mailserver eingerichtet (PARTNERPORTAL_SMTP_HOST).", total, lease)
        return True
    now = dispatcher.clock.now()
    try:
        prepared = await mail_preparation.prepare_batch(dispatcher, rows, now)
    except Exception as exc:
        if is_outage(exc):
            raise  # not the mails' fault: the lease gives the batch back, no attempt is lost
        prepared = [Prepared(row, error=exc) for row in rows]
    ready, cancel_steps = [], []
    for item in prepared:
        row = item.row
        if item.error is not None:
            log.error("Mail %s (outbox %s) could not be prepared", row["kind"], row["id"], exc_info=item.error)
            total.add(await _retry(dispatcher, row, f"Interner Fehler: {type(item.error).__name__}", total))
            lease.done(row["id"])
        elif item.cancelled:
            cancel_steps.append(_mark_step(row["id"], {Outbox.status: "cancelled", Outbox.last_error: item.cancelled}))
            log.info("Mail %s (outbox %s) not sent: %s", row["kind"], row["id"], item.cancelled)
        else:
            ready.append(item)
    server_down = False
    if connections is None:
        await _into_dev_mailbox(dispatcher, ready, cancel_steps, now)
        accepted = ready
    else:
        # The links exist before the mails that carry them; a mail that then fails leaves
        # an unused hash behind, which expires with the invitation.
        link_steps = links.issue_steps([item.link for item in ready if item.link is not None])
        if link_steps or cancel_steps:
            await dispatcher.db.write([*link_steps, *cancel_steps])
        accepted, server_down = await _send_all(dispatcher, ready, total, lease, connections, now)
        if accepted:
            await dispatcher.db.write([_mark_step(
                [item.row["id"] for item in accepted],
                {Outbox.status: "sent", Outbox.sent_at: now, Outbox.last_error: ""},
            )])
    for item in prepared:
        if item.cancelled:
            lease.done(item.row["id"])
            total.add("cancelled")
    for item in accepted:
        log.info("Mail %s (outbox %s) sent, attempt %s", item.row["kind"], item.row["id"], item.row["attempts"])
        lease.done(item.row["id"])
    total.add("sent", len(accepted))
    return server_down


async def _into_dev_mailbox(dispatcher: Dispatcher, ready: list[Prepared], cancel_steps: list[Step], now: datetime) -> None:
    """Development without SMTP: links, mailbox entries and "sent" in one transaction."""
    mail_from = dispatcher.settings.mail_from
    steps = [*cancel_steps, *links.issue_steps([item.link for item in ready if item.link is not None])]
    for item in ready:
        steps.append(_dev_mail_step(item.row, item.mail, message_id(item.row["id"], mail_from), now))
    if ready:
        steps.append(_mark_step([item.row["id"] for item in ready], {Outbox.status: "sent", Outbox.sent_at: now, Outbox.last_error: ""}))
    if steps:
        await dispatcher.db.write(steps)


async def _send_all(
    dispatcher: Dispatcher, ready: list[Prepared], total: DispatchResult, lease: Lease,
    connections: SmtpConnections, now: datetime,
) -> tuple[list[Prepared], bool]:
    """The mails the server accepted, and whether it is down; failures are recorded as they come."""
    settings, by_id = dispatcher.settings, {item.row["id"]: item for item in ready}
    try:
        sender = mime.sender(settings.mail_from)
    except mime.InvalidAddress:
        await _retry_all(dispatcher, [item.row for item in ready], "Absenderadresse ungültig (PARTNERPORTAL_MAIL_FROM).", total, lease)
        return [], True
    outgoing = []
    for item in ready:
        row = item.row
        try:
            recipient = mime.envelope_address(row["recipient"])
        except mime.InvalidAddress:
            total.add(await _mark_failed(dispatcher.db, row, "Ungültige Empfängeradresse."))
            lease.done(row["id"])
            continue
        data = mime.compose(
            sender, recipient, item.mail.subject, item.mail.text, item.mail.html,
            message_id(row["id"], settings.mail_from), now,
        )
        outgoing.append(Outgoing(row["id"], sender.address, recipient, data))
    accepted: list[Prepared] = []
    down: list[bool] = []

    async def report(mail: Outgoing, failure: Exception | None) -> None:
        row = by_id[mail.key].row
        if failure is None:
            accepted.append(by_id[mail.key])
            return
        if isinstance(failure, PermanentFailure):
            outcome = await _mark_failed(dispatcher.db, row, failure.reason)
        else:
            down.append(failure.server_down)
            outcome = await _retry(dispatcher, row, failure.reason, total)
        total.add(outcome)
        lease.done(row["id"])

    await connections.send(outgoing, report)
    return accepted, any(down)


async def _retry_all(dispatcher: Dispatcher, rows: list[dict], reason: str, total: DispatchResult, lease: Lease) -> None:
    for row in rows:
        total.add(await _retry(dispatcher, row, reason, total))
        lease.done(row["id"])


def _dev_mail_step(row: dict, mail, message_id_value: str, now: datetime) -> Step:
    return Step(DevMail.insert(DevMail(
        outbox=row["id"], recipient=row["recipient"], subject=mail.subject,
        text=mail.text, html=mail.html, message_id=message_id_value, created_at=now,
    )))


# -- recording the outcome ------------------------------------------------------------------


def backoff(attempts: int) -> timedelta:
    """1, 2, 4, ... minutes after the n-th failed attempt, at most an hour."""
    return min(RETRY_FIRST * 2 ** max(attempts - 1, 0), RETRY_LONGEST)


async def _retry(dispatcher: Dispatcher, row: dict, reason: str, total: DispatchResult) -> str:
    outcome = await _retry_later(dispatcher, row, reason)
    if outcome == "retried":
        total.retry_reasons[_short(reason)] += 1
    return outcome


async def _retry_later(dispatcher: Dispatcher, row: dict, reason: str) -> str:
    if row["attempts"] >= dispatcher.settings.mail_max_attempts:
        return await _mark_failed(dispatcher.db, row, f"{reason} (aufgegeben nach {row['attempts']} Versuchen)")
    retry_at = dispatcher.clock.now() + backoff(row["attempts"])
    await _mark(dispatcher.db, row["id"], {Outbox.next_attempt_at: retry_at, Outbox.last_error: _short(reason)})
    # One line per mail only at debug level: the round's summary says why (jobs/scheduler.py).
    log.debug("Mail %s (outbox %s) not sent (%s); next attempt at %s", row["kind"], row["id"], reason, retry_at.isoformat())
    return "retried"


async def _mark_failed(db: Database, row: dict, reason: str) -> str:
    await _mark(db, row["id"], {Outbox.status: "failed", Outbox.last_error: _short(reason)})
    log.error("Mail %s (outbox %s) failed permanently: %s", row["kind"], row["id"], reason)
    return "failed"


def _mark_step(outbox_ids: int | list[int], values: dict) -> Step:
    ids = Outbox.id.is_in(outbox_ids) if isinstance(outbox_ids, list) else Outbox.id == outbox_ids
    return Step(Outbox.update(values).where(ids & (Outbox.status == "pending")))


async def _mark(db: Database, outbox_id: int, values: dict) -> None:
    await db.write([_mark_step(outbox_id, values)])


def _short(reason: str) -> str:
    return " ".join(reason.split())[:ERROR_LENGTH]
