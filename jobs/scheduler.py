"""APScheduler wiring. Every process may run one: the jobs claim work atomically in
the database, so two schedulers never do the same work twice.

On PostgreSQL (with `wakeups`) the timer sweep and the mail dispatcher run when a NOTIFY
says there is new work, and otherwise every PARTNERPORTAL_WAKE_FALLBACK_SECONDS; on
SQLite they run every PARTNERPORTAL_SWEEP_INTERVAL_SECONDS. The mail dispatcher keeps
its SMTP connections between rounds (closed after a round that found nothing to send,
and by `stop_scheduler`)."""

from __future__ import annotations

import asyncio
import logging
from datetime import timezone

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from db import funnel
from db.outage import is_outage
from db.wakeups import OUTBOX, TIMER, Bell, WakeUps, ring_when_due
from jobs.outbox import dispatch_due_mail
from jobs.smtp import SmtpConnections
from jobs.retention import purge_expired_data
from jobs.simulations import run_simulations
from jobs.timers import fire_due_timers
from core.settings import Settings
from core.signing import Signer
from workflows.service import FlowService

log = logging.getLogger(__name__)
# Deltas wait at most this long (reads include them anyway; this keeps their table small).
FUNNEL_COMPACT_SECONDS = 30.0
# Retention is about days: looking every ten minutes is plenty.
RETENTION_INTERVAL_SECONDS = 600


async def sweep_timers(service: FlowService, batch_size: int) -> None:
    try:
        result = await fire_due_timers(service, batch_size)
    except Exception as exc:  # keep the scheduler alive while e.g. the database restarts
        _log_failure("Timer sweep", exc)
        return
    if result.fired or result.cancelled:
        log.info("Timers: %s fired, %s cancelled, %s lost to other processes", result.fired, result.cancelled, result.conflicts)
    if result.failed:  # each was logged with its error; they are tried again after their claim runs out
        log.warning("Timers: %s failed and stay pending (ids %s)", len(result.failed), ", ".join(map(str, result.failed[:20])))


async def send_mail(service: FlowService, settings: Settings, signer: Signer, connections: SmtpConnections | None = None) -> None:
    """One round; `connections` (the process's, see create_scheduler) stay open for the
    next round while there is mail, and are closed (QUIT) when a round finds none."""
    try:
        result = await dispatch_due_mail(service.db, settings, service.clock, service.registry, signer, connections=connections)
    except Exception as exc:  # as above: unfinished mails were given back (or their lease runs out)
        _log_failure("Mail dispatch", exc)
        return
    if connections is not None and not result.handled:
        await connections.close()  # idle: a mail server drops idle connections anyway
    if result.handled:
        summary = "Mail: %s sent, %s to retry, %s failed, %s cancelled"
        args = [result.sent, result.retried, result.failed, result.cancelled]
        if result.retry_reasons:
            # One line per round, however many mails wait: the reasons with their counts.
            summary += "; retry because: %s"
            args.append("; ".join(f"{reason} ({count}x)" for reason, count in result.retry_reasons.most_common(3)))
        (log.warning if result.retried else log.info)(summary, *args)


def _log_failure(job: str, exc: Exception) -> None:
    if is_outage(exc):  # expected during a restart: one line, no traceback
        log.warning("%s: database unavailable (%s); it will run again at the next interval", job, type(exc).__name__)
    else:
        log.error("%s failed; it will run again at the next interval", job, exc_info=exc)


async def compact_funnel(service: FlowService) -> None:
    """Fold the funnel's counter deltas (db/funnel.py) until none is left."""
    try:
        while await funnel.compact(service.db) == funnel.COMPACT_BATCH:
            pass
    except Exception as exc:  # as above: the deltas stay until the next run
        _log_failure("Funnel compaction", exc)


async def simulate_drafts(service: FlowService) -> None:
    """Simulations started on the Vorschau page, and those a crashed process left."""
    try:
        await run_simulations(service.db, service.clock)
    except Exception as exc:  # as above: the simulation resumes from its last chunk
        _log_failure("Simulation", exc)


