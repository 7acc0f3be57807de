"""CSV-Import over HTTP: upload, preview, run in steps, results; limits, re-runs,
concurrent steps, isolation between organisations, CSRF and strict forms."""

from __future__ import annotations

import asyncio
import dataclasses
import re
from contextlib import asynccontextmanager
from datetime import timedelta

from db import csv_imports
from db.csv_imports import NewRow, RowStatus
from db.engine import Database
from db.tables import Account, CsvImport, CsvImportRow, FlowInstance, Outbox, TransitionHistory
from tests.support.admin import AdminBrowser, login_session
from tests.support.app import running_app
from web import csv_import
from web.controllers import users_import
from workflows.invitations import Person, invite
from workflows.mail_limits import MailLimits

BASE = "/nutzerverwaltung/csv-import"
HEADER = "Anrede;Vorname;Nachname;E-Mail\r\n"


class ImportBrowser(AdminBrowser):
    """An admin who uploads lists and runs imports, as a browser without JavaScript would."""

    async def upload(self, data: bytes | str, filename: str = "liste.csv", encoding: str = "utf-8", **kwargs):
        content = data.encode(encoding) if isinstance(data, str) else data
        return await self.post(BASE + "/", files={"datei": (filename, content, "text/csv")}, **kwargs)

    async def upload_and_open(self, data, **kwargs) -> tuple[int, str]:
        response = await self.upload(data, **kwargs)
        assert response.status_code == 303, response.text
        location = response.headers["location"]
        import_id = int(re.search(r"/(\d+)$", location).group(1))
        return import_id, (await self.get(location)).text

    async def step(self, import_id: int, htmx: bool = False, retry: bool = False):
        action = "erneut-einladen" if retry else "einladen"
        return await self.post(f"{BASE}/{import_id}/{action}", htmx=htmx)

    async def run_to_end(self, import_id: int, max_steps: int = 100) -> str:
        for _ in range(max_steps):
            response = await self.step(import_id)
            assert response.status_code == 303, response.text
            page = (await self.get(response.headers["location"])).text
            if ">Weiter</button>" not in page:
                return page
        raise AssertionError("the import did not finish")


@asynccontextmanager
async def import_admin(settings, factory, db, clock, organisation_id=None, role="admin"):
    organisation_id = organisation_id or await factory.organisation()
    account_id = await factory.account(organisation_id, role=role)
    token = await login_session(db, clock, account_id, organisation_id)
    async with running_app(settings, clock) as (app, client):
        yield ImportBrowser(client, token), organisation_id, account_id


def people_csv(count: int, start: int = 0) -> str:
    return HEADER + "".join(f"Frau;Anna;Müller;liste{i}@beispiel.de\r\n" for i in range(start, start + count))


def results(page: str) -> dict[int, str]:
    """Line number -> shown result of each row in the table."""
    found = re.findall(r'<td data-label="Zeile">(\d+)</td>.*?data-result="\w+">([^<]+)</span>', page, re.S)
    return {int(line): label for line, label in found}


def status_text(page: str) -> str:
    return " ".join(re.search(r'<p id="import-status"[^>]*>(.*?)</p>', page, re.S).group(1).split())


def hidden_token(page: str, action: str) -> str:
    """The CSRF token in the hidden field of the form posting to action."""
    form = re.search(rf'<form method="post" action="{re.escape(action)}"[^>]*>\s*<input type="hidden" name="_csrf_token" value="([^"]+)"', page)
    return form.group(1)


async def count(db, table, where=None) -> int:
    query = table.select(table.id)
    if where is not None:
        query = query.where(where)
    return len(await db.fetch(query))


