"""Consent records (PRIV-1..3): append-only; the newest record per document decides."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from db.audit import audit_step
from db.engine import Database, Deferred, Results, Sql, Step
from db.tables import ConsentRecord, WebSession

# The newest record of one document for one account (ids grow with time, as in history()).
_LATEST = (
    'SELECT 1 FROM "consent_record" WHERE "id" = '
    '(SELECT max("id") FROM "consent_record" WHERE "account" = {} AND "document" = {})'
)
# Written only when it changes something: giving what the newest record already gives
# (a double click, a reload, parallel posts) or withdrawing what is not given adds nothing.
_WRITE_IF = {
    "given": "NOT EXISTS (" + _LATEST + " AND \"action\" = 'given' AND \"version\" = {})",
    "withdrawn": "EXISTS (" + _LATEST + " AND \"action\" = 'given')",
}


def record_step(account_id: int, organisation_id: int, document: str, version: str, text_sha256: str,
                action: str, now: datetime, client_ip: str = "") -> Step:
    return Step(
        ConsentRecord.insert(
            ConsentRecord(
                account=account_id, organisation=organisation_id, document=document, version=version,
                text_sha256=text_sha256, action=action, created_at=now, client_ip=client_ip,
            )
        )
    )


def change_steps(db: Database, account_id: int, organisation_id: int, documents: Sequence, action: str,
                 now: datetime, client_ip: str, audit_event: str, required: Sequence | None = None) -> list[Step | Deferred]:
    """Give or withdraw consent to `documents` (objects with key, version and sha256), each
    only where it changes the newest record, plus one audit event naming what changed;
    with `required` (the documents everyone must accept), the stamp on the account's
    sessions follows in the same transaction.

    Check and insert are one statement per document. On PostgreSQL a transaction lock per
    account comes first, so parallel requests of one person decide one after the other,
    each seeing what the one before committed; SQLite has one writer at a time anyway."""
    if not documents:
        return []
    steps: list[Step | Deferred] = []
    # PostgreSQL does not take the types of a SELECT list from the INSERT's columns.
    values = ("{}, {}, {}, {}, {}, {}, {}, {}" if db.is_sqlite else
              "{}::integer, {}::integer, {}::varchar, {}::varchar, {}::varchar, {}::varchar, {}::timestamptz, {}::varchar")
    steps += lock_steps(db, account_id)
    for doc in documents:
        condition_values = (account_id, doc.key, doc.version) if action == "given" else (account_id, doc.key)
        steps.append(Step(Sql(
            ConsentRecord,
            'INSERT INTO "consent_record" ("account", "organisation", "document", "version", "text_sha256", "action", '
            f'"created_at", "client_ip") SELECT {values} WHERE {_WRITE_IF[action]} RETURNING "id"',
            account_id, organisation_id, doc.key, doc.version, doc.sha256, action, now, client_ip, *condition_values,
        )))

    def audit(results: Results) -> list[Step]:
        # The inserts are the len(documents) steps right before this one.
        changed = {doc.key: doc.version for doc, rows in zip(documents, results[-len(documents):]) if rows}
        if not changed:
            return []
        return [audit_step(audit_event, now, actor=f"account:{account_id}", organisation_id=organisation_id,
                           client_ip=client_ip, details=changed)]

    steps.append(Deferred(audit))
    if required is not None:
        steps.append(stamp_sessions_step(account_id, required))
    return steps


def lock_steps(db: Database, account_id: int) -> list[Step]:
    """On PostgreSQL a transaction lock per account, so that whoever changes or reads the
    account's consent records in a write sees what the one before committed."""
    if db.is_sqlite:
        return []  # one writer at a time anyway
    return [Step(Sql(ConsentRecord, "SELECT pg_advisory_xact_lock(hashtext({}))", f"consent:{account_id}"))]


def stamp(documents: Sequence) -> str:
    """What a session stores of the documents its person has accepted: keys and versions.
    A new version of a document gives another stamp, so the person is asked again."""
    return ";".join(f"{doc.key}={doc.version}" for doc in documents)


def stamp_sessions_step(account_id: int, required: Sequence, *, token_hash: str | None = None,
                        session_id: int | None = None) -> Step:
    """Stamps the account's live sessions (or the one of `token_hash` or `session_id`) with the required
    documents if the newest record of each gives its current version, else with nothing.
    It runs in the transaction that changed the records (after lock_steps), so a
    withdrawal ends the consent of every session at once (PRIV-3)."""
    conditions = " AND ".join(
        "EXISTS (" + _LATEST + " AND \"action\" = 'given' AND \"version\" = {})" for _ in required
    ) or "1 = 1"
    values: list = [v for doc in required for v in (account_id, doc.key, doc.version)]
    where = '"account" = {} AND "ended_at" IS NULL'
    values += [stamp(required), account_id]
    if token_hash is not None:
        where += ' AND "token_hash" = {}'
        values.append(token_hash)
    if session_id is not None:
        where += ' AND "id" = {}'
        values.append(session_id)
    return Step(Sql(
        WebSession,
        f'UPDATE "web_session" SET "accepted_documents" = CASE WHEN {conditions} THEN {{}} ELSE \'\' END WHERE {where} '
        'RETURNING "accepted_documents"',
        *values,
    ))


async def history(db: Database, account_id: int) -> list[dict]:
    return await db.fetch(
        ConsentRecord.select(
            ConsentRecord.document, ConsentRecord.version, ConsentRecord.text_sha256, ConsentRecord.action,
            ConsentRecord.created_at,
        ).where(ConsentRecord.account == account_id).order_by(ConsentRecord.id)
    )


def current_consents(records: list[dict]) -> dict[str, dict]:
    """The newest record per document (given or withdrawn)."""
    latest: dict[str, dict] = {}
    for record in records:
        latest[record["document"]] = record
    return latest


def missing(records: list[dict], required: list) -> list:
    """Required documents (objects with key and version) without a valid consent."""
    latest = current_consents(records)
    return [
        doc for doc in required
        if not (r := latest.get(doc.key)) or r["action"] != "given" or r["version"] != doc.version
    ]
