"""The Zwei-Faktor-App as HTTP sees it: the app shell, its manifest and service worker,
the security headers, no inline script or style, no cookie, and local input checks
that speak the server's words."""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser

from tests.support.app import running_app

APP = "/app/"


class Shell(HTMLParser):
    """What the tests need from the app's page: resources, inline code, messages."""

    def __init__(self):
        super().__init__()
        self.resources: list[str] = []
        self.inline: list[str] = []
        self.messages: dict[str, str] = {}
        self.ids: list[str] = []
        self._script_without_src = False
        self._message_key: str | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "id" in attributes:
            self.ids.append(attributes["id"])
        if "style" in attributes:
            self.inline.append(f"style attribute on <{tag}>")
        self.inline.extend(f"{name} on <{tag}>" for name in attributes if name.startswith("on"))
        if tag == "style":
            self.inline.append("<style>")
        if tag == "script":
            if attributes.get("src"):
                self.resources.append(attributes["src"])
            else:
                self._script_without_src = True
        if tag == "link" and attributes.get("href"):
            self.resources.append(attributes["href"])
        if tag == "img" and attributes.get("src"):
            self.resources.append(attributes["src"])
        if "data-key" in attributes:
            self._message_key = attributes["data-key"]

    def handle_endtag(self, tag):
        if tag == "script" and self._script_without_src:
            self.inline.append("<script> without src")
            self._script_without_src = False

    def handle_data(self, data):
        if self._message_key is not None:
            self.messages[self._message_key] = data
            self._message_key = None


async def shell(client) -> tuple[object, Shell]:
    response = await client.get(APP)
    parser = Shell()
    parser.feed(response.text)
    return response, parser


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


async def test_the_app_shell_is_a_german_page_without_inline_code_or_cookies(settings, db):
    async with running_app(settings) as (_, client):
        response, page = await shell(client)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert 'lang="de"' in response.text
        assert "set-cookie" not in response.headers
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "style-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["cache-control"] == "no-store"
        assert page.inline == []
        assert len(page.ids) == len(set(page.ids)), "duplicate ids"
        for text in ["Akzeptieren", "Ich habe die Nutzungsbedingungen gelesen und akzeptiere diese.",
                     "Benutzername / E-Mail Adresse", "Aktivierungscode", "Aktivieren", "App entsperren"]:
            assert text in response.text
        footer = response.text.split('<footer', 1)[1]
        for link in ('href="/barrierefreiheit"', 'href="/barriere-melden?seite=/app/"'):
            assert link in footer
        code_field = re.search(r'<input id="code"[^>]*>', response.text).group(0)
        assert 'autocomplete="one-time-code"' in code_field and 'inputmode="numeric"' in code_field
        for pin_field in ("pin", "pin-repeat", "unlock-pin"):
            tag = re.search(rf'<input id="{pin_field}"[^>]*>', response.text).group(0)
            assert 'inputmode="numeric"' in tag and 'type="password"' in tag and 'maxlength="6"' in tag


async def test_every_file_of_the_shell_is_served_under_the_app_without_cookies(settings, db):
    async with running_app(settings) as (_, client):
        _, page = await shell(client)
        assert page.resources
        for url in page.resources:
            assert url.startswith(APP), f"{url} is outside the app's scope"
            response = await client.get(url)
            assert response.status_code == 200, url
            assert "set-cookie" not in response.headers, url
        assert not client.cookies


async def test_without_the_slash_the_app_redirects_into_its_scope(settings, db):
    async with running_app(settings) as (_, client):
        response = await client.get("/app")
        assert response.status_code == 308
        assert response.headers["location"] == APP


async def test_the_manifest_makes_the_app_installable(settings, db):
    async with running_app(settings) as (_, client):
        response = await client.get("/app/manifest.webmanifest")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/manifest+json")
        manifest = json.loads(response.text)
        assert manifest["name"] == "Zwei-Faktor-App"
        assert manifest["short_name"]
        assert manifest["start_url"] == APP and manifest["scope"] == APP and manifest["id"] == APP
        assert manifest["display"] == "standalone"
        assert manifest["lang"] == "de"
        sizes = set()
        for icon in manifest["icons"]:
            image = await client.get(icon["src"])
            assert image.status_code == 200 and image.headers["content-type"] == "image/png"
            width, height = png_size(image.content)
            assert icon["sizes"] == f"{width}x{height}"
            sizes.add((width, icon["purpose"]))
        assert {(192, "any"), (512, "any"), (512, "maskable")} <= sizes


async def test_the_service_worker_is_javascript_scoped_to_the_app_and_caches_files_that_exist(settings, db):
    async with running_app(settings) as (_, client):
        response = await client.get("/app/sw.js")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/javascript")
        assert response.headers["service-worker-allowed"] == APP
        assert "set-cookie" not in response.headers
        shell_files = re.findall(r'"(/app/[^"]*)"', response.text.split("var SHELL", 1)[1].split("];", 1)[0])
        assert APP in shell_files and "/app/static/app.js" in shell_files
        for url in shell_files:
            assert (await client.get(url)).status_code == 200, url
        assert "/api/" not in response.text.split("var SHELL", 1)[1].split("];", 1)[0]


async def test_the_apps_own_input_checks_use_the_servers_words(settings, db):
    """The app checks input before sending; its messages must be the server's."""
    async with running_app(settings) as (_, client):
        _, page = await shell(client)
        messages = page.messages

        async def errors(**body):
            request = {"username": " ", "code": "123", "pin": "12", "pin_repeat": "12",
                       "public_key": {}, "terms_accepted": False, **body}
            response = await client.post("/api/app/activate", json=request)
            assert response.status_code == 422, response.text
            return response.json()["errors"]

        refused = await errors()
        assert refused["terms_accepted"] == messages["terms_required"]
        assert refused["username"] == messages["username_required"]
        assert refused["code"] == messages["code_format"]
        assert refused["pin"] == messages["pin_format"]
        assert (await errors(pin="135792", pin_repeat="135793"))["pin"] == messages["pin_mismatch"]
        assert (await errors(pin="123456", pin_repeat="123456"))["pin"] == messages["pin_trivial"]
        # The number typed to approve a login (PIN-6) is checked before anything else.
        unchecked = await client.post("/api/app/requests/x/answer", json={"decision": "approve", "number": "12 34"})
        assert unchecked.status_code == 422 and unchecked.json()["error"] == messages["number_format"]
