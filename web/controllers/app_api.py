"""JSON API of the Zwei-Faktor-App. The app holds no cookies: each call proves itself
with the activation code, or with the device's signature and the PIN. CSRF, which
protects cookie-based sessions, therefore does not apply to these routes."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import SerializationException
from litestar.params import FromPath

from web.auth import client_ip
from workflows.login_approval import Answer, answer_request, pending_requests
from workflows.twofactor import ActivationRequest, Limits, TwoFactorError, activate_device, check_activation_code
from core.i18n import _, lazy_gettext

ACTIVATE_FIELDS = {"username", "code", "pin", "pin_repeat", "public_key", "terms_accepted"}
CODE_CHECK_FIELDS = {"username", "code"}
LIST_FIELDS = {"device_id", "timestamp", "nonce", "signature"}
ANSWER_FIELDS = {"device_id", "decision", "pin", "number", "timestamp", "nonce", "signature"}
# The largest body the app sends is an activation with its public key (~400 bytes);
# more is refused with 413 before it is read into memory or parsed.
MAX_BODY = 16 * 1024
# A body is an object of fields; only the public key is an object itself.
MAX_DEPTH = 2
INVALID = lazy_gettext("Die Anfrage ist ungültig.")


def api_post(path: str, name: str, fields: set[str]):
    """A POST route of the app's API; `opt` names the JSON fields it accepts (tests read them too)."""
    return post(path, name=name, request_max_body_size=MAX_BODY, opt={"json_fields": frozenset(fields)})


async def _json(request: Request, expected: set[str]) -> dict[str, Any]:
    try:
        body = await request.json()
    except (SerializationException, ValueError, RecursionError):
        # RecursionError: the JSON decoder's answer to deeply nested arrays or objects.
        raise TwoFactorError(INVALID, status=400) from None
    if not isinstance(body, dict) or set(body) - expected:
        raise TwoFactorError(_("Die Anfrage enthält unerwartete Felder."), status=400)
    if not _plain(body):
        raise TwoFactorError(INVALID, status=400)
    return body


def _plain(body: dict) -> bool:
    """Nesting at most MAX_DEPTH deep and no NUL in any text (PostgreSQL refuses NUL in text)."""
    pending: list[tuple[object, int]] = [(body, 1)]
    while pending:
        value, depth = pending.pop()
        if isinstance(value, str):
            if "\x00" in value:
                return False
        elif isinstance(value, (dict, list)):
            if depth > MAX_DEPTH:
                return False
            items = value.items() if isinstance(value, dict) else enumerate(value)
            for key, item in items:
                if isinstance(key, str) and "\x00" in key:
                    return False
                pending.append((item, depth + 1))
    return True


def _error(exc: TwoFactorError) -> Response:
    content = {"error": exc.message, **({"field": exc.field} if exc.field else {}), **exc.extra}
    return Response(content, status_code=exc.status)


def _limits(request: Request) -> Limits:
    return Limits.from_settings(request.app.state.settings)


@api_post("/api/app/activate", "app_activate", ACTIVATE_FIELDS)
async def activate(request: Request) -> Response:
    try:
        body = await _json(request, ACTIVATE_FIELDS)
        result = await activate_device(
            request.app.state.service, request.app.state.pin_hasher, _limits(request),
            ActivationRequest(**{name: body.get(name) for name in ACTIVATE_FIELDS}), client_ip(request),
        )
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"device_id": result["device_id"]}, status_code=201)


@api_post("/api/app/activate/code", "app_check_code", CODE_CHECK_FIELDS)
async def check_code(request: Request) -> Response:
    """The code checked when it is entered, before the PIN; one counted try (ACT-2)."""
    try:
        body = await _json(request, CODE_CHECK_FIELDS)
        await check_activation_code(
            request.app.state.service, _limits(request), body.get("username"), body.get("code"), client_ip(request))
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"status": "ok"}, status_code=200)


@api_post("/api/app/requests", "app_requests", LIST_FIELDS)
async def list_requests(request: Request) -> Response:
    try:
        body = await _json(request, LIST_FIELDS)
        items = await pending_requests(
            request.app.state.service, body.get("device_id"), body.get("timestamp"), body.get("nonce"), body.get("signature")
        )
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"requests": items}, status_code=200)


@api_post("/api/app/requests/{challenge_id:str}/answer", "app_answer", ANSWER_FIELDS)
async def answer(request: Request, challenge_id: FromPath[str]) -> Response:
    try:
        body = await _json(request, ANSWER_FIELDS)
        answer_ = Answer(challenge_id=challenge_id, **{name: body.get(name) for name in ANSWER_FIELDS})
        status = await answer_request(
            request.app.state.service, request.app.state.pin_hasher, _limits(request), answer_, client_ip(request)
        )
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"status": status}, status_code=200)
