"""The Zwei-Faktor-App's protocol spoken from Python with real keys and signatures:
what the browser app does with WebCrypto, for HTTP-level tests."""

from __future__ import annotations

import base64
import secrets
import time

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Device:
    def __init__(self, client: httpx.AsyncClient, clock=None):
        self.client = client
        self.clock = clock
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.device_id: str | None = None

    def public_jwk(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {"kty": "EC", "crv": "P-256", "x": b64url(numbers.x.to_bytes(32, "big")), "y": b64url(numbers.y.to_bytes(32, "big"))}

    def sign(self, message: str) -> str:
        r, s = decode_dss_signature(self.key.sign(message.encode(), ec.ECDSA(hashes.SHA256())))
        return b64url(r.to_bytes(32, "big") + s.to_bytes(32, "big"))

    async def activate(self, username: str, code: str, pin: str = "472913", pin_repeat: str | None = None, **override) -> httpx.Response:
        body = {
            "username": username, "code": code, "pin": pin, "pin_repeat": pin if pin_repeat is None else pin_repeat,
            "public_key": self.public_jwk(), "terms_accepted": True, **override,
        }
        response = await self.client.post("/api/app/activate", json=body)
        if response.status_code == 201:
            self.device_id = response.json()["device_id"]
        return response

    def timestamp(self) -> int:
        now = self.clock.now().timestamp() if self.clock else time.time()
        return int(now * 1000)

    def list_body(self, timestamp_ms: int | None = None, nonce: str | None = None) -> dict:
        """A signed listing request: what the app sends, and what a replay sends again."""
        timestamp = timestamp_ms if timestamp_ms is not None else self.timestamp()
        nonce = nonce or secrets.token_urlsafe(18)
        return {
            "device_id": self.device_id, "timestamp": timestamp, "nonce": nonce,
            "signature": self.sign(f"list:{self.device_id}:{timestamp}:{nonce}"),
        }

    async def requests(self, timestamp_ms: int | None = None) -> httpx.Response:
        return await self.client.post("/api/app/requests", json=self.list_body(timestamp_ms))

    def answer_body(self, request: dict, pin: str, decision: str, number: str | None) -> dict:
        timestamp, nonce = self.timestamp(), secrets.token_urlsafe(18)
        entered = (number or "") if decision == "approve" else ""
        signed_number = "".join(entered.split())
        return {
            "device_id": self.device_id, "decision": decision, "pin": pin, "number": entered, "timestamp": timestamp,
            "nonce": nonce, "signature": self.sign(f"{decision}:{request['id']}:{request['nonce']}:{signed_number}:{timestamp}:{nonce}"),
        }

    async def answer(self, request: dict, pin: str = "472913", decision: str = "approve", number: str | None = None) -> httpx.Response:
        """`number`: what the person types from the browser's page (approve only)."""
        return await self.client.post(
            f"/api/app/requests/{request['id']}/answer", json=self.answer_body(request, pin, decision, number)
        )
