"""Login approved in the Zwei-Faktor-App, built against push bombing (PIN-3, PIN-6):

- the browser shows a number that the person types into the app; the server checks it in
  the signed approval, and a wrong number ends the request;
- the numbers of an account's requests that a browser may still show are all different,
  so the person's own number never opens someone else's request;
- at most `pending_max` requests wait per account, newest first, with time, browser and
  address; login starts are limited per account and per address in the database;
- "Das war ich nicht" is audited and holds new requests for the account for a while."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from db import app_nonces, attempts, challenges, devices, login_throttle
from db.audit import audit_step
from db.engine import ConflictError, Results, Step, Deferred
from db.people import latest_instance_of
from core.crypto import PinHasher, verify_signature
from workflows.service import FlowService
from workflows.twofactor import Limits, TwoFactorError, device_for, lock_person_after_pin_lock
from core.i18n import _, lazy_gettext, ngettext

NUMBER_DIGITS = 6
# A signed request of the app is accepted this long before and after its timestamp; its
# nonce is remembered as long (so within the window it is accepted once).
CLOCK_WINDOW = timedelta(minutes=5)
NONCE = re.compile(r"[A-Za-z0-9_-]{16,64}")
DECISIONS = ("approve", "deny", "not_me")
ENDED = lazy_gettext("Diese Anmeldung ist abgelaufen oder bereits beantwortet.")
NUMBER_FORMAT = lazy_gettext("Bitte geben Sie die %(digits)d Ziffern ein, die Ihnen die Anmeldeseite im Browser zeigt.")
WRONG_NUMBER = (
    lazy_gettext("Die Zahl stimmt nicht mit der Anmeldeseite überein. Diese Anmeldung wurde deshalb abgebrochen. "
    "Wenn Sie sich selbst anmelden wollten, beginnen Sie die Anmeldung bitte neu.")
)


@dataclass(frozen=True)
class StartedLogin:
    public_id: str
    browser_token: str


def format_number(number: str) -> str:
    """Grouped for reading aloud and typing: "482 913"."""
    return f"{number[:3]} {number[3:]}" if len(number) == NUMBER_DIGITS else number


def normalise_number(value: object) -> str | None:
    if not isinstance(value, str) or len(value) > 20:
        return None
    digits = re.sub(r"\s+", "", value)
    return digits if len(digits) == NUMBER_DIGITS and digits.isascii() and digits.isdigit() else None


def _new_number(in_use: set[str]) -> str:
    while True:
        number = f"{secrets.randbelow(10 ** NUMBER_DIGITS):0{NUMBER_DIGITS}d}"
        if number not in in_use:
            return number


def _name_key(name: str) -> str:
    # Strangers' typed names are kept as hashes only.
    return "name:" + hashlib.sha256(name.encode()).hexdigest()


# -- starting a login ----------------------------------------------------------------


async def start_login(
    service: FlowService, username: object, client_ip: str, browser: str, known_accounts: frozenset[int], limits: Limits,
) -> StartedLogin:
    """A login request waiting for the app. Unknown usernames, and starts over a limit, get
    one too that can never be approved, so every answer looks the same (no enumeration,
    no tell-tale throttle). Known and unknown usernames run the same statements."""
    db, now = service.db, service.clock.now()
    name = username.strip().lower() if isinstance(username, str) and 0 < len(username) <= 254 else ""
    account_id = await devices.login_account(db, name, service.registry.onboarding_states_with("may_log_in"))
    key = f"account:{account_id}" if account_id is not None else _name_key(name)
    ip_key = f"ip:{client_ip}"[:100]
    exempt = account_id is not None and account_id in known_accounts
    per_account = login_throttle.Limit(limits.starts_per_account, limits.start_window, limits.max_wait)
    per_ip = login_throttle.Limit(limits.starts_per_ip, limits.start_window, limits.max_wait)
    started = StartedLogin(public_id=secrets.token_urlsafe(16), browser_token=challenges.new_browser_token())

    steps: list[Step | Deferred] = [s for s in [login_throttle.serialize_step(key, db.is_sqlite)] if s is not None]
    ip_index = len(steps) + 1
    key_index = ip_index + 2
    numbers_index = key_index + 1
    steps += [
        login_throttle.ensure_step(ip_key, now),
        login_throttle.count_step(ip_key, per_ip, now),
        login_throttle.ensure_step(key, now),
        login_throttle.exempt_step(key, now) if exempt else login_throttle.count_step(key, per_account, now),
        challenges.numbers_in_use_step(key, now),
    ]

    def request_steps(results: Results) -> list[Step]:
        ip_ok, key_ok = bool(results[ip_index]), bool(results[key_index])
        more = []
        if not ip_ok:
            more.append(login_throttle.strike_step(ip_key, per_ip, now, db.is_sqlite))
        if not key_ok and not exempt:
            more.append(login_throttle.strike_step(key, per_account, now, db.is_sqlite))
        number = _new_number({row["number"] for row in results[numbers_index]})
        allowed = ip_ok and key_ok
        more += [
            challenges.insert_step(
                started.public_id, account_id if allowed else None, started.browser_token, number, now,
                limits.login_valid, client_ip, browser, key if allowed else "",
            ),
            challenges.supersede_step(key, now, limits.pending_max),
        ]
        return more

    steps.append(Deferred(request_steps))
    await db.write(steps)
    return started


# -- the app's signed requests ----------------------------------------------------------


async def _check_signed(service: FlowService, device: devices.DeviceInfo, message: str, timestamp: object, nonce: object, signature: object) -> None:
    """Signature, clock window and single use of the nonce; the nonce is stored only for
    a valid signature, so strangers cannot fill the table."""
    now = service.clock.now()
    if not isinstance(timestamp, int) or isinstance(timestamp, bool) or abs(now.timestamp() * 1000 - timestamp) > CLOCK_WINDOW.total_seconds() * 1000:
        raise TwoFactorError(_("Die Uhrzeit des Geräts weicht zu stark ab."), status=401)
    if not isinstance(nonce, str) or not NONCE.fullmatch(nonce) or not verify_signature(device.public_key, message, signature):
        raise TwoFactorError(_("Die Anfrage konnte nicht geprüft werden."), status=401)
    sent_at = datetime.fromtimestamp(timestamp / 1000, tz=timezone.utc)
    if not await app_nonces.remember(service.db, device.public_id, nonce, sent_at + CLOCK_WINDOW, now):
        raise TwoFactorError(_("Diese Anfrage wurde bereits gesendet und gilt nicht noch einmal."), status=401)


def list_message(device_id: str, timestamp: object, nonce: object) -> str:
    return f"list:{device_id}:{timestamp}:{nonce}"


def answer_message(decision: str, challenge: dict, number: str, timestamp: object, nonce: object) -> str:
    return f"{decision}:{challenge['public_id']}:{challenge['nonce']}:{number}:{timestamp}:{nonce}"


async def pending_requests(service: FlowService, device_public_id: object, timestamp: object, nonce: object, signature: object) -> list[dict]:
    """The login requests waiting for this device's person, newest first. The number is
    not among them: the person reads it in the browser and types it in the app."""
    device = await device_for(service, device_public_id)
    await _check_signed(service, device, list_message(device.public_id, timestamp, nonce), timestamp, nonce, signature)
    rows = await challenges.pending_for_account(service.db, device.account_id, service.clock.now())
    return [
        {"id": r["public_id"], "nonce": r["nonce"], "created_at": r["created_at"].isoformat(),
         "expires_at": r["expires_at"].isoformat(), "browser": r["browser"], "ip": r["client_ip"]}
        for r in rows
    ]


@dataclass(frozen=True)
class Answer:
    device_id: object
    challenge_id: object
    decision: object
    pin: object
    number: object
    timestamp: object
    nonce: object
    signature: object


async def answer_request(service: FlowService, hasher: PinHasher, limits: Limits, answer: Answer, client_ip: str) -> str:
    """Approve (with the number from the browser), deny, or "Das war ich nicht"; each with
    the PIN and the device's signature over all of it."""
    if answer.decision not in DECISIONS:
        raise TwoFactorError("Unbekannte Antwort.", status=422)
    number = ""
    if answer.decision == "approve":
        number = normalise_number(answer.number)
        if number is None:
            raise TwoFactorError(NUMBER_FORMAT % {"digits": NUMBER_DIGITS}, field="number", status=422)
    device = await device_for(service, answer.device_id)
    db, now = service.db, service.clock.now()
    challenge = await challenges.by_public_id(db, answer.challenge_id)
    if challenge is None or challenge["account"] != device.account_id or challenge["status"] != "pending" or challenge["expires_at"] <= now:
        raise TwoFactorError(ENDED, status=409)
    message = answer_message(answer.decision, challenge, number, answer.timestamp, answer.nonce)
    await _check_signed(service, device, message, answer.timestamp, answer.nonce, answer.signature)
    await _check_pin(service, hasher, limits, device, answer.pin, client_ip)
    instance = await latest_instance_of(db, device.account_id)
    context = {"actor": f"account:{device.account_id}", "organisation_id": device.organisation_id,
               "instance_id": instance["id"] if instance else None, "client_ip": client_ip}
    about = {"request_ip": challenge["client_ip"], "request_browser": challenge["browser"]}
    if answer.decision == "approve" and not hmac.compare_digest(number, challenge["number"]):
        await _write_answer(db, [
            attempts.pin_success_step(device.id),
            challenges.answer_step(challenge["id"], "wrong_number", now),
            audit_step("login_number_wrong", now, **context, details=about),
        ])
        raise TwoFactorError(WRONG_NUMBER, field="number", status=422, ended=True)
    if answer.decision == "not_me":
        key = f"account:{device.account_id}"
        # Lock order as in start_login (the account's lock, its throttle row, then its
        # requests), so a start running at the same time cannot deadlock with this.
        serialize = login_throttle.serialize_step(key, db.is_sqlite)
        await _write_answer(db, [
            *([serialize] if serialize else []),
            *login_throttle.hold_steps(key, now, now + limits.not_me_block),
            attempts.pin_success_step(device.id),
            challenges.answer_step(challenge["id"], "not_me", now),
            challenges.end_pending_step(device.account_id, now, "denied"),
            audit_step("login_not_me", now, **context, details={**about, "blocked_minutes": int(limits.not_me_block.total_seconds() // 60)}),
        ])
        return "not_me"
    status = "approved" if answer.decision == "approve" else "denied"
    await _write_answer(db, [
        attempts.pin_success_step(device.id),
        challenges.answer_step(challenge["id"], status, now),
        audit_step(f"login_{status}", now, **context),
    ])
    return status


async def _check_pin(service: FlowService, hasher: PinHasher, limits: Limits, device: devices.DeviceInfo, pin: object, client_ip: str) -> None:
    """One PIN check, reserved before it runs (PIN-4); wrong ones count and lock the device."""
    db, now = service.db, service.clock.now()
    failures = await attempts.reserve_pin_attempt(db, device.id, limits.pin_attempts)
    if failures is None:
        raise TwoFactorError(_("Dieses Gerät ist nach zu vielen falschen PIN-Eingaben gesperrt."), status=423)
    if isinstance(pin, str) and await hasher.verify(device.pin_hash, pin):
        return
    rows = await db.write([
        attempts.lock_device_if_exhausted_step(device.id, limits.pin_attempts, now),
        audit_step("pin_wrong", now, actor=f"account:{device.account_id}", organisation_id=device.organisation_id, client_ip=client_ip),
    ])
    if rows[0]:
        await db.write([audit_step("pin_lock", now, actor="system:attempt-limit", organisation_id=device.organisation_id, client_ip=client_ip, details={"device": device.id})])
        await lock_person_after_pin_lock(service, device.account_id, client_ip)
        raise TwoFactorError(_("Falscher PIN-Code. Das Gerät ist jetzt gesperrt; bitte wenden Sie sich an Ihren Admin."), field="pin", status=423)
    left = limits.pin_attempts - failures - 1
    message = ngettext("Falscher PIN-Code. Noch ein Versuch.", "Falscher PIN-Code. Noch %(count)d Versuche.", left) % {"count": left}
    raise TwoFactorError(message, field="pin", status=401, attempts_left=left)


async def _write_answer(db, steps: list[Step]) -> None:
    try:
        await db.write(steps)
    except ConflictError:
        raise TwoFactorError(ENDED, status=409) from None


async def finish_login(service: FlowService, challenge_public_id: str, browser_token: str) -> int | None:
    """The account whose approved request this browser holds (once), else None."""
    rows = await service.db.write([challenges.consume_step(challenge_public_id, browser_token, service.clock.now())])
    return rows[0][0]["account"] if rows[0] else None
