"""Drafts of new flow versions (flow studio): queries only."""

from __future__ import annotations

from datetime import datetime

from db.engine import Database, Step
from db.tables import Account, FlowDraft

OPEN, PUBLISHED = "open", "published"


async def create(db: Database, name: str, base_version: int, text: str, actor: str, now: datetime, extra: list[Step]) -> int:
    rows = await db.write(
        [
            Step(
                FlowDraft.insert(
                    FlowDraft(flow_name=name, base_version=base_version, text=text, status=OPEN, created_by=actor,
                              created_at=now, updated_at=now)
                ).returning(FlowDraft.id),
                expect_rows=1,
            ),
            *extra,
        ]
    )
    return rows[0][0]["id"]


async def get(db: Database, draft_id: int) -> dict | None:
    return await db.fetch_one(FlowDraft.select().where(FlowDraft.id == draft_id))


async def open_drafts(db: Database) -> list[dict]:
    return await db.fetch(
        FlowDraft.select(FlowDraft.id, FlowDraft.flow_name, FlowDraft.base_version, FlowDraft.updated_at)
        .where(FlowDraft.status == OPEN)
        .order_by(FlowDraft.id, ascending=False)
    )


def save_step(draft_id: int, text: str, updated_at: datetime, now: datetime) -> Step:
    """Only an open draft, and only if nobody saved it since `updated_at` was read."""
    return Step(
        FlowDraft.update({FlowDraft.text: text, FlowDraft.updated_at: now})
        .where((FlowDraft.id == draft_id) & (FlowDraft.status == OPEN) & (FlowDraft.updated_at == updated_at))
        .returning(FlowDraft.id),
        expect_rows=1,
    )


def published_step(draft_id: int, version: int, now: datetime) -> Step:
    return Step(
        FlowDraft.update({FlowDraft.status: PUBLISHED, FlowDraft.published_version: version, FlowDraft.updated_at: now})
        .where((FlowDraft.id == draft_id) & (FlowDraft.status == OPEN))
        .returning(FlowDraft.id),
        expect_rows=1,
    )


async def product_owner_names(db: Database, account_ids: list[int], role: str) -> dict[int, str]:
    """Names of product owners (operator staff) only; nobody else's name is shown in the studio."""
    if not account_ids:
        return {}
    rows = await db.fetch(
        Account.select(Account.id, Account.first_name, Account.last_name).where(
            Account.id.is_in(sorted(set(account_ids))) & (Account.role == role)
        )
    )
    return {r["id"]: f"{r['first_name']} {r['last_name']}".strip() or f"Konto {r['id']}" for r in rows}
