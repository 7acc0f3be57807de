"""Ids no row can have, text with control characters, deeply nested, NUL-carrying or
oversized JSON: a clear 4xx, never a 500 with a database error behind it (LOG-3, SES-7,
SES-8). The property test takes the routes from the app itself, so a new route with a
path or JSON parameter is covered without editing this file."""

from __future__ import annotations

import asyncio
import json
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st

from tests.integration.test_users import admin_of
from tests.support.admin import login_session
from tests.support.app import running_app
from tests.support.server import running_server
from web.app import create_app
from web.auth import SESSION_COOKIE
from web.controllers.app_api import MAX_BODY, MAX_DEPTH
from web.path_parameters import MAX_ID

PLACEHOLDER = re.compile(r"\{(\w+):(\w+)\}")
OUT_OF_RANGE = [2**31, 2**63 - 1, 2**63, 2**64, 10**30, 0, -1, -(2**63) - 1]
ERROR_500 = "Ein unerwarteter Fehler ist aufgetreten"


# -- the plain cases, on each engine ---------------------------------------------------


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_ses7_ids_no_row_can_have_answer_404(settings, factory, db, clock, value):
    """SES-7/LOG-3: 2^31 broke PostgreSQL's integer column, 2^63 SQLite's driver: both 500."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        for response in (
            await admin.get(f"/nutzerverwaltung/{value}", headers={"accept": "text/html"}),
            await admin.post(f"/nutzerverwaltung/{value}/lock", data={"confirmed": "1"}),
            await admin.post(f"/nutzerverwaltung/{record.id}/mail/{value}/erneut-senden"),
            await admin.get(f"/postfach/{value}", headers={"accept": "text/html"}),
        ):
            assert response.status_code == 404 and "Diese Seite gibt es nicht." in response.text, response.request.url
        assert (await admin.get(f"/nutzerverwaltung/{record.id}")).status_code == 200  # a real id still works


@pytest.mark.parametrize("value", OUT_OF_RANGE)
async def test_ses7_page_cursors_no_row_can_have_show_the_first_page(settings, factory, db, clock, value):
    """A cursor is an id (or "name key|account|instance") from a "Weitere Einträge" link;
    one out of range or with a NUL is no position in the table: the first page, not a 500."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        row = f'<tr id="person-{record.id}"'
        for query in (
            {"cursor": str(value)},
            {"cursor": str(value), "sort": "oldest"},
            {"cursor": f"Tester|{value}|1", "sort": "name"},
            {"cursor": f"Tester|1|{value}", "sort": "name"},
            {"cursor": "Te\x00ster|1|1", "sort": "name"},
        ):
            response = await admin.get("/nutzerverwaltung/", params=query, headers={"accept": "text/html"})
            assert response.status_code == 200 and row in response.text, query
        postfach = await admin.get("/postfach", params={"cursor": str(value)}, headers={"accept": "text/html"})
        assert postfach.status_code == 200 and ERROR_500 not in postfach.text


async def test_log3_a_search_with_a_nul_finds_nothing_instead_of_failing(settings, factory, db, clock):
    """PostgreSQL refuses NUL in text: a search for one is a search nobody matches."""
    async with admin_of(settings, factory, db, clock) as (admin, org, _):
        record = await factory.invite(org)
        for query in ({"q": "a\x00b"}, {"q": "\x00", "sort": "name"}, {"q": "\x00\x00\x00\x00"}):
            response = await admin.get("/nutzerverwaltung/", params=query, headers={"accept": "text/html"})
            assert response.status_code == 200 and f'<tr id="person-{record.id}"' not in response.text, query
        postfach = await admin.get("/postfach", params={"q": "a\x00b"}, headers={"accept": "text/html"})
        assert postfach.status_code == 200 and ERROR_500 not in postfach.text


