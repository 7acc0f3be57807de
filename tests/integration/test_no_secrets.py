"""LOG-2: tokens, codes, PINs and secrets never appear in logs, history or audit rows."""

from __future__ import annotations

import logging

from db.tables import AuditEvent, Outbox, TransitionHistory, WebSession
from core.log_redaction import RedactSecrets, redact
from tests.integration.test_twofactor import PIN, activated, login_request
from tests.support.app import running_app
from web.auth import SESSION_COOKIE


async def test_a_whole_registration_and_login_leaves_no_secret_behind(settings, factory, db, clock, caplog):
    caplog.set_level(logging.DEBUG)
    async with running_app(settings, clock) as (_, client):
        record, person, app = await activated(settings, factory, db, clock, client)
        link = person.link
        public_id, number = await login_request(person, "b.tester@abc.de")
        browser_token = client.cookies.get("pp_login")
        await app.answer((await app.requests()).json()["requests"][0], pin=PIN, number=number)
        done = await person.post(f"/anmelden/weiter/{public_id}")
        session_token = done.cookies.get(SESSION_COOKIE)
    codes = [e["details"] for e in await db.fetch(AuditEvent.select(AuditEvent.details))]
    secrets = {
        "invitation link": link.rsplit("/", 1)[1],
        "PIN": PIN,
        "login browser token": browser_token,
        "session token": session_token,
        "secret key": settings.secret_key,
    }
    assert all(secrets.values()), secrets
    # The test client's own request log shows the URLs it called; the app's logs must not.
    app_logs = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("httpx"))
    stored = "\n".join([str(await db.fetch(t.select())) for t in (TransitionHistory, AuditEvent, Outbox, WebSession)])
    for name, value in secrets.items():
        assert value not in app_logs, f"{name} in the logs"
        assert value not in stored, f"{name} in the database rows"
    assert codes  # the audit log exists and was searched


def test_access_logs_mask_invitation_tokens():
    line = '127.0.0.1:5000 - "GET /einladung/IkJIcDln.d2XzL1MX HTTP/1.1" 200'
    assert redact(line) == '127.0.0.1:5000 - "GET /einladung/… HTTP/1.1" 200'
    record = logging.LogRecord("uvicorn.access", logging.INFO, __file__, 1, '%s - "%s %s HTTP/%s" %d',
                               ("127.0.0.1:5000", "POST", "/einladung/secret-token-value", "1.1", 303), None)
    RedactSecrets().filter(record)
    assert "secret-token-value" not in record.getMessage() and "/einladung/…" in record.getMessage()
