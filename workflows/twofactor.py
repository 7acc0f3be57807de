"""Device activation with an 8-digit code, and logins approved in the app with the PIN.

Every route that checks a code or PIN (HTML form, HTMX fragment, JSON API) calls
these functions, so the limits are the same everywhere (PIN-4)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from datetime import timedelta

from db import activation, attempts, devices
from db.audit import audit_step
from db.engine import ConflictError
from core.crypto import PinHasher, code_hash, normalise_code, parse_public_key, pin_problem
from workflows.engine import EventNotAllowed
from workflows.registry import FlowRegistry
from workflows.roles import EventOf
from workflows.service import FlowService, TransitionConflict
from core.i18n import _, lazy_gettext, ngettext
# Whole sentences for translators, each ending with the same advice.
WRONG_CODE = lazy_gettext(
    "Benutzername oder Aktivierungscode ist nicht korrekt, oder der Code ist abgelaufen oder verbraucht. "
    "Bitte lassen Sie sich im Portal mit „Neuen Code anzeigen“ einen neuen Aktivierungscode anzeigen und geben Sie diesen ein."
)
CODE_USED_UP = lazy_gettext(
    "Der Aktivierungscode ist nicht korrekt und nach zu vielen Fehlversuchen jetzt verbraucht. "
    "Bitte lassen Sie sich im Portal mit „Neuen Code anzeigen“ einen neuen Aktivierungscode anzeigen und geben Sie diesen ein."
)
LOCKED_REGISTRATION = (
    lazy_gettext("Zu viele Fehlversuche: Die Registrierung ist gesperrt. Bitte wenden Sie sich an die Person, "
    "die Sie eingeladen hat, damit sie die Registrierung wieder freigibt.")
)


@dataclass(frozen=True)
class Limits:
    code_valid: timedelta = timedelta(minutes=10)
    code_attempts: int = 5
    registration_attempts: int = 10
    pin_attempts: int = 5
    login_valid: timedelta = timedelta(minutes=2)
    pending_max: int = 3
    starts_per_account: int = 5
    starts_per_ip: int = 30
    start_window: timedelta = timedelta(minutes=15)
    max_wait: timedelta = timedelta(hours=4)
    not_me_block: timedelta = timedelta(minutes=15)
    code_key: str = field(default="", repr=False)  # the secret key: activation codes are stored as its HMAC (ACT-1)

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(
            code_valid=timedelta(minutes=settings.activation_code_minutes),
            code_attempts=settings.activation_code_attempts,
            registration_attempts=settings.registration_code_attempts,
            pin_attempts=settings.pin_attempts,
            login_valid=timedelta(seconds=settings.login_request_seconds),
            pending_max=settings.login_pending_max,
            starts_per_account=settings.login_starts_per_account,
            starts_per_ip=settings.login_starts_per_ip,
            start_window=timedelta(minutes=settings.login_start_window_minutes),
            max_wait=timedelta(minutes=settings.login_max_wait_minutes),
            not_me_block=timedelta(minutes=settings.login_not_me_block_minutes),
            code_key=settings.secret_key,
        )


class TwoFactorError(Exception):
    """A refusal to show the user: `field` says where (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None, status: int = 422, **extra):
        message = str(message)  # a lazy text, translated now in the request's language
        self.message, self.field, self.status, self.extra = message, field, status, extra
        super().__init__(message)


def may_log_in(registry: FlowRegistry, instance: dict | None) -> bool:
    """Whether the person of this instance (a row of db.people.latest_instance_of) may log
    in: in the shipped flow, registration complete and not locked, revoked or deleted."""
    if instance is None:
        return False
    return registry.get(instance["flow_name"], instance["flow_version"]).has_role(instance["state"], "may_log_in")


def registration_scope(instance_id: int) -> str:
    return f"registration:{instance_id}"


async def issue_code(service: FlowService, instance_id: int, actor: str, client_ip: str, limits: Limits) -> str:
    """A fresh code for a registration at the device step; older codes stop working."""
    now = service.clock.now()
    code, steps = activation.issue_steps(instance_id, now, limits.code_valid, limits.code_key)
    record_org = await _organisation_of(service, instance_id)
    steps.append(audit_step("activation_code_issued", now, actor=actor, organisation_id=record_org, instance_id=instance_id, client_ip=client_ip))
    await service.db.write(steps)
    return code


async def _organisation_of(service: FlowService, instance_id: int) -> int | None:
    from db import instances

    record = await instances.load(service.db, instance_id)
    return record.organisation_id if record else None


@dataclass(frozen=True)
class ActivationRequest:
    username: object
    code: object
    pin: object
    pin_repeat: object
    public_key: object
    terms_accepted: object


def _check_activation_input(username: object, code: object) -> tuple[dict[str, str], str | None]:
    errors = {}
    if not isinstance(username, str) or not username.strip() or len(username) > 254:
        errors["username"] = _("Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein.")
    digits = normalise_code(code)
    if digits is None:
        errors["code"] = _("Der Aktivierungscode besteht aus 8 Ziffern, zum Beispiel 2748 0323.")
    return errors, digits


async def activate_device(
    service: FlowService, hasher: PinHasher, limits: Limits, request: ActivationRequest, client_ip: str
) -> dict:
    """Bind the app's key to the registration whose code matches; returns the device's public id."""
    errors, code = _check_activation_input(request.username, request.code)
    if request.terms_accepted is not True:
        errors["terms_accepted"] = _("Bitte akzeptieren Sie die Nutzungsbedingungen der App.")
    if problem := pin_problem(request.pin, request.pin_repeat):
        errors["pin"] = problem
    public_key = parse_public_key(request.public_key)
    if public_key is None:
        errors["public_key"] = _("Die App konnte keinen Geräteschlüssel erzeugen. Bitte aktualisieren Sie Ihren Browser.")
    if errors:
        raise TwoFactorError(_("Bitte prüfen Sie Ihre Eingaben."), status=422, errors=errors)
    registration, open_code = await _match_code(service, limits, request.username, code, client_ip)
    return await _bind(service, hasher, registration, open_code["id"], public_key, request.pin, client_ip)


