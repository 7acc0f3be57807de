"""The table's rendered rows are reused only for exactly the same rows in the same
language (web/controllers/users.py rows_html): whatever changes a row shows on the next
load, also when the instance itself did not change."""

from __future__ import annotations

import re
from contextlib import asynccontextmanager

from db.tables import Account, FlowInstance, Outbox
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app


@asynccontextmanager
async def admin_with_app(settings, factory, db, clock):
    organisation_id = await factory.organisation()
    account_id = await factory.account(organisation_id, role="admin")
    token = await login_session(db, clock, account_id, organisation_id)
    async with running_app(settings, clock) as (app, client):
        yield AdminBrowser(client, token), app, organisation_id


def row_of(html: str, email: str) -> str:
    rows = [row for row in re.findall(r"<tr id=\"person-\d+\".*?</tr>", html, re.S) if email in row]
    assert len(rows) == 1, f"expected one row for {email}"
    return rows[0]


def count_rendered_rows(monkeypatch) -> list[str]:
    """Observes (and still calls) the controller's block rendering: the rows blocks rendered."""
    from web.controllers import users

    rendered: list[str] = []

    def render_block(request, template_name, block, context):
        if block == "rows":
            rendered.append(block)
        return original(request, template_name, block, context)

    original = users.render_block
    monkeypatch.setattr(users, "render_block", render_block)
    return rendered


async def test_the_same_rows_are_rendered_once_and_reused(settings, factory, db, clock, monkeypatch):
    rendered = count_rendered_rows(monkeypatch)
    async with admin_with_app(settings, factory, db, clock) as (admin, app, _):
        await admin.invite(email="eva.roth@example.org", first_name="Eva", last_name="Roth")
        rendered.clear()
        first = await admin.get("/nutzerverwaltung/")
        rendered_by_first = len(rendered)
        again = await admin.get("/nutzerverwaltung/")
    assert first.status_code == again.status_code == 200
    assert row_of(first.text, "eva.roth@example.org") == row_of(again.text, "eva.roth@example.org")
    assert (rendered_by_first, len(rendered)) == (1, 1)


async def test_a_changed_name_shows_on_the_next_load_though_the_instance_did_not_change(settings, factory, db, clock):
    async with admin_with_app(settings, factory, db, clock) as (admin, app, organisation_id):
        await admin.invite(email="eva.roth@example.org", first_name="Eva", last_name="Roth")
        before = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
        instance = await db.fetch_one(FlowInstance.select().where(FlowInstance.organisation == organisation_id))
        await db.write([Account.update({Account.last_name: "Rothe-Lang"}).where(Account.id == instance["account"])])
        after = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
        unchanged = await db.fetch_one(FlowInstance.select().where(FlowInstance.id == instance["id"]))
    assert unchanged["version"] == instance["version"]  # only the account changed
    assert "Eva Roth<" in before and "Rothe-Lang" not in before
    assert "Eva Rothe-Lang<" in after


async def test_a_failed_mail_shows_on_the_next_load(settings, factory, db, clock):
    async with admin_with_app(settings, factory, db, clock) as (admin, app, organisation_id):
        await admin.invite(email="eva.roth@example.org", first_name="Eva", last_name="Roth")
        before = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
        await db.write([Outbox.update({Outbox.status: "failed"}).where(Outbox.recipient == "eva.roth@example.org")])
        after = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
    assert "Versand fehlgeschlagen" not in before
    assert "Versand fehlgeschlagen" in after


async def test_the_same_rows_in_another_language_are_rendered_in_that_language(settings, factory, db, clock):
    async with admin_with_app(settings, factory, db, clock) as (admin, app, _):
        await admin.invite(email="eva.roth@example.org", first_name="Eva", last_name="Roth")
        german = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
        kept = len(app.state.table_rows)
        admin.client.cookies.set("pp_lang", "en")
        english = row_of((await admin.get("/nutzerverwaltung/")).text, "eva.roth@example.org")
        kept_after_english = len(app.state.table_rows)
    assert ">Eingeladen<" in german and ">Aktionen<" in german
    assert ">Invited<" in english and ">Actions<" in english
    assert kept_after_english == kept + 1


async def test_admins_of_two_organisations_each_get_only_their_own_rows(settings, factory, db, clock):
    # One process keeps rendered rows for every organisation it serves; what is kept was
    # read for one organisation and can only be found again by the same rows.
    first_org, second_org = await factory.organisation(), await factory.organisation()
    first_token = await login_session(db, clock, await factory.account(first_org, role="admin"), first_org)
    second_token = await login_session(db, clock, await factory.account(second_org, role="admin"), second_org)
    async with running_app(settings, clock) as (app, client):
        first = AdminBrowser(client, first_token)
        await first.invite(email="eva.roth@example.org", first_name="Eva", last_name="Roth")
        first_table = (await first.get("/nutzerverwaltung/")).text
        second = AdminBrowser(client, second_token)  # the same client, now with the other session
        await second.invite(email="max.berg@example.org", first_name="Max", last_name="Berg")
        second_table = (await second.get("/nutzerverwaltung/")).text
        first = AdminBrowser(client, first_token)
        first_again = (await first.get("/nutzerverwaltung/")).text
    assert "eva.roth@example.org" in first_table and "max.berg@example.org" not in first_table
    assert "max.berg@example.org" in second_table and "eva.roth@example.org" not in second_table
    assert "max.berg@example.org" not in first_again
    assert row_of(first_again, "eva.roth@example.org") == row_of(first_table, "eva.roth@example.org")
