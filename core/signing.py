"""Signed values for links and cookies: one salt per purpose (INV-5), so a value
signed for one purpose never verifies for another."""

from __future__ import annotations

from itsdangerous import BadSignature, URLSafeSerializer

PURPOSES = frozenset({"invitation-link", "registration-step"})


class Signer:
    def __init__(self, secret_keys: list[str] | str):
        # The last key signs; all verify, so keys can be rotated.
        self.secret_keys = [secret_keys] if isinstance(secret_keys, str) else list(secret_keys)
        # One serializer per purpose, built once: the outbox signs a link for every mail.
        self._serializers = {
            purpose: URLSafeSerializer(self.secret_keys, salt=f"partnerportal:{purpose}") for purpose in PURPOSES
        }

    def _serializer(self, purpose: str) -> URLSafeSerializer:
        serializer = self._serializers.get(purpose)
        if serializer is None:
            raise ValueError(f"unknown signing purpose {purpose!r}")
        return serializer

    def sign(self, purpose: str, value: str) -> str:
        return self._serializer(purpose).dumps(value)

    def unsign(self, purpose: str, signed: str) -> str | None:
        """The value, or None for anything tampered with, foreign or malformed."""
        if not isinstance(signed, str) or len(signed) > 512:
            return None
        try:
            value = self._serializer(purpose).loads(signed)
        except BadSignature:
            return None
        return value if isinstance(value, str) else None
