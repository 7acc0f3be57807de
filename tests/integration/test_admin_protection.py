"""An organisation keeps a way in (SES-7, PIN-5): an admin cannot lock, delete or reset
their own account, the last admin who can log in cannot be removed, not even by two
admins removing each other at once, and `partnerportal admin restore` gives an admin who
lost access a fresh registration link."""

from __future__ import annotations

import asyncio
import re
import sqlite3

import pytest

from db import devices
from db.tables import Account, Device, FlowInstance, WebSession
from partnerportal.setup import RestoreRefused, restore_admin
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from tests.support.invitee import Invitee
from workflows import admins
from workflows.service import TransitionConflict

REMOVING_EVENTS = ["lock", "delete", "revoke_device"]


async def admin_person(factory, db, organisation_id: int, email: str, state: str = "active") -> tuple[int, int]:
    """An admin who completed the registration (a shortcut for the test's setup): (account id, instance id)."""
    record = await factory.invite(organisation_id, email=email)
    await db.write([
        Account.update({Account.role: "admin"}).where(Account.id == record.account_id),
        FlowInstance.update({FlowInstance.state: state, FlowInstance.context: {"device_bound": True}}).where(FlowInstance.id == record.id),
    ])
    return record.account_id, record.id


async def state_of(db, instance_id: int) -> str:
    return (await db.fetch_one(FlowInstance.select(FlowInstance.state).where(FlowInstance.id == instance_id)))["state"]


@pytest.mark.parametrize("event", REMOVING_EVENTS)
@pytest.mark.parametrize("htmx", [False, True], ids=["form", "htmx"])
async def test_ses7_an_admin_cannot_lock_delete_or_reset_their_own_account(settings, factory, db, clock, event, htmx):
    """SES-7: the acting admin's own row refuses lock, delete and device reset with 409
    and a German reason, before and after the confirmation; nothing is written."""
    organisation = await factory.organisation()
    me, my_instance = await admin_person(factory, db, organisation, "chefin@abc.de")
    await admin_person(factory, db, organisation, "vertretung@abc.de")  # another admin exists: still refused
    token = await login_session(db, clock, me, organisation)
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, token)
        for confirmed in (False, True):
            response = await admin.event(my_instance, event, confirmed=confirmed, htmx=htmx)
            assert response.status_code == 409
            assert str(admins.OWN_ACCESS) in response.text
            assert 'name="confirmed" value="1"' not in response.text  # no confirmation page for a refused move
        if htmx:
            assert f'id="person-{my_instance}"' in response.text and 'id="action-notice" hx-swap-oob="true"' in response.text
        assert (await admin.get("/nutzerverwaltung/")).status_code == 200  # still logged in
    assert await state_of(db, my_instance) == "active"
    sessions = await db.fetch(WebSession.select(WebSession.ended_at).where(WebSession.account == me))
    assert [s["ended_at"] for s in sessions] == [None]


async def test_ses7_an_admin_may_still_remove_another_admin_and_staff(settings, factory, db, clock):
    """SES-7: the rules only protect the last way in; other removals work as before."""
    organisation = await factory.organisation()
    me, _ = await admin_person(factory, db, organisation, "chefin@abc.de")
    _, other_admin = await admin_person(factory, db, organisation, "vertretung@abc.de")
    staff = await factory.invite(organisation, email="pflege@abc.de")
    token = await login_session(db, clock, me, organisation)
    async with running_app(settings, clock) as (_, client):
        admin = AdminBrowser(client, token)
        assert (await admin.event(other_admin, "lock")).status_code == 303
        assert (await admin.event(staff.id, "revoke")).status_code == 303
    assert await state_of(db, other_admin) == "locked"


async def test_ses7_the_check_inside_the_transaction_stops_the_second_of_two_crossing_removals(factory, db, service):
    """SES-7: admins A and B each remove the other; both checks before the write see the
    other admin, and the second write still fails: the organisation keeps one admin."""
    organisation = await factory.organisation()
    a, a_instance = await admin_person(factory, db, organisation, "a@abc.de")
    b, b_instance = await admin_person(factory, db, organisation, "b@abc.de")
    a_removes_b = await admins.check(service, a, organisation, b_instance, "lock")
    b_removes_a = await admins.check(service, b, organisation, a_instance, "lock")
    assert a_removes_b and b_removes_a  # each saw the other as the remaining admin
    await service.send(b_instance, "lock", actor=f"account:{a}", organisation_id=organisation, extra_steps=a_removes_b)
    with pytest.raises(TransitionConflict):
        await service.send(a_instance, "lock", actor=f"account:{b}", organisation_id=organisation, extra_steps=b_removes_a)
    assert (await state_of(db, a_instance), await state_of(db, b_instance)) == ("active", "locked")


