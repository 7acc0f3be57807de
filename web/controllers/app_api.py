"""JSON API of the Zwei-Faktor-App. The app holds no cookies: each call proves itself
with the activation code, or with the device's signature and the PIN. CSRF, which
protects cookie-based sessions, therefore does not apply to these routes."""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.exceptions import SerializationException
from litestar.params import FromPath

from web.auth import client_ip
from workflows.twofactor import (
    ActivationRequest, Limits, TwoFactorError, activate_device, answer_request, check_activation_code, pending_requests,
)

ACTIVATE_FIELDS = {"username", "code", "pin", "pin_repeat", "public_key", "terms_accepted"}
CODE_CHECK_FIELDS = {"username", "code"}
LIST_FIELDS = {"device_id", "timestamp", "signature"}
ANSWER_FIELDS = {"device_id", "decision", "pin", "signature"}


async def _json(request: Request, expected: set[str]) -> dict[str, Any]:
    try:
        body = await request.json()
    except (SerializationException, ValueError):
        raise TwoFactorError("Die Anfrage ist ungültig.", status=400) from None
    if not isinstance(body, dict) or set(body) - expected:
        raise TwoFactorError("Die Anfrage enthält unerwartete Felder.", status=400)
    return body


def _error(exc: TwoFactorError) -> Response:
    content = {"error": exc.message, **({"field": exc.field} if exc.field else {}), **exc.extra}
    return Response(content, status_code=exc.status)


def _limits(request: Request) -> Limits:
    return Limits.from_settings(request.app.state.settings)


@post("/api/app/activate", name="app_activate")
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


@post("/api/app/activate/code", name="app_check_code")
async def check_code(request: Request) -> Response:
    """The code checked when it is entered, before the PIN; one counted try (ACT-2)."""
    try:
        body = await _json(request, CODE_CHECK_FIELDS)
        await check_activation_code(
            request.app.state.service, _limits(request), body.get("username"), body.get("code"), client_ip(request))
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"status": "ok"}, status_code=200)


@post("/api/app/requests", name="app_requests")
async def list_requests(request: Request) -> Response:
    try:
        body = await _json(request, LIST_FIELDS)
        items = await pending_requests(request.app.state.service, body.get("device_id"), body.get("timestamp"), body.get("signature"))
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"requests": items}, status_code=200)


@post("/api/app/requests/{challenge_id:str}/answer", name="app_answer")
async def answer(request: Request, challenge_id: FromPath[str]) -> Response:
    try:
        body = await _json(request, ANSWER_FIELDS)
        status = await answer_request(
            request.app.state.service, request.app.state.pin_hasher, _limits(request), body.get("device_id"),
            challenge_id, body.get("decision"), body.get("pin"), body.get("signature"), client_ip(request),
        )
    except TwoFactorError as exc:
        return _error(exc)
    return Response({"status": status}, status_code=200)
