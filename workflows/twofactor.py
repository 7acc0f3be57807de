"""Device activation with an 8-digit code, and logins approved in the app with the PIN.

Every route that checks a code or PIN (HTML form, HTMX fragment, JSON API) calls
these functions, so the limits are the same everywhere (PIN-4)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from db import activation, attempts, challenges, devices
from db.audit import audit_step
from db.engine import ConflictError
from partnerportal.crypto import PinHasher, code_hash, normalise_code, parse_public_key, pin_problem, verify_signature
from workflows.engine import EventNotAllowed
from workflows.service import FlowService, TransitionConflict

# Who may log in: registration complete, not locked, revoked or deleted.
LOGIN_STATES = frozenset({"registered", "consented", "active"})
NEW_CODE_ADVICE = "Bitte lassen Sie sich im Portal mit „Neuen Code anzeigen“ einen neuen Aktivierungscode anzeigen und geben Sie diesen ein."
WRONG_CODE = (
    "Benutzername oder Aktivierungscode ist nicht korrekt, oder der Code ist abgelaufen oder verbraucht. " + NEW_CODE_ADVICE
)
CODE_USED_UP = "Der Aktivierungscode ist nicht korrekt und nach zu vielen Fehlversuchen jetzt verbraucht. " + NEW_CODE_ADVICE
LOCKED_REGISTRATION = (
    "Zu viele Fehlversuche: Die Registrierung ist gesperrt. Bitte wenden Sie sich an die Person, "
    "die Sie eingeladen hat, damit sie die Registrierung wieder freigibt."
)


@dataclass(frozen=True)
class Limits:
    code_valid: timedelta = timedelta(minutes=10)
    code_attempts: int = 5
    registration_attempts: int = 10
    pin_attempts: int = 5
    login_valid: timedelta = timedelta(minutes=2)

    @classmethod
    def from_settings(cls, settings) -> "Limits":
        return cls(
            code_valid=timedelta(minutes=settings.activation_code_minutes),
            code_attempts=settings.activation_code_attempts,
            registration_attempts=settings.registration_code_attempts,
            pin_attempts=settings.pin_attempts,
            login_valid=timedelta(seconds=settings.login_request_seconds),
        )


class TwoFactorError(Exception):
    """A refusal to show the user: `field` says where (None: the whole form)."""

    def __init__(self, message: str, field: str | None = None, status: int = 422, **extra):
        self.message, self.field, self.status, self.extra = message, field, status, extra
        super().__init__(message)


def registration_scope(instance_id: int) -> str:
    return f"registration:{instance_id}"


async def issue_code(service: FlowService, instance_id: int, actor: str, client_ip: str, limits: Limits) -> str:
    """A fresh code for a registration at the device step; older codes stop working."""
    now = service.clock.now()
    code, steps = activation.issue_steps(instance_id, now, limits.code_valid)
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
        errors["username"] = "Bitte geben Sie Ihren Benutzernamen oder Ihre E-Mail-Adresse ein."
    digits = normalise_code(code)
    if digits is None:
        errors["code"] = "Der Aktivierungscode besteht aus 8 Ziffern, zum Beispiel 2748 0323."
    return errors, digits


async def activate_device(
    service: FlowService, hasher: PinHasher, limits: Limits, request: ActivationRequest, client_ip: str
) -> dict:
    """Bind the app's key to the registration whose code matches; returns the device's public id."""
    errors, code = _check_activation_input(request.username, request.code)
    if request.terms_accepted is not True:
        errors["terms_accepted"] = "Bitte akzeptieren Sie die Nutzungsbedingungen der App."
    if problem := pin_problem(request.pin, request.pin_repeat):
        errors["pin"] = problem
    public_key = parse_public_key(request.public_key)
    if public_key is None:
        errors["public_key"] = "Die App konnte keinen Geräteschlüssel erzeugen. Bitte aktualisieren Sie Ihren Browser."
    if errors:
        raise TwoFactorError("Bitte prüfen Sie Ihre Eingaben.", status=422, errors=errors)
    registration, open_code = await _match_code(service, limits, request.username, code, client_ip)
    return await _bind(service, hasher, registration, open_code["id"], public_key, request.pin, client_ip)


async def check_activation_code(service: FlowService, limits: Limits, username: object, code: object, client_ip: str) -> None:
    """The app's early check, before the person chooses a PIN. It is one try like any
    other (the same atomic reservation, so it cannot be used to probe codes); a right
    code gives its try back, since the activation that follows takes one again."""
    errors, digits = _check_activation_input(username, code)
    if errors:
        raise TwoFactorError("Bitte prüfen Sie Ihre Eingaben.", status=422, errors=errors)
    registration, open_code = await _match_code(service, limits, username, digits, client_ip)
    await service.db.write(attempts.release_code_attempt_steps(
        open_code["id"], registration_scope(registration["id"]), service.clock.now()))


async def _match_code(service: FlowService, limits: Limits, username: str, code: str, client_ip: str) -> tuple[dict, dict]:
    """The registration and open code the entered code belongs to, each try counted
    atomically before the code is compared (ACT-2, PIN-4); else a refusal that says
    how many tries are left, or that a new code is needed and where."""
    db, now = service.db, service.clock.now()
    tries_left: int | None = None
    for registration in await devices.registrations_for_username(db, username):
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
        if open_code["code_hash"] == code_hash(instance_id, code):
            return registration, open_code
        await db.write([audit_step("activation_code_wrong", now, actor="app", organisation_id=registration["organisation"], instance_id=instance_id, client_ip=client_ip)])
        used = await attempts.counter_value(db, registration_scope(instance_id))
        if used >= limits.registration_attempts:
            await _lock_registration(service, instance_id, client_ip)
            raise TwoFactorError(LOCKED_REGISTRATION, status=423)
        left = min(limits.code_attempts - taken, limits.registration_attempts - used)
        tries_left = left if tries_left is None else max(tries_left, left)
    if tries_left:
        word = "einen Versuch" if tries_left == 1 else f"{tries_left} Versuche"
        raise TwoFactorError(f"Der Aktivierungscode ist nicht korrekt. Sie haben noch {word}.", field="code",
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
        await service.send(registration["id"], "activate_device", actor="app", client_ip=client_ip, extra_steps=steps)
    except (ConflictError, TransitionConflict, EventNotAllowed):
        raise TwoFactorError(WRONG_CODE, field="code", status=409) from None
    return {"device_id": public_id, "account_id": registration["account"]}


async def _lock_registration(service: FlowService, instance_id: int, client_ip: str) -> None:
    try:
        await service.send(instance_id, "lock", actor="system:attempt-limit", client_ip=client_ip,
                           details={"reason": "activation_code_attempts"})
    except (EventNotAllowed, TransitionConflict):
        pass  # already locked (or moved on) by a parallel request


# -- login ---------------------------------------------------------------------


async def start_login(service: FlowService, username: object, client_ip: str, limits: Limits) -> tuple[dict, str]:
    """A login request waiting for the app. Unknown usernames get one too, which can
    never be approved, so the page looks the same either way (no enumeration)."""
    db, now = service.db, service.clock.now()
    account_id = None
    if isinstance(username, str) and 0 < len(username) <= 254:
        from db.people import latest_instance_of

        for candidate in await devices.accounts_with_device(db, username):
            instance = await latest_instance_of(db, candidate["id"])
            if instance is not None and instance["state"] in LOGIN_STATES:
                account_id = candidate["id"]
                break
    data, browser_token, step = challenges.new_challenge(account_id, now, limits.login_valid, client_ip)
    await db.write([step])
    return data, browser_token


async def _device_for(service: FlowService, device_public_id: object) -> devices.DeviceInfo:
    device = await devices.by_public_id(service.db, device_public_id)
    if device is None or device.revoked:
        raise TwoFactorError("Dieses Gerät ist nicht (mehr) registriert.", status=401)
    if device.locked:
        raise TwoFactorError("Dieses Gerät ist nach zu vielen falschen PIN-Eingaben gesperrt.", status=423)
    return device


async def pending_requests(service: FlowService, device_public_id: object, timestamp: object, signature: object) -> list[dict]:
    """The login requests waiting for this device's person; the request is signed by the device."""
    device = await _device_for(service, device_public_id)
    now = service.clock.now()
    if not isinstance(timestamp, int) or abs(now.timestamp() * 1000 - timestamp) > 5 * 60 * 1000:
        raise TwoFactorError("Die Uhrzeit des Geräts weicht zu stark ab.", status=401)
    if not verify_signature(device.public_key, f"list:{device.public_id}:{timestamp}", signature):
        raise TwoFactorError("Die Anfrage konnte nicht geprüft werden.", status=401)
    rows = await challenges.pending_for_account(service.db, device.account_id, now)
    return [
        {"id": r["public_id"], "number": r["number"], "nonce": r["nonce"],
         "created_at": r["created_at"].isoformat(), "expires_at": r["expires_at"].isoformat()}
        for r in rows
    ]