async def test_ses7_two_admins_removing_each_other_at_once_leave_one(factory, db, service):
    """SES-7 under real concurrency (both removals at once, ten times): exactly one
    succeeds, the other is refused with the last-admin reason; one admin always remains.
    (Over HTTP the loser may instead find its session already ended by the winner's lock.)"""
    for round_ in range(10):
        organisation = await factory.organisation()
        a, a_instance = await admin_person(factory, db, organisation, f"a{round_}@abc.de")
        b, b_instance = await admin_person(factory, db, organisation, f"b{round_}@abc.de")
        results = await asyncio.gather(
            admins.send_as_admin(service, a, organisation, b_instance, "lock", f"account:{a}", ""),
            admins.send_as_admin(service, b, organisation, a_instance, "lock", f"account:{b}", ""),
            return_exceptions=True,
        )
        refused = [r for r in results if isinstance(r, admins.AdminActionRefused)]
        assert results.count(None) == 1 and len(refused) == 1, results
        assert refused[0].message == str(admins.LAST_ADMIN)
        assert sorted([await state_of(db, a_instance), await state_of(db, b_instance)]) == ["active", "locked"]


# -- partnerportal admin restore ---------------------------------------------------------


async def test_ses7_restore_gives_a_pin_locked_admin_a_working_registration_link(settings, factory, db, clock):
    """SES-7: the organisation's only admin locked their device with wrong PINs; restore
    unlocks them to the device step and the printed link opens the registration."""
    organisation = await factory.organisation("Pflegedienst Abendrot")
    _, my_instance = await admin_person(factory, db, organisation, "chefin@abc.de", state="locked")
    await db.write([FlowInstance.update({FlowInstance.context: {}}).where(FlowInstance.id == my_instance)])  # lock_device cleared it
    events, link = await restore_admin(db, settings, "Pflegedienst Abendrot", "chefin@abc.de")
    assert events == ["unlock"] and await state_of(db, my_instance) == "in_progress"
    path = re.sub(r"^https?://[^/]+", "", link)
    async with running_app(settings, clock) as (_, client):
        person = Invitee(client, db, clock, settings.secret_key)
        started = await person.redeem(path)
        assert started.status_code == 303, started.text
        assert (await person.get(started.headers["location"], follow_redirects=True)).status_code == 200


async def test_pin5_restore_of_an_admin_who_lost_the_phone_revokes_the_old_device(factory, db, clock, settings):
    """PIN-5: an active admin without their phone: restore resets the device (the old app
    stops working, sessions end) and gives a registration link."""
    organisation = await factory.organisation("Pflegedienst Morgenrot")
    me, my_instance = await admin_person(factory, db, organisation, "chefin@abc.de", state="active")
    await db.write([devices.insert_step("old-device-0001", me, organisation, "{}", "x", clock.now())])
    await login_session(db, clock, me, organisation)
    events, link = await restore_admin(db, settings, "Pflegedienst Morgenrot", "chefin@abc.de")
    assert events == ["revoke_device"] and link.startswith("http://test/einladung/")
    assert await state_of(db, my_instance) == "in_progress"
    device = await db.fetch_one(Device.select(Device.revoked_at).where(Device.account == me))
    assert device["revoked_at"] is not None
    ended = await db.fetch(WebSession.select(WebSession.ended_at).where(WebSession.account == me))
    assert len(ended) == 1 and ended[0]["ended_at"] is not None


@pytest.mark.parametrize(
    ("setup", "message"),
    [("staff", "is not an admin"), ("revoked", "cannot get access again"), ("unknown", "has no account"), ("no-org", "No organisation")],
)
async def test_ses7_restore_refuses_what_it_cannot_restore(factory, db, settings, setup, message):
    """SES-7: restore only gives admins access again, and says what to do otherwise."""
    organisation = await factory.organisation("Pflegedienst Mittag")
    if setup == "staff":
        await factory.invite(organisation, email="chefin@abc.de")
    elif setup == "revoked":
        await admin_person(factory, db, organisation, "chefin@abc.de", state="revoked")
    with pytest.raises(RestoreRefused, match=message):
        await restore_admin(db, settings, "Pflegedienst Mittag" if setup != "no-org" else "Gibt es nicht", "chefin@abc.de")


def test_ses7_admin_restore_command_prints_a_registration_link(tmp_path):
    """SES-7: `partnerportal admin restore --org NAME --email ADDRESS`, as the README shows it."""
    from tests.integration.test_cli import run, sqlite_url

    def cli(*args: str):
        return run(*args, cwd=tmp_path, database_url=sqlite_url(tmp_path / "cli.sqlite"))

    assert cli("db", "upgrade").returncode == 0
    assert cli("admin", "create", "--org", "Pflegedienst Abendrot", "--email", "chefin@abc.de").returncode == 0
    with sqlite3.connect(tmp_path / "cli.sqlite") as connection:  # the admin was locked since
        connection.execute("UPDATE flow_instance SET state = 'locked'")
    restored = cli("admin", "restore", "--org", "Pflegedienst Abendrot", "--email", "chefin@abc.de")
    assert restored.returncode == 0, restored.stderr
    assert "Restored chefin@abc.de as admin of Pflegedienst Abendrot (unlock)" in restored.stdout
    assert re.search(r"Registration link:\nhttp://127\.0\.0\.1:8000/einladung/\S+\n", restored.stdout)
    refused = cli("admin", "restore", "--org", "Pflegedienst Abendrot", "--email", "niemand@abc.de")
    assert refused.returncode == 1 and "has no account" in refused.stderr
