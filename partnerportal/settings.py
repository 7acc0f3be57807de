"""One small settings object, read from PARTNERPORTAL_* environment variables."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "PARTNERPORTAL_"
DEFAULT_DATABASE_URL = "sqlite:///var/partnerportal.sqlite"


class SettingsError(RuntimeError):
    """A setting is missing or malformed; the message says which and how to fix it."""


@dataclass(frozen=True)
class Settings:
    environment: str = "development"  # "development" or "production"
    database_url: str = DEFAULT_DATABASE_URL
    secret_key: str = ""
    base_url: str = "http://127.0.0.1:8000"
    portal_name: str = "Partnerportal"
    smtp_host: str = ""  # empty: mails go to the development mailbox
    smtp_port: int = 25
    smtp_user: str = ""
    smtp_password: str = ""
    smtp_security: str = "none"  # none, starttls or tls
    mail_from: str = "Partnerportal <noreply@partnerportal.invalid>"
    mail_max_attempts: int = 30  # temporary failures, retried with backoff up to an hour apart
    session_idle_minutes: int = 30
    session_absolute_hours: int = 12
    invites_per_admin_per_hour: int = 50  # invitation mails one admin triggers: invites, resends, links
    mails_per_recipient_per_day: int = 5  # mails admin actions trigger to one address, whoever acts
    activation_code_minutes: int = 10
    activation_code_attempts: int = 5
    registration_code_attempts: int = 10
    pin_attempts: int = 5
    login_request_seconds: int = 120
    flows_dir: str = ""  # empty: the flows shipped in workflows/flows
    scheduler_enabled: bool = True
    sweep_interval_seconds: float = 5.0
    sweep_batch_size: int = 500
    # Contacts shown on the Kontakt, Hilfe and app pages; the defaults are examples. Empty: not shown.
    support_email: str = "support@partnerportal.example"
    support_phone: str = "0800 000000"
    payment_contact_email: str = "zahlungsavise@partnerportal.example"
    payment_contact_phone: str = "0800 000001"
    barrier_reports_per_ip_per_hour: int = 10
    # Development only: the development mailbox also answers clients not on a loopback address.
    dev_mailbox_remote: bool = False
    # True once the secret was generated at start-up rather than configured.
    secret_generated: bool = field(default=False, compare=False)

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> "Settings":
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        for f in fields(cls):
            if f.name == "secret_generated":
                continue
            raw = environ.get(PREFIX + f.name.upper())
            if raw is not None:
                values[f.name] = _convert(f.name, raw, f.type)
        values.update(overrides)
        settings = cls(**values)
        return settings.checked()

    def checked(self) -> "Settings":
        if self.environment not in ("development", "production"):
            raise SettingsError(
                f"{PREFIX}ENVIRONMENT must be 'development' or 'production', not {self.environment!r}."
            )
        if self.smtp_security not in ("none", "starttls", "tls"):
            raise SettingsError(f"{PREFIX}SMTP_SECURITY must be none, starttls or tls.")
        if self.mail_max_attempts < 1:
            raise SettingsError(f"{PREFIX}MAIL_MAX_ATTEMPTS must be at least 1.")
        if self.barrier_reports_per_ip_per_hour < 1:
            raise SettingsError(f"{PREFIX}BARRIER_REPORTS_PER_IP_PER_HOUR must be at least 1.")
        if not 1 <= self.invites_per_admin_per_hour <= 100_000:
            raise SettingsError(f"{PREFIX}INVITES_PER_ADMIN_PER_HOUR must be between 1 and 100000.")
        if not 1 <= self.mails_per_recipient_per_day <= 1_000:
            raise SettingsError(f"{PREFIX}MAILS_PER_RECIPIENT_PER_DAY must be between 1 and 1000.")
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError(f"{PREFIX}SECRET_KEY must be at least 32 characters long.")
        elif not self.is_development:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY is not set. Production needs a fixed secret of at least "
                f"32 characters, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        if not self.is_development and not self.smtp_host.strip():
            # Without a mail server, production would keep invitations and links in the
            # database (or lose them): nobody would ever receive them (CFG-1, REL-2).
            raise SettingsError(
                f"{PREFIX}SMTP_HOST: production needs a mail server for invitations and registration "
                f"links; set it to the host name of your SMTP server."
            )
        if self.secret_key:
            return self
        return _replace(self, secret_key=_development_secret(), secret_generated=True)

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


DEVELOPMENT_SECRET_FILE = Path("var/development-secret-key")


def _development_secret() -> str:
    """One generated secret shared by every development process on this machine (links
    printed by `partnerportal admin create` must verify in `partnerportal serve`)."""
    try:
        existing = DEVELOPMENT_SECRET_FILE.read_text().strip()
        if len(existing) >= 32:
            return existing
    except OSError:
        pass
    secret = secrets.token_urlsafe(48)
    try:
        DEVELOPMENT_SECRET_FILE.parent.mkdir(parents=True, exist_ok=True)
        DEVELOPMENT_SECRET_FILE.write_text(secret)
        DEVELOPMENT_SECRET_FILE.chmod(0o600)
    except OSError:
        pass  # read-only folder: this process keeps its own secret
    return secret


def _replace(settings: Settings, **changes) -> Settings:
    from dataclasses import replace

    return replace(settings, **changes)


def _convert(name: str, raw: str, type_name: object) -> object:
    kind = str(type_name)
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            return raw.strip().lower() in ("1", "true", "yes", "on")
    except ValueError:
        raise SettingsError(f"{PREFIX}{name.upper()} must be a number, not {raw!r}.") from None
    return raw
