"""The login's way back to the page asked for (issue 11, defect 3): only a same-site path
is carried through the login; a foreign address never reaches the form or the cookie."""

from __future__ import annotations

import re

import pytest

from tests.support.app import running_app
from tests.support.invitee import csrf_of
from web.return_path import RETURN_COOKIE


@pytest.mark.parametrize(("given", "carried"), [
    ("/postfach", "/postfach"),
    ("%2Fnutzerverwaltung%2F%3Fq%3Da", "/nutzerverwaltung/%3Fq%3Da"),
    ("https%3A%2F%2Fevil.example%2F", None),
    ("%2F%2Fevil.example%2F", None),
    ("%2F%5Cevil.example", None),
])
async def test_the_login_form_carries_only_a_path_of_the_portal(settings, db, given, carried):
    async with running_app(settings) as (_, client):
        page = await client.get(f"/anmelden?weiter={given}")
        action = re.search(r'<form method="post" action="([^"]*)"', page.text).group(1)
        assert action == (f"/anmelden?weiter={carried}" if carried else "/anmelden")
        started = await client.post(f"/anmelden?weiter={given}", data={"username": "niemand@example.org"},
                                    headers={"X-CSRFToken": csrf_of(page.text)})
        assert started.status_code == 303
        cookie = started.cookies.get(RETURN_COOKIE)
        if carried:
            assert cookie is not None and "Path=/anmelden" in ";".join(started.headers.get_list("set-cookie"))
        else:
            assert cookie is None