async def answer_request(
    service: FlowService, hasher: PinHasher, limits: Limits, device_public_id: object, challenge_public_id: object,
    decision: object, pin: object, signature: object, client_ip: str,
) -> str:
    """Approve or deny a login with the PIN and the device's signature."""
    if decision not in ("approve", "deny"):
        raise TwoFactorError("Unbekannte Antwort.", status=422)
    device = await _device_for(service, device_public_id)
    db, now = service.db, service.clock.now()
    challenge = await challenges.by_public_id(db, challenge_public_id)
    if challenge is None or challenge["account"] != device.account_id or challenge["status"] != "pending" or challenge["expires_at"] <= now:
        raise TwoFactorError("Diese Anmeldung ist abgelaufen oder bereits beantwortet.", status=409)
    if not verify_signature(device.public_key, f"{decision}:{challenge['public_id']}:{challenge['nonce']}", signature):
        raise TwoFactorError("Die Anfrage konnte nicht geprüft werden.", status=401)
    failures = await attempts.reserve_pin_attempt(db, device.id, limits.pin_attempts)
    if failures is None:
        raise TwoFactorError("Dieses Gerät ist nach zu vielen falschen PIN-Eingaben gesperrt.", status=423)
    if not isinstance(pin, str) or not await hasher.verify(device.pin_hash, pin):
        rows = await db.write([
            attempts.lock_device_if_exhausted_step(device.id, limits.pin_attempts, now),
            audit_step("pin_wrong", now, actor=f"account:{device.account_id}", organisation_id=device.organisation_id, client_ip=client_ip),
        ])
        if rows[0]:
            await db.write([audit_step("pin_lock", now, actor="system:attempt-limit", organisation_id=device.organisation_id, client_ip=client_ip, details={"device": device.id})])
            await _lock_person_after_pin_lock(service, device.account_id, client_ip)
            raise TwoFactorError("Falscher PIN-Code. Das Gerät ist jetzt gesperrt; bitte wenden Sie sich an Ihren Admin.", field="pin", status=423)
        left = limits.pin_attempts - failures - 1
        raise TwoFactorError(f"Falscher PIN-Code. Noch {left} Versuche.", field="pin", status=401, attempts_left=left)
    status = "approved" if decision == "approve" else "denied"
    try:
        await db.write([
            attempts.pin_success_step(device.id),
            challenges.answer_step(challenge["id"], status, now),
            audit_step(f"login_{status}", now, actor=f"account:{device.account_id}", organisation_id=device.organisation_id, client_ip=client_ip),
        ])
    except ConflictError:
        raise TwoFactorError("Diese Anmeldung ist abgelaufen oder bereits beantwortet.", status=409) from None
    return status


async def _lock_person_after_pin_lock(service: FlowService, account_id: int, client_ip: str) -> None:
    """Shows the admin "Gesperrt"; their unlock leads to a new device registration."""
    from db.people import latest_instance_of

    instance = await latest_instance_of(service.db, account_id)
    if instance is None:
        return
    try:
        await service.send(instance["id"], "lock_device", actor="system:attempt-limit", client_ip=client_ip)
    except (EventNotAllowed, TransitionConflict):
        pass


async def finish_login(service: FlowService, challenge_public_id: str, browser_token: str) -> int | None:
    """The account whose approved request this browser holds (once), else None."""
    rows = await service.db.write([challenges.consume_step(challenge_public_id, browser_token, service.clock.now())])
    return rows[0][0]["account"] if rows[0] else None
