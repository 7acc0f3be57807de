"""Smaller findings of the security probes (issue 8, section 4): deleting a person ends
their device, activation codes are stored keyed, production cookies and headers,
the SMTP warning."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging

from db.tables import ActivationCode, Device
from tests.integration.test_twofactor import PIN, activated, registered
from tests.support.app import running_app


async def test_pin5_deleting_a_person_revokes_their_device(settings, factory, db, clock, service):
    """PIN-5: after "Löschen" the person's app is no longer registered, at once."""
    async with running_app(settings, clock) as (_, client):
        record, _, app = await activated(settings, factory, db, clock, client)
        assert (await app.requests()).status_code == 200
        await service.send(record.id, "delete", actor="account:1")
        refused = await app.requests()
        assert refused.status_code == 401 and "nicht (mehr) registriert" in refused.json()["error"]
    device = await db.fetch_one(Device.select(Device.revoked_at).where(Device.account == record.account_id))
    assert device["revoked_at"] is not None


async def test_act1_activation_codes_are_stored_keyed_with_the_secret(settings, factory, db, clock):
    """ACT-1: the stored hash of an 8-digit code is an HMAC with the secret key; the
    plain SHA-256 an offline attacker could reverse by trying all 10^8 codes is not stored."""
    async with running_app(settings, clock) as (_, client):
        record, _, grouped = await registered(settings, factory, db, clock, client)
    code = grouped.replace(" ", "")
    stored = (await db.fetch_one(ActivationCode.select(ActivationCode.code_hash).where(ActivationCode.instance == record.id)))["code_hash"]
    unkeyed = hashlib.sha256(f"{record.id}:{code}".encode()).hexdigest()
    assert stored != unkeyed
    assert stored == hmac.new(settings.secret_key.encode(), f"{record.id}:{code}".encode(), hashlib.sha256).hexdigest()
    other_key = hmac.new(b"another-secret-key-of-32-characters!!", f"{record.id}:{code}".encode(), hashlib.sha256).hexdigest()
    assert stored != other_key

