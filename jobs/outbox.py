"""Send the mails of the outbox (REL-1, REL-2).

Each process may run the dispatcher: a small batch of due rows is claimed in one UPDATE
that pushes their `next_attempt_at` a lease (PARTNERPORTAL_OUTBOX_LEASE_SECONDS) into the
future, so a second dispatcher skips them. While it sends, the dispatcher renews the
lease of the rows it still holds; on any error (the database gone, the job cancelled) it
gives them back at once. A process that dies (kill -9) leaves its rows to be claimed
again when the short lease runs out (delivery is at least once; the Message-ID derived
from the row id makes a duplicate recognisable). Mails that carry a link get a fresh token here; only its hash
is stored, and neither the token nor the mail text is written to the outbox row, the
history or the log (LOG-2)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from piccolo.columns.combination import WhereRaw

from db import links
from db.engine import Database, Step
from db.outage import is_outage
from db.tables import DevMail, FlowInstance, Outbox
from core.metrics import SMTP_ERRORS
from core.settings import Settings
from core.signing import Signer
from mail.rendering import LINK_KINDS, MailValues, RenderedMail, render_mail
from workflows.definition import MissingRole
from workflows.durations import format_hours
from workflows.engine import Flow
from workflows import publication
from workflows.registry import FlowRegistry, UnknownFlow

log = logging.getLogger(__name__)

# Small, so a dispatcher that dies holds few mails, and the others take over the rest.
CLAIM_BATCH_SIZE = 10
SMTP_TIMEOUT_SECONDS = 30
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
class Dispatcher:
    db: Database
    settings: Settings
    clock: object
    registry: FlowRegistry
    signer: Signer


async def dispatch_due_mail(
    db: Database, settings: Settings, clock, registry: FlowRegistry, signer: Signer, batch_size: int = CLAIM_BATCH_SIZE
) -> DispatchResult:
    """Send (or, without SMTP, put into the development mailbox) every mail due now."""
    dispatcher = Dispatcher(db, settings, clock, registry, signer)
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    total = DispatchResult()
    while True:
        now = clock.now()
        claimed = await claim(db, now, batch_size, lease)
        if claimed:
            async with Lease(db, clock, [row["id"] for row in claimed], now + lease, lease).kept() as held:
                await _deliver_batch(dispatcher, claimed, total, held)
        if len(claimed) < batch_size:
            return total


def message_id(outbox_id: int, mail_from: str) -> str:
    """Stable per outbox row, so a mail sent twice (at least once delivery) is one mail."""
    domain = parseaddr(mail_from)[1].rpartition("@")[2] or "localhost"
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


async def _deliver_batch(dispatcher: Dispatcher, claimed: list[dict], total: DispatchResult, lease: Lease) -> None:
    for index, row in enumerate(claimed):
        if row["id"] not in lease.held:
            continue  # the lease could not be renewed in time and another dispatcher has it
        try:
            outcome = await _deliver(dispatcher, row)
        except TemporaryFailure as failure:
            if failure.server_down:
                # Nothing else will get through now: give the rest of the batch the same
                # backoff instead of waiting for a timeout per mail.
                for rest in claimed[index:]:
                    total.add(await _retry(dispatcher, rest, failure.reason, total))
                    lease.done(rest["id"])
                return
            outcome = await _retry(dispatcher, row, failure.reason, total)
        except PermanentFailure as failure:
            outcome = await _mark_failed(dispatcher.db, row, failure.reason)
        except Exception as exc:
            if is_outage(exc):
                raise  # not the mail's fault: the lease gives the batch back, no attempt is lost
            # e.g. a broken template: count it as an attempt, keep the batch going
            log.exception("Mail %s (outbox %s) could not be prepared", row["kind"], row["id"])
            outcome = await _retry(dispatcher, row, f"Interner Fehler: {type(exc).__name__}", total)
        lease.done(row["id"])
        total.add(outcome)


async def _deliver(dispatcher: Dispatcher, row: dict) -> str:
    db, now = dispatcher.db, dispatcher.clock.now()
    if not dispatcher.settings.smtp_host and not dispatcher.settings.is_development:
        # Production never keeps mails (with live links) in the database: the mail waits
        # in the outbox, without a link, until a mail server is configured (REL-2).
        raise TemporaryFailure("Kein Mailserver eingerichtet (PARTNERPORTAL_SMTP_HOST).", server_down=True)
    prepared = await _prepare(dispatcher, row, now)
    if isinstance(prepared, str):
        await _mark(db, row["id"], {Outbox.status: "cancelled", Outbox.last_error: prepared})
        log.info("Mail %s (outbox %s) not sent: %s", row["kind"], row["id"], prepared)
        return "cancelled"
    mail, link_steps = prepared
    message = _message(dispatcher.settings, row, mail, now)
    sent = _mark_step(row["id"], {Outbox.status: "sent", Outbox.sent_at: now, Outbox.last_error: ""})
    if not dispatcher.settings.smtp_host:
        # Development mailbox: link, mailbox entry and "sent" in one transaction.
        await db.write([*link_steps, _dev_mail_step(row, mail, message["Message-ID"], now), sent])
    else:
        if link_steps:
            # The link exists before the mail that carries it; a mail that then fails
            # leaves an unused hash behind, which expires with the invitation.
            await db.write(link_steps)
        await _send(dispatcher.settings, message)
        await db.write([sent])
    log.info("Mail %s (outbox %s) sent, attempt %s", row["kind"], row["id"], row["attempts"])
    return "sent"


async def _prepare(dispatcher: Dispatcher, row: dict, now: datetime) -> tuple[RenderedMail, list[Step]] | str:
    """The rendered mail and the statements that issue its link, or why it is not sent."""
    kind, settings = row["kind"], dispatcher.settings
    if not row["recipient"]:
        return "Keine Empfängeradresse (Daten gelöscht)."
    instance = await _instance(dispatcher.db, row["instance"]) if row["instance"] else None
    if instance is not None:  # started on a version another process published a moment ago
        await publication.ensure_known(dispatcher.db, dispatcher.registry, instance["flow_name"], instance["flow_version"])
    values = MailValues(
        portal_name=settings.portal_name,
        portal_name_gender=settings.portal_name_gender,
        primary_color=settings.brand_primary_color,
        organisation_name=instance["organisation_name"] if instance else "",
        role=instance["role"] if instance else "",
        validity_hours=_validity_hours(dispatcher.registry, instance),
        event_at=row["created_at"],
        language=(instance or {}).get("language") or "de",
    )
    if kind not in LINK_KINDS:
        return render_mail(kind, values), []
    if instance is None:
        return "Keine Einladung zu dieser E-Mail."
    if await _superseded(dispatcher.db, row):
        return "Durch eine neuere Einladung ersetzt."
    flow = _flow_of(dispatcher.registry, instance)
    if flow is None or not flow.has_role(instance["state"], "link_open"):
        return "Die Einladung ist nicht mehr offen."
    expiry = flow.timer_for("expiry")
    expires_at = await links.link_expiry(dispatcher.db, instance["id"], now, expiry.after, {expiry.event})
    if expires_at <= now:
        return "Die Einladung ist nicht mehr offen."
    token = links.new_token()
    link = f"{settings.base_url.rstrip('/')}/einladung/{dispatcher.signer.sign('invitation-link', token)}"
    mail = render_mail(kind, MailValues(**{**values.__dict__, "link": link, "expires_at": expires_at}))
    return mail, [links.issue_step(instance["id"], token, now, expires_at)]


async def _instance(db: Database, instance_id: int) -> dict | None:
    return await db.fetch_one(
        FlowInstance.select(
            FlowInstance.id, FlowInstance.flow_name, FlowInstance.flow_version, FlowInstance.state,
            FlowInstance.organisation.name.as_alias("organisation_name"),
            FlowInstance.account.role.as_alias("role"), FlowInstance.account.language.as_alias("language"),
        ).where(FlowInstance.id == instance_id)
    )


def _flow_of(registry: FlowRegistry, instance: dict | None) -> Flow | None:
    if instance is None:
        return None
    try:
        return registry.get(instance["flow_name"], instance["flow_version"])
    except UnknownFlow:
        return None


def _validity_hours(registry: FlowRegistry, instance: dict | None) -> int | None:
    """The invitation's validity as the instance's own flow version defines it (720 h)."""
    flow = _flow_of(registry, instance)
    try:
        return format_hours(flow.timer_for("expiry").after) if flow else None
    except MissingRole:  # a stored version without roles whose ids the current file no longer has
        return None


async def _superseded(db: Database, row: dict) -> bool:
    """A later invitation (a resend) replaces this mail: its links were ended with the resend."""
    newer = await db.fetch_one(
        Outbox.select(Outbox.id)
        .where((Outbox.instance == row["instance"]) & (Outbox.kind == "invitation") & (Outbox.id > row["id"]))
        .limit(1)
    )
    return newer is not None


def _message(settings: Settings, row: dict, mail: RenderedMail, now: datetime) -> EmailMessage:
    message = EmailMessage()
    message["Subject"] = mail.subject
    message["From"] = settings.mail_from
    message["To"] = row["recipient"]
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id(row["id"], settings.mail_from)
    message["Auto-Submitted"] = "auto-generated"
    message["Content-Language"] = "de"
    message.set_content(mail.text)
    message.add_alternative(mail.html, subtype="html")
    return message


def _dev_mail_step(row: dict, mail: RenderedMail, message_id_value: str, now: datetime) -> Step:
    return Step(DevMail.insert(DevMail(
        outbox=row["id"], recipient=row["recipient"], subject=mail.subject,
        text=mail.text, html=mail.html, message_id=message_id_value, created_at=now,
    )))


async def _send(settings: Settings, message: EmailMessage) -> None:
    try:
        await aiosmtplib.send(
            message,
            hostname=settings.smtp_host,
            port=settings.smtp_port,
            username=settings.smtp_user or None,
            password=settings.smtp_password or None,
            use_tls=settings.smtp_security == "tls",
            start_tls=settings.smtp_security == "starttls",
            timeout=SMTP_TIMEOUT_SECONDS,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refusals = exc.recipients or []
        _count_reply(min((r.code for r in refusals), default=550))
        _raise_for_reply(min((r.code for r in refusals), default=550), "; ".join(r.message for r in refusals))
    except (aiosmtplib.SMTPConnectResponseError, aiosmtplib.SMTPHeloError, aiosmtplib.SMTPAuthenticationError) as exc:
        # The server refuses us, not this mail: fix the configuration, nothing is lost.
        SMTP_ERRORS.labels("refused").inc()
        raise TemporaryFailure(f"Mailserver lehnt die Verbindung ab: {exc.code} {exc.message}", server_down=True) from None
    except aiosmtplib.SMTPResponseException as exc:
        _count_reply(exc.code)
        _raise_for_reply(exc.code, exc.message)
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        SMTP_ERRORS.labels("unreachable").inc()
        raise TemporaryFailure(f"Mailserver nicht erreichbar: {type(exc).__name__}", server_down=True) from None


def _count_reply(code: int) -> None:
    SMTP_ERRORS.labels("permanent" if 500 <= code < 600 else "temporary").inc()


def _raise_for_reply(code: int, reply: str) -> None:
    reason = f"{code} {reply}".strip()
    if 500 <= code < 600:
        raise PermanentFailure(reason)
    raise TemporaryFailure(reason)


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


def _mark_step(outbox_id: int, values: dict) -> Step:
    return Step(Outbox.update(values).where((Outbox.id == outbox_id) & (Outbox.status == "pending")))


async def _mark(db: Database, outbox_id: int, values: dict) -> None:
    await db.write([_mark_step(outbox_id, values)])


def _short(reason: str) -> str:
    return " ".join(reason.split())[:ERROR_LENGTH]
