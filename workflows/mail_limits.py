"""Limits on the mails admins trigger (LIM-1): per admin and hour, per recipient and day.

Every admin action that sends a mail takes one use of both quotas in its own transaction:
an invitation (also from a CSV import), a resend, a registration link and any other row
action whose transition sends mail. Mails the timers send (reminders, expiry) do not count."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import timedelta

from db.limits import Quota, QuotaExhausted

ADMIN_WINDOW = timedelta(hours=1)
RECIPIENT_WINDOW = timedelta(days=1)


@dataclass(frozen=True)
class MailLimits:
    per_admin_per_hour: int = 50
    per_recipient_per_day: int = 5

    @classmethod
    def from_settings(cls, settings) -> "MailLimits":
        return cls(settings.invites_per_admin_per_hour, settings.mails_per_recipient_per_day)

    def quotas(self, actor: str, recipient: str) -> list[Quota]:
        # The address only as a hash: the limit table holds no personal data in clear.
        address = hashlib.sha256(recipient.strip().lower().encode()).hexdigest()
        return [
            Quota(f"admin-mail:{actor}", self.per_admin_per_hour, ADMIN_WINDOW),
            Quota(f"recipient-mail:{address}", self.per_recipient_per_day, RECIPIENT_WINDOW),
        ]


class MailLimitReached(Exception):
    def __init__(self, limit: int):
        self.limit = limit
        super().__init__(f"mail limit of {limit} reached")


class InviteLimitReached(MailLimitReached):
    """The admin has triggered `limit` mails in the last hour."""


class RecipientLimitReached(MailLimitReached):
    """Admin actions have sent `limit` mails to this address in the last 24 hours."""


def limit_reached(exc: QuotaExhausted) -> MailLimitReached:
    kind = InviteLimitReached if exc.quota.scope.startswith("admin-mail:") else RecipientLimitReached
    return kind(exc.quota.limit)