async def run_when_woken(job, args: list, bell: Bell, fallback_seconds: float, gather_seconds: float = 0.0) -> None:
    """Run `job` now, then whenever the bell rings (and `gather_seconds` more, see
    Bell.wait), at the latest every `fallback_seconds`; for as long as the scheduler runs
    (its shutdown cancels this). One loop per job: it never runs twice at once, and a
    ring while it runs makes it run again right after."""
    try:
        while True:
            await job(*args)
            await bell.wait(fallback_seconds, gather_seconds)
    except asyncio.CancelledError:
        # The scheduler's shutdown: end quietly (APScheduler would log it as a failed job).
        return


def _add_woken_job(scheduler: AsyncIOScheduler, job, args: list, job_id: str, kind: str, service: FlowService,
                   wakeups: WakeUps, gather_seconds: float = 0.0) -> None:
    bell = Bell()
    fallback = wakeups.fallback_seconds
    wakeups.on(kind, ring_when_due(bell, lambda: service.clock.now().timestamp(), within=fallback))
    # A job without a trigger runs once, at start; this one then loops until shutdown.
    scheduler.add_job(run_when_woken, args=[job, args, bell, fallback, gather_seconds], id=job_id)


class Scheduler(AsyncIOScheduler):
    """APScheduler, and the SMTP connections its mail job keeps between rounds."""

    smtp_connections: SmtpConnections | None = None


async def stop_scheduler(scheduler: AsyncIOScheduler) -> None:
    """Shut the scheduler down (running jobs are cancelled) and say goodbye to the mail server."""
    scheduler.shutdown(wait=False)
    connections = getattr(scheduler, "smtp_connections", None)
    if connections is not None:
        await connections.close()


def create_scheduler(
    service: FlowService,
    interval_seconds: float,
    batch_size: int,
    settings: Settings | None = None,
    signer: Signer | None = None,
    wakeups: WakeUps | None = None,
) -> Scheduler:
    """The timer sweep; with `settings`, also the outbox dispatcher (SMTP or development
    mailbox). With active `wakeups` (PostgreSQL), both run when notified."""
    scheduler = Scheduler(
        timezone=timezone.utc,
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 30},
    )
    woken = wakeups if wakeups is not None and wakeups.active else None
    if woken:
        _add_woken_job(scheduler, sweep_timers, [service, batch_size], "sweep_timers", TIMER, service, woken)
    else:
        scheduler.add_job(
            sweep_timers,
            "interval",
            seconds=interval_seconds,
            args=[service, batch_size],
            id="sweep_timers",
            # Run at once on start: timers that fell due during downtime fire now.
            next_run_time=service.clock.now(),
        )
    scheduler.add_job(
        compact_funnel,
        "interval",
        seconds=max(interval_seconds, FUNNEL_COMPACT_SECONDS),
        args=[service],
        id="compact_funnel",
    )
    scheduler.add_job(
        simulate_drafts, "interval", seconds=interval_seconds, args=[service], id="simulate_drafts",
        next_run_time=service.clock.now(),
    )
    if settings is not None:
        # One set of SMTP connections per process, kept between rounds.
        scheduler.smtp_connections = SmtpConnections(settings) if settings.smtp_host else None
        mail_args = [service, settings, signer or Signer(settings.secret_key), scheduler.smtp_connections]
        if woken:
            _add_woken_job(scheduler, send_mail, mail_args, "send_mail", OUTBOX, service, woken,
                           gather_seconds=settings.mail_gather_ms / 1000)
        else:
            scheduler.add_job(
                send_mail,
                "interval",
                seconds=interval_seconds,
                args=mail_args,
                id="send_mail",
                next_run_time=service.clock.now(),
            )
        scheduler.add_job(
            purge_expired_data,
            "interval",
            seconds=RETENTION_INTERVAL_SECONDS,
            args=[service.db, settings, service.clock],
            id="retention",
            next_run_time=service.clock.now(),
        )
    return scheduler
