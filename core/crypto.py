"""PINs (argon2id), activation codes and device signatures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from core.i18n import _

PIN_LENGTH = 6
CODE_LENGTH = 8


class PinHasher:
    """argon2id; hashing takes ~100 ms of CPU, so it runs in a worker thread."""

    def __init__(self, hasher: PasswordHasher | None = None):
        self.hasher = hasher or PasswordHasher()

    async def hash(self, pin: str) -> str:
        return await asyncio.to_thread(self.hasher.hash, pin)

    async def verify(self, pin_hash: str, pin: str) -> bool:
        def check() -> bool:
            try:
                return self.hasher.verify(pin_hash, pin)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

        return await asyncio.to_thread(check)


def fast_pin_hasher() -> PinHasher:
    """Cheap parameters for tests only: the same algorithm, far less memory and time."""
    return PinHasher(PasswordHasher(time_cost=1, memory_cost=64, parallelism=1))


def pin_problem(pin: object, repeat: object) -> str | None:
    """A German message if the PIN may not be used (PIN-1), else None."""
    if not isinstance(pin, str) or len(pin) != PIN_LENGTH or not pin.isascii() or not pin.isdigit():
        return _("Der PIN-Code muss aus genau 6 Ziffern bestehen.")
    if pin != repeat:
        return _("Die beiden PIN-Eingaben stimmen nicht überein.")
    if is_trivial_pin(pin):
        return _("Dieser PIN-Code ist zu leicht zu erraten. Bitte wählen Sie einen anderen.")
    return None


def is_trivial_pin(pin: str) -> bool:
    digits = [int(c) for c in pin]
    steps = {b - a for a, b in zip(digits, digits[1:])}
    if len(set(digits)) <= 2:  # 000000, 111111, 121212, 112211 ...
        return True
    if steps in ({1}, {-1}):  # 123456, 654321, 345678 ...
        return True
    return pin in {"123123", "456456", "789789", "147258", "159753", "102030", "112233", "010203", "696969", "131313"}


def new_activation_code() -> str:
    return "".join(secrets.choice("0123456789") for _ in range(CODE_LENGTH))


def group_code(code: str) -> str:
    """ "27480323" as "2748 0323", easier to read and type."""
    return f"{code[:4]} {code[4:]}"


def normalise_code(value: object) -> str | None:
    """The 8 digits typed with or without spaces, or None."""
    if not isinstance(value, str):
        return None
    digits = "".join(value.split())
    return digits if len(digits) == CODE_LENGTH and digits.isascii() and digits.isdigit() else None


def code_hash(key: str, instance_id: int, code: str) -> str:
    """HMAC-SHA256 keyed with the secret key (ACT-1): 10^8 codes are tried in about a
    minute against a plain hash, but not at all without the key. The instance in the
    message makes the same 8 digits of two registrations hash differently."""
    if not key:
        raise ValueError("activation codes are hashed with the secret key; it is empty")
    return hmac.new(key.encode(), f"{instance_id}:{code}".encode(), hashlib.sha256).hexdigest()


def parse_public_key(jwk: object) -> str | None:
    """A canonical JSON text of an EC P-256 public JWK, or None if it is not one."""
    if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    try:
        key = _public_key({"x": jwk["x"], "y": jwk["y"]})
    except (KeyError, ValueError, TypeError):
        return None
    del key
    return json.dumps({"kty": "EC", "crv": "P-256", "x": jwk["x"], "y": jwk["y"]}, sort_keys=True)


def verify_signature(public_key_json: str, message: str, signature_b64url: object) -> bool:
    """Checks an ECDSA P-256 / SHA-256 signature as WebCrypto makes it (raw r||s, 64 bytes)."""
    if not isinstance(signature_b64url, str) or len(signature_b64url) > 200:
        return False
    try:
        raw = _b64url_decode(signature_b64url)
        if len(raw) != 64:
            return False
        der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
        _public_key(json.loads(public_key_json)).verify(der, message.encode(), ec.ECDSA(hashes.SHA256()))
        return True
    except (InvalidSignature, ValueError, TypeError, KeyError):
        return False


def _public_key(jwk: dict) -> ec.EllipticCurvePublicKey:
    x, y = _b64url_decode(jwk["x"]), _b64url_decode(jwk["y"])
    if len(x) != 32 or len(y) != 32:
        raise ValueError("P-256 coordinates are 32 bytes")
    numbers = ec.EllipticCurvePublicNumbers(int.from_bytes(x, "big"), int.from_bytes(y, "big"), ec.SECP256R1())
    return numbers.public_key()


def _b64url_decode(value: str) -> bytes:
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
