"""Vorschau's simulation: the recorded history of the last N days replayed under a draft
with a shorter expiry says which invitations would have ended differently."""

from __future__ import annotations

from tests.support.app import running_app
from tests.support.flow_copies import shipped_text
from tests.support.product_owner import product_owner


async def test_a_shorter_expiry_would_have_expired_an_invitation_still_waiting(settings, db, clock, factory, service):
    waiting = await factory.invite()  # day 0, never starts the registration
    done = await factory.invite()
    clock.advance(hours=1)
    await service.send(done.id, "complete_profile", data={"first_name": "A", "last_name": "B"})
    await service.send(done.id, "activate_device")
    await service.send(done.id, "consent")
    clock.advance(days=19)
    fresh = await factory.invite()  # day 19: its 336 h have not run out
    clock.advance(days=1)
    assert (waiting.state, fresh.state) == ("invited", "invited")

    async with running_app(settings, clock) as (_, client):
        owner = await product_owner(client, db, clock)
        draft = (await owner.post("/ablaeufe/onboarding/entwurf")).headers["location"]
        await owner.post(draft, {"text": shipped_text(version=3, expiry="336h")})

        page = await owner.get(f"{draft}/vorschau", params={"tage": "30"})
        assert page.status_code == 200
        assert "3 Einladungen im Zeitraum nachgespielt." in page.text
        assert "<li>1 Einladung wäre jetzt „Abgelaufen“ statt „Eingeladen“.</li>" in page.text
        assert "„Ablaufen“: 1 Einladung, die nächste am" in page.text

        only_recent = await owner.get(f"{draft}/vorschau", params={"tage": "2"}, headers={"HX-Request": "true"})
        assert only_recent.text.lstrip().startswith('<div id="simulation"')
        assert "1 Einladung im Zeitraum nachgespielt." in only_recent.text
        assert "Keine Einladung stünde heute anders." in only_recent.text

        wrong = await owner.get(f"{draft}/vorschau", params={"tage": "viele"})
        assert wrong.status_code == 422 and "zwischen 1 und 365" in wrong.text