async def check_activation_code(service: FlowService, limits: Limits, username: object, code: object, client_ip: str) -> None:
    """The app's early check, before the person chooses a PIN. It is one try like any
    other (the same atomic reservation, so it cannot be used to probe codes); a right
    code gives its try back, since the activation that follows takes one again."""
    errors, digits = _check_activation_input(username, code)
    if errors:
        raise TwoFactorError(_("Bitte prüfen Sie Ihre Eingaben."), status=422, errors=errors)
    registration, open_code = await _match_code(service, limits, username, digits, client_ip)
    await service.db.write(attempts.release_code_attempt_steps(
        open_code["id"], registration_scope(registration["id"]), service.clock.now()))


async def _match_code(service: FlowService, limits: Limits, username: str, code: str, client_ip: str) -> tuple[dict, dict]:
    """The registration and open code the entered code belongs to, each try counted
    atomically before the code is compared (ACT-2, PIN-4); else a refusal that says
    how many tries are left, or that a new code is needed and where."""
    db, now = service.db, service.clock.now()
    device_step = service.registry.onboarding_states_with("device_step")
    tries_left: int | None = None
    for registration in await devices.registrations_for_username(db, username, device_step):
        instance_id = registration["id"]
        open_code = await activation.open_code(db, instance_id, now)
        if open_code is None:
            continue
        if not await attempts.reserve_counter(db, registration_scope(instance_id), limits.registration_attempts, now):
            await _lock_registration(service, instance_id, client_ip)
            raise TwoFactorError(LOCKED_REGISTRATION, status=423)
        taken = await attempts.reserve_code_attempt(db, open_code["id"], limits.code_attempts)
        if taken is None:
            continue  # this code is used up; a new one can be shown in the portal
        if hmac.compare_digest(open_code["code_hash"], code_hash(limits.code_key, instance_id, code)):
            return registration, open_code
        await db.write([audit_step("activation_code_wrong", now, actor="app", organisation_id=registration["organisation"], instance_id=instance_id, client_ip=client_ip)])
        used = await attempts.counter_value(db, registration_scope(instance_id))
        if used >= limits.registration_attempts:
            await _lock_registration(service, instance_id, client_ip)
            raise TwoFactorError(LOCKED_REGISTRATION, status=423)
        left = min(limits.code_attempts - taken, limits.registration_attempts - used)
        tries_left = left if tries_left is None else max(tries_left, left)
    if tries_left:
        message = ngettext(
            "Der Aktivierungscode ist nicht korrekt. Sie haben noch einen Versuch.",
            "Der Aktivierungscode ist nicht korrekt. Sie haben noch %(count)d Versuche.", tries_left,
        ) % {"count": tries_left}
        raise TwoFactorError(message, field="code",
                             status=422, attempts_left=tries_left, code_state="wrong")
    if tries_left == 0:
        raise TwoFactorError(CODE_USED_UP, field="code", status=422, attempts_left=0, code_state="used_up")
    # Unknown username, expired, used or used-up code: one answer, so nothing tells
    # an attacker whether the address has a registration.
    raise TwoFactorError(WRONG_CODE, field="code", status=422, attempts_left=0, code_state="invalid")


async def _bind(service: FlowService, hasher: PinHasher, registration: dict, code_id: int, public_key: str, pin: str, client_ip: str) -> dict:
    now = service.clock.now()
    public_id = devices.new_public_id()
    pin_hash = await hasher.hash(pin)
    steps = [
        activation.use_code_step(code_id, now),
        devices.revoke_others_step(registration["account"], now),
        devices.insert_step(public_id, registration["account"], registration["organisation"], public_key, pin_hash, now),
        audit_step("device_bound", now, actor="app", organisation_id=registration["organisation"], instance_id=registration["id"], client_ip=client_ip),
    ]
    try:
        await service.send(registration["id"], EventOf("activated"), actor="app", client_ip=client_ip, extra_steps=steps)
    except (ConflictError, TransitionConflict, EventNotAllowed):
        raise TwoFactorError(WRONG_CODE, field="code", status=409) from None
    return {"device_id": public_id, "account_id": registration["account"]}


async def _lock_registration(service: FlowService, instance_id: int, client_ip: str) -> None:
    try:
        await service.send(instance_id, EventOf("code_lockout"), actor="system:attempt-limit", client_ip=client_ip,
                           details={"reason": "activation_code_attempts"})
    except (EventNotAllowed, TransitionConflict):
        pass  # already locked (or moved on) by a parallel request


async def device_for(service: FlowService, device_public_id: object) -> devices.DeviceInfo:
    device = await devices.by_public_id(service.db, device_public_id)
    if device is None or device.revoked:
        raise TwoFactorError(_("Dieses Gerät ist nicht (mehr) registriert."), status=401)
    if device.locked:
        raise TwoFactorError(_("Dieses Gerät ist nach zu vielen falschen PIN-Eingaben gesperrt."), status=423)
    return device


async def lock_person_after_pin_lock(service: FlowService, account_id: int, client_ip: str) -> None:
    """Shows the admin "Gesperrt"; their unlock leads to a new device registration."""
    from db.people import latest_instance_of

    instance = await latest_instance_of(service.db, account_id)
    if instance is None:
        return
    try:
        await service.send(instance["id"], EventOf("pin_lockout"), actor="system:attempt-limit", client_ip=client_ip)
    except (EventNotAllowed, TransitionConflict):
        pass