async def test_log3_text_with_a_nul_in_the_path_answers_404(settings, factory, db, clock):
    """LOG-3: PostgreSQL refuses NUL in text; such a path names nothing and answers 404."""
    async with admin_of(settings, factory, db, clock) as (admin, _, _):
        for path in ("/anmelden/warten/a%00b", "/api/app/requests/a%00b/answer", "/dokumente/a%00b", "/static/css/a%00.css"):
            response = await (admin.client.post(path, json={}) if path.startswith("/api/") else admin.get(path))
            assert response.status_code == 404, path


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("[" * 5000 + "]" * 5000, 400),  # the JSON decoder's recursion limit: was a 500
        ('{"device_id": ' + "[" * 50 + "]" * 50 + "}", 400),
        ('{"device_id": {"a": {"b": "c"}}}', 400),
        ('{"device_id": "aaaaaaaaaaaa\\u0000", "timestamp": 1, "signature": "x"}', 400),  # was a 500 on PostgreSQL
        ('{"device_id": "' + "a" * (MAX_BODY + 1) + '"}', 413),
    ],
    ids=["nested-array", "nested-field", "object-in-object", "nul", "oversized"],
)
async def test_ses8_hostile_json_to_the_app_api_is_refused_with_a_client_error(settings, clock, body, status):
    """SES-8/LOG-3: deeply nested or NUL-carrying JSON is a 400, a body beyond 16 KiB a 413; never a 500."""
    async with running_app(settings, clock) as (_, client):
        response = await client.post("/api/app/requests", content=body, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    expected = "Die Anfrage ist ungültig." if status == 400 else "Die Anfrage ist zu groß."
    assert expected in response.text


# -- the property: every route with a path or JSON parameter --------------------------


@dataclass(frozen=True)
class RouteUnderTest:
    method: str
    path: str  # with Litestar's {name:type} placeholders
    params: tuple[tuple[str, str], ...]
    json_fields: frozenset[str] | None

    def url(self, values: dict[str, object]) -> str:
        def fill(match: re.Match) -> str:
            value = values[match.group(1)]
            return quote(str(value), safe="/" if match.group(2) == "path" else "")

        return PLACEHOLDER.sub(fill, self.path).replace("//", "/")


def routes_under_test(app) -> list[RouteUnderTest]:
    found = []
    for route in app.routes:
        params = tuple(PLACEHOLDER.findall(route.path))
        for handler in route.route_handlers:
            fields = handler.opt.get("json_fields")
            if params or fields:
                found += [RouteUnderTest(m, route.path, params, fields) for m in sorted(set(handler.http_methods) & {"GET", "POST"})]
    return found


def has_control_character(text: str) -> bool:
    return any(unicodedata.category(c) == "Cc" for c in text)


def depth_and_nul(value: object) -> tuple[int, bool]:
    """How deep arrays and objects nest, and whether any text has a NUL (iteratively: the
    values are nested deeper than Python's recursion limit)."""
    deepest, nul, pending = 0, False, [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, str):
            nul = nul or "\x00" in item
        elif isinstance(item, (dict, list)):
            deepest = max(deepest, level)
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            pending += [(child, level + 1) for child in children]
    return deepest, nul


def expected_status(route: RouteUnderTest, values: dict[str, object], body: str | None) -> int | None:
    """The one status the request must get, or None when any answer below 500 is right."""
    for name, kind in route.params:
        value = values[name]
        if kind == "int" and not 0 < value <= MAX_ID:
            return 404
        if kind != "int" and has_control_character(str(value)):
            return 404
    if route.json_fields is None or body is None:
        return None
    if len(body.encode()) > MAX_BODY:
        return 413
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return 400
    deepest, nul = depth_and_nul(parsed)
    if deepest > MAX_DEPTH or nul:
        return 400
    return None


SEGMENT = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="/"), min_size=1, max_size=40).filter(
    lambda s: s not in (".", "..")  # the client would resolve them away
)
JSON_LEAVES = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(10**40), max_value=10**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=40),
)
JSON_VALUES = st.recursive(
    JSON_LEAVES, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3), max_leaves=12
)


def int_values(real_ids: list[int]) -> st.SearchStrategy[int]:
    return st.one_of(
        st.sampled_from(OUT_OF_RANGE + [1, MAX_ID, *real_ids]),
        st.integers(min_value=-(2**70), max_value=2**70),
    )


def bodies(fields: frozenset[str]) -> st.SearchStrategy[str]:
    names = sorted(fields)
    return st.one_of(
        st.dictionaries(st.sampled_from(names), JSON_VALUES, max_size=len(names)).map(json.dumps),
        st.dictionaries(st.sampled_from(names) | st.text(max_size=8), JSON_VALUES, max_size=4).map(json.dumps),
        st.builds(lambda n, name: json.dumps({name: "a"}).replace('"a"', "[" * n + "]" * n), st.integers(1, 12_000), st.sampled_from(names)),
        st.integers(1, 12_000).map(lambda n: "[" * n + "]" * n),
        st.builds(lambda name, n: json.dumps({name: "a" * n}), st.sampled_from(names), st.integers(MAX_BODY - 64, 2 * MAX_BODY)),
        st.sampled_from(["", "null", "[]", '"\\u0000"', "{", '{"a": NaN}', "1e999", "9" * 5000]),
    )


async def test_log3_no_path_or_json_parameter_value_causes_a_500(settings, factory, db, clock):
    """LOG-3/SES-7/SES-8, as a property: for every route of the app with a path or JSON
    parameter (read from the app, not listed here), hostile values get a client error:
    404 for an id out of range or text with control characters, 400 for deeply nested or
    NUL-carrying JSON, 413 for oversized JSON, and never a 500. A real server process
    thread serves the requests, logged in as an admin, so handlers reach the database."""
    organisation = await factory.organisation()
    admin_id = await factory.account(organisation, role="admin")
    token = await login_session(db, clock, admin_id, organisation)
    record = await factory.invite(organisation)
    routes = routes_under_test(create_app(settings))
    assert {r.path for r in routes} >= {"/nutzerverwaltung/{instance_id:int}", "/api/app/activate", "/einladung/{signed:str}"}
    real_ids = [record.id, admin_id]

    with running_server(settings, clock) as base_url, httpx.Client(base_url=base_url, timeout=30) as client:
        client.cookies.set(SESSION_COOKIE, token)
        csrf = re.search(r'"X-CSRFToken": "([^"]+)"', client.get("/nutzerverwaltung/").text).group(1)

        @hypothesis_settings(
            max_examples=300, deadline=None, database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(st.data())
        def hostile_request_gets_a_client_error(data):
            route = data.draw(st.sampled_from(routes), label="route")
            values = {}
            for name, kind in route.params:
                if kind == "int":
                    values[name] = data.draw(int_values(real_ids), label=name)
                elif kind == "path":
                    values[name] = "/" + "/".join(data.draw(st.lists(SEGMENT, min_size=1, max_size=3), label=name))
                else:
                    values[name] = data.draw(SEGMENT, label=name)
            body = data.draw(bodies(route.json_fields), label="body") if route.json_fields else None
            headers = {"X-CSRFToken": csrf, "accept": "text/html"}
            if body is not None:
                headers["content-type"] = "application/json"
            response = client.request(route.method, route.url(values), content=body, headers=headers)
            assert response.status_code < 500 and ERROR_500 not in response.text, (route, values, response.status_code)
            assert "Traceback" not in response.text
            expected = expected_status(route, values, body)
            if expected is not None:
                assert response.status_code == expected, (route, values, (body or "")[:200], response.text[:200])

        await asyncio.to_thread(hostile_request_gets_a_client_error)