async def test_upload_preview_run_and_results(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, org, admin_id):
        await factory.invite(org, email="known@example.org")
        text = HEADER + (
            "Frau;Anna;Müller;a.mueller@example.org\r\n"
            "Herr;Jörg;Weiß;j.weiss@example.org\r\n"
            "Frau;R2-D2;Tester;r2@example.org\r\n"
            "Frau;Anna;Müller;A.MUELLER@example.org\r\n"
            "divers;Kim;Schmidt;KNOWN@example.org\r\n"
            "keine Angabe;Sam;Öztürk;s.oeztuerk@bücher.de\r\n"
        )
        import_id, preview = await admin.upload_and_open(text, encoding="cp1252", filename="C:\\Users\\me\\Liste Mai.csv")
        assert "Liste Mai.csv" in preview and "Windows-1252" in preview and "Semikolon" in preview
        assert status_text(preview) == (
            "6 Zeilen gelesen: 3 Personen können eingeladen werden, 1 ist bereits eingeladen, 2 Zeilen sind ungültig."
        )
        assert results(preview) == {
            2: "wird eingeladen", 3: "wird eingeladen", 4: "ungültig", 5: "ungültig", 6: "bereits eingeladen", 7: "wird eingeladen",
        }
        assert "Der Vorname darf nur Buchstaben" in preview
        assert "Diese E-Mail-Adresse steht bereits in Zeile 2 der Datei." in preview
        assert "3 Personen jetzt einladen" in preview
        assert await count(db, FlowInstance) == 1  # the preview invites nobody

        done = await admin.run_to_end(import_id)
        assert status_text(done) == "Import abgeschlossen: 3 eingeladen, 1 bereits eingeladen, 2 ungültig."
        assert results(done) == {
            2: "eingeladen", 3: "eingeladen", 4: "ungültig", 5: "ungültig", 6: "bereits eingeladen", 7: "eingeladen",
        }
        assert '<progress id="import-progress" max="3" value="3">3 von 3</progress>' in done
        assert done.count("Zur Person<") == 3
    invited = await db.fetch(
        Account.select(Account.salutation, Account.first_name, Account.last_name, Account.email)
        .where(Account.organisation == org).order_by(Account.id)
    )
    assert invited[-3:] == [
        {"salutation": "Frau", "first_name": "Anna", "last_name": "Müller", "email": "a.mueller@example.org"},
        {"salutation": "Herr", "first_name": "Jörg", "last_name": "Weiß", "email": "j.weiss@example.org"},
        {"salutation": "keine Angabe", "first_name": "Sam", "last_name": "Öztürk", "email": "s.oeztuerk@xn--bcher-kva.de"},
    ]
    history = await db.fetch(TransitionHistory.select().where(TransitionHistory.actor == f"account:{admin_id}"))
    assert [(h["event"], h["client_ip"]) for h in history] == [("invite", "192.0.2.10")] * 3
    assert await count(db, Outbox, Outbox.kind == "invitation") == 4


async def test_without_javascript_each_step_invites_a_few_and_offers_weiter(settings, factory, db, clock, monkeypatch):
    monkeypatch.setattr(users_import, "ROWS_PER_STEP", 2)
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        import_id, _ = await admin.upload_and_open(people_csv(5))
        first = await admin.step(import_id)
        assert first.status_code == 303
        page = (await admin.get(first.headers["location"])).text
        assert status_text(page) == "2 von 5 Personen verarbeitet."
        assert 'role="status"' in page
        assert '<label for="import-progress">' in page and 'max="5" value="2">2 von 5</progress>' in page
        assert ">Weiter</button>" in page and 'action="/nutzerverwaltung/csv-import/' in page
        assert list(results(page).values()) == ["eingeladen", "eingeladen", "wird eingeladen", "wird eingeladen", "wird eingeladen"]
        done = await admin.run_to_end(import_id)
        assert status_text(done) == "Import abgeschlossen: 5 eingeladen, 0 bereits eingeladen, 0 ungültig."
    assert await count(db, FlowInstance) == 5


async def test_with_htmx_a_step_returns_the_run_area_status_and_changed_rows(settings, factory, db, clock, monkeypatch):
    monkeypatch.setattr(users_import, "ROWS_PER_STEP", 2)
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        import_id, preview = await admin.upload_and_open(people_csv(3))
        assert 'hx-post="/nutzerverwaltung/csv-import/' in preview and 'hx-target="#import-run"' in preview
        step = await admin.step(import_id, htmx=True)
        assert step.status_code == 200 and step.headers["vary"] == "HX-Request"
        body = step.text.lstrip()
        assert body.startswith('<div id="import-run">') and "<html" not in body
        assert 'hx-trigger="load delay:50ms, submit"' in body  # continues by itself
        assert '<p id="import-status" hx-swap-oob="innerHTML">2 von 3 Personen verarbeitet.</p>' in body
        assert body.count('hx-swap-oob="true"') == 2  # the two rows just invited
        last = await admin.step(import_id, htmx=True)
        assert "hx-trigger" not in last.text.split('<p id="import-status"')[0]  # finished: no further step
        assert "Import abgeschlossen: 3 eingeladen" in last.text
        assert last.text.count('hx-swap-oob="true"') == 1


async def test_running_the_same_file_again_invites_nobody_twice(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        first_id, _ = await admin.upload_and_open(people_csv(3))
        await admin.run_to_end(first_id)
        outbox_before = await count(db, Outbox)
        # The same import again: nothing is left to do.
        again = await admin.run_to_end(first_id)
        assert status_text(again) == "Import abgeschlossen: 3 eingeladen, 0 bereits eingeladen, 0 ungültig."
        # The same file uploaded again: everyone is known already.
        second_id, preview = await admin.upload_and_open(people_csv(3))
        assert list(results(preview).values()) == ["bereits eingeladen"] * 3
        assert "jetzt einladen" not in preview and "niemand, der noch eingeladen werden kann" in preview
        done = await admin.run_to_end(second_id)
        assert list(results(done).values()) == ["bereits eingeladen"] * 3
    assert await count(db, FlowInstance) == 3 and await count(db, Outbox) == outbox_before


async def test_an_address_invited_between_preview_and_run_is_bereits_eingeladen(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, org, _):
        import_id, _ = await admin.upload_and_open(people_csv(2))
        await factory.invite(org, email="liste1@beispiel.de")
        done = await admin.run_to_end(import_id)
        assert results(done) == {2: "eingeladen", 3: "bereits eingeladen"}
    assert await count(db, FlowInstance) == 2


async def test_the_hourly_limit_stops_the_run_and_a_later_retry_invites_the_rest(settings, factory, db, clock):
    limited = dataclasses.replace(settings, invites_per_admin_per_hour=2)
    async with import_admin(limited, factory, db, clock) as (admin, _, _):
        import_id, _ = await admin.upload_and_open(people_csv(5))
        done = await admin.run_to_end(import_id)
        assert status_text(done) == "Import abgeschlossen: 2 eingeladen, 0 bereits eingeladen, 0 ungültig, 3 Limit erreicht."
        assert list(results(done).values()) == ["eingeladen"] * 2 + ["Limit erreicht – bitte später erneut importieren"] * 3
        assert "Limit von 2 Einladungen pro Stunde erreicht" in done and "Übrige 3 Personen jetzt einladen" in done
        too_early = await admin.step(import_id, retry=True)
        assert too_early.status_code == 303
        assert await count(db, FlowInstance) == 2
        for _ in range(3):  # an hour later, the session kept alive in between
            clock.advance(minutes=21)
            assert (await admin.get(BASE + "/")).status_code == 200
        retried = await admin.step(import_id, retry=True)
        page = (await admin.get(retried.headers["location"])).text
        assert list(results(page).values()) == ["eingeladen"] * 4 + ["Limit erreicht – bitte später erneut importieren"]
        # Or upload the file again later: the invited ones are known, the rest is invited.
        for _ in range(3):
            clock.advance(minutes=21)
            assert (await admin.get(BASE + "/")).status_code == 200
        second_id, preview = await admin.upload_and_open(people_csv(5))
        assert list(results(preview).values()) == ["bereits eingeladen"] * 4 + ["wird eingeladen"]
        final = await admin.run_to_end(second_id)
        assert status_text(final) == "Import abgeschlossen: 1 eingeladen, 4 bereits eingeladen, 0 ungültig."
    assert await count(db, FlowInstance) == 5


async def test_two_concurrent_steps_invite_every_row_exactly_once(settings, factory, db, clock, monkeypatch):
    monkeypatch.setattr(users_import, "ROWS_PER_STEP", 3)
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        import_id, _ = await admin.upload_and_open(people_csv(20))
        for _ in range(10):
            responses = await asyncio.gather(admin.step(import_id), admin.step(import_id))
            assert all(r.status_code == 303 for r in responses)
        page = (await admin.get(f"{BASE}/{import_id}")).text
        assert list(results(page).values()) == ["eingeladen"] * 20
    assert await count(db, FlowInstance) == 20 and await count(db, Outbox) == 20


async def test_claims_from_two_processes_never_overlap(database_url, factory, db, clock):
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    rows = [NewRow(i + 2, "Frau", "Anna", "Müller", f"p{i}@example.org", [], RowStatus.PENDING) for i in range(60)]
    import_id = await csv_imports.create(db, org, admin_id, "liste.csv", "UTF-8", ";", rows, clock.now())
    handles = [Database(database_url), Database(database_url)]
    for handle in handles:
        await handle.start(pool_size=2)
    try:
        now = clock.now()

        async def claim_all(handle: Database, name: str) -> list[int]:
            mine: list[int] = []
            while claimed := await csv_imports.claim(handle, import_id, name, now, now - timedelta(minutes=2), 4):
                mine += [r.line for r in claimed]
            return mine

        first, second = await asyncio.gather(claim_all(handles[0], "a"), claim_all(handles[1], "b"))
    finally:
        for handle in handles:
            await handle.close()
    assert not set(first) & set(second)
    assert sorted(first + second) == list(range(2, 62))


async def test_a_claim_of_a_step_that_died_is_taken_over(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        import_id, _ = await admin.upload_and_open(people_csv(2))
        now = clock.now()
        assert len(await csv_imports.claim(db, import_id, "dead-process", now, now - timedelta(minutes=2), 10)) == 2
        waiting = await admin.step(import_id, htmx=True)
        assert "Ein anderes Fenster verarbeitet gerade" in waiting.text and "load delay:1s" in waiting.text
        assert await count(db, FlowInstance) == 0
        clock.advance(minutes=3)
        done = await admin.run_to_end(import_id)
        assert list(results(done).values()) == ["eingeladen"] * 2
        assert not await csv_imports.finish(db, (await csv_imports.rows(db, import_id))[0].id, "dead-process", RowStatus.INVITED, None)


async def test_an_error_during_a_step_gives_the_claimed_rows_back(settings, factory, db, clock, monkeypatch):
    real_invite = users_import.invite
    calls = 0

    async def failing_invite(*args, **kwargs):
        nonlocal calls
        calls += 1
        if calls == 2:
            raise RuntimeError("database went away")
        return await real_invite(*args, **kwargs)

    monkeypatch.setattr(users_import, "invite", failing_invite)
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        import_id, _ = await admin.upload_and_open(people_csv(3))
        failed = await admin.step(import_id)
        assert failed.status_code == 500 and "Ein unerwarteter Fehler" in failed.text
        page = (await admin.get(f"{BASE}/{import_id}")).text
        assert list(results(page).values()) == ["eingeladen", "wird eingeladen", "wird eingeladen"]
        assert await count(db, CsvImportRow, CsvImportRow.status == "running") == 0
        done = await admin.run_to_end(import_id)
        assert list(results(done).values()) == ["eingeladen"] * 3
    assert await count(db, FlowInstance) == 3


async def test_another_organisations_import_is_not_found(settings, factory, db, clock):
    other_org = await factory.organisation()
    other_admin = await factory.account(other_org, role="admin")
    rows = [NewRow(2, "Frau", "Anna", "Müller", "victim@example.org", [], RowStatus.PENDING)]
    foreign_id = await csv_imports.create(db, other_org, other_admin, "fremd.csv", "UTF-8", ";", rows, clock.now())
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        view = await admin.get(f"{BASE}/{foreign_id}", headers={"accept": "text/html"})
        assert view.status_code == 404 and "victim@example.org" not in view.text
        assert (await admin.step(foreign_id)).status_code == 404
        assert (await admin.step(foreign_id, retry=True)).status_code == 404
        assert (await admin.step(foreign_id, htmx=True)).status_code == 404
        upload_page = (await admin.get(BASE + "/")).text
        assert "fremd.csv" not in upload_page
    assert await count(db, FlowInstance) == 0
    assert (await csv_imports.rows(db, foreign_id))[0].status == RowStatus.PENDING


async def test_only_admins_may_import(settings, factory, db, clock):
    async with running_app(settings, clock) as (_, client):
        anonymous = await client.get(BASE + "/", headers={"accept": "text/html"})
        assert anonymous.status_code == 401
    async with import_admin(settings, factory, db, clock, role="staff") as (staff, _, _):
        assert (await staff.get(BASE + "/", headers={"accept": "text/html"})).status_code == 403
        home = await staff.get("/")
        token = re.search(r'"X-CSRFToken": "([^"]+)"', home.text).group(1)
        files = {"datei": ("liste.csv", people_csv(1).encode(), "text/csv")}
        refused = await staff.client.post(BASE + "/", files=files, headers={"X-CSRFToken": token, "accept": "text/html"})
        assert refused.status_code == 403 and "keinen Zugriff" in refused.text
    assert await count(db, CsvImport) == 0


async def test_csrf_token_is_required_and_may_come_in_the_form(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        files = {"datei": ("liste.csv", people_csv(1).encode(), "text/csv")}
        refused = await admin.client.post(BASE + "/", files=files, headers={"accept": "text/html"})
        assert refused.status_code == 403 and "Formular ist veraltet" in refused.text
        assert await count(db, CsvImport) == 0
        # A browser without JavaScript sends the token from the form's hidden field.
        form = (await admin.get(BASE + "/")).text
        accepted = await admin.client.post(BASE + "/", files=files, data={"_csrf_token": hidden_token(form, BASE)})
        assert accepted.status_code == 303
        import_id = int(accepted.headers["location"].rsplit("/", 1)[1])
        run = await admin.client.post(f"{BASE}/{import_id}/einladen", headers={"accept": "text/html"})
        assert run.status_code == 403
        assert await count(db, FlowInstance) == 0
        preview = (await admin.get(f"{BASE}/{import_id}")).text
        run_url = f"{BASE}/{import_id}/einladen"
        ran = await admin.client.post(run_url, data={"_csrf_token": hidden_token(preview, run_url)})
        assert ran.status_code == 303
        assert await count(db, FlowInstance) == 1


async def test_a_list_where_one_file_is_expected_is_refused(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        data = people_csv(1).encode()
        two_files = await admin.post(BASE + "/", files=[("datei", ("a.csv", data, "text/csv")), ("datei", ("b.csv", data, "text/csv"))])
        assert two_files.status_code == 422 and "genau eine Datei" in two_files.text
        as_text = await admin.post(BASE + "/", data={"datei": people_csv(1)})
        assert as_text.status_code == 422 and "Bitte wählen Sie eine CSV-Datei aus." in as_text.text
        extra = await admin.post(BASE + "/", data={"organisation": "1"}, files={"datei": ("a.csv", data, "text/csv")})
        assert extra.status_code == 422 and "unerwartete Felder" in extra.text
        nothing = await admin.post(BASE + "/", data={})
        assert nothing.status_code == 422
        assert await count(db, CsvImport) == 0
        import_id, _ = await admin.upload_and_open(people_csv(1))
        smuggled = await admin.post(f"{BASE}/{import_id}/einladen", data={"organisation": ["1", "2"]})
        assert smuggled.status_code == 422 and "unerwartete Felder" in smuggled.text
    assert await count(db, FlowInstance) == 0


async def test_unusable_files_get_a_german_message_next_to_the_field_and_write_nothing(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        missing = await admin.upload("Vorname;Nachname;E-Mail\r\nAnna;Müller;a@example.org\r\n")
        assert missing.status_code == 422
        error = re.search(r'<p class="field-error" id="datei-error">(.*?)</p>', missing.text, re.S)
        assert error and "In der Kopfzeile fehlt die Spalte „Anrede“." in error.group(1)
        assert 'aria-describedby="datei-hint datei-error"' in missing.text and 'aria-invalid="true"' in missing.text
        too_many = await admin.upload(people_csv(csv_import.MAX_ROWS + 1))
        assert too_many.status_code == 422 and f"mehr als {csv_import.MAX_ROWS} Personen" in too_many.text
        big = HEADER + "Frau;Anna;Müller;a@example.org\r\n" + "x" * csv_import.MAX_BYTES
        too_large = await admin.upload(big)
        assert too_large.status_code == 413 and "Die Datei ist zu groß: höchstens 1 MiB" in too_large.text
        huge = await admin.upload("x" * (2 * csv_import.MAX_BYTES))
        assert huge.status_code == 413 and "Die Datei ist zu groß" in huge.text
        # Without JavaScript the token is in the body, which is refused before it is read.
        files = {"datei": ("liste.csv", b"x" * (2 * csv_import.MAX_BYTES), "text/csv")}
        no_js = await admin.client.post(BASE + "/", files=files, data={"_csrf_token": await admin.csrf()})
        assert no_js.status_code == 413 and "Die Datei ist zu groß" in no_js.text and 'id="datei-error"' in no_js.text
        workbook = await admin.upload(b"PK\x03\x04" + b"\x00" * 100, filename="liste.xlsx")
        assert workbook.status_code == 422 and "Excel-Arbeitsmappe" in workbook.text
    assert await count(db, CsvImport) == 0 and await count(db, CsvImportRow) == 0 and await count(db, FlowInstance) == 0


async def test_formula_like_cells_are_shown_as_plain_text(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        text = HEADER + '"=HYPERLINK(""http://evil.example"";""<b>Klick</b>"")";Anna;Müller;a@example.org\r\n'
        text += 'Frau;"<script>alert(1)</script>";Müller;b@example.org\r\n'
        _, preview = await admin.upload_and_open(text)
        assert "=HYPERLINK(&#34;http://evil.example&#34;;&#34;&lt;b&gt;Klick&lt;/b&gt;&#34;)" in preview
        assert "<script>alert(1)</script>" not in preview and "&lt;script&gt;" in preview
        assert list(results(preview).values()) == ["ungültig", "ungültig"]
        assert "jetzt einladen" not in preview


async def test_the_users_table_links_to_the_import_and_the_upload_lists_recent_imports(settings, factory, db, clock):
    async with import_admin(settings, factory, db, clock) as (admin, _, _):
        table = await admin.get("/nutzerverwaltung/")
        assert re.search(r'<a href="/nutzerverwaltung/csv-import/?">CSV-Import</a>', table.text)
        form = (await admin.get(BASE + "/")).text
        assert '<label for="datei">CSV-Datei</label>' in form and 'enctype="multipart/form-data"' in form
        import_id, _ = await admin.upload_and_open(people_csv(1), filename="Mai.csv")
        form = (await admin.get(BASE + "/")).text
        assert f'href="{BASE}/{import_id}">Mai.csv</a>' in form


async def test_old_imports_are_purged(factory, db, clock):
    org = await factory.organisation()
    admin_id = await factory.account(org, role="admin")
    rows = [NewRow(2, "Frau", "Anna", "Müller", "a@example.org", [], RowStatus.PENDING)]
    old = await csv_imports.create(db, org, admin_id, "alt.csv", "UTF-8", ";", rows, clock.now())
    clock.advance(days=31)
    new = await csv_imports.create(db, org, admin_id, "neu.csv", "UTF-8", ";", rows, clock.now())
    assert await csv_imports.purge_before(db, clock.now() - timedelta(days=30)) == 1
    assert await csv_imports.get(db, org, old) is None and await csv_imports.get(db, org, new) is not None
    assert await count(db, CsvImportRow) == 1


async def test_an_address_mailed_enough_today_waits_and_the_other_rows_go_on_lim_1(settings, factory, db, clock, service):
    """LIM-1: CSV rows count against the recipient's daily limit like any invitation;
    only the row of the address that reached it waits for a retry."""
    for _ in range(5):  # five other organisations invited this address today
        other = await factory.organisation()
        await invite(service, other, Person("Frau", "Anna", "Müller", "liste1@beispiel.de"), f"account:{other}", "",
                     MailLimits())
    async with import_admin(settings, factory, db, clock) as (admin, org, _):
        import_id, _ = await admin.upload_and_open(people_csv(3))
        done = await admin.run_to_end(import_id)
        assert results(done) == {
            2: "eingeladen", 3: "Limit erreicht – bitte später erneut importieren", 4: "eingeladen",
        }
    assert await count(db, FlowInstance, FlowInstance.organisation == org) == 2
