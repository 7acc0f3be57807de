"""One small settings object, read from PARTNERPORTAL_* environment variables."""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass, field, fields
from pathlib import Path

PREFIX = "PARTNERPORTAL_"
DEFAULT_DATABASE_URL = "sqlite:///var/partnerportal.sqlite"
# Settings whose empty value has no meaning of its own: empty (or blank) means the default,
# as an unset variable does (e.g. `PARTNERPORTAL_DATABASE_URL=` left in a .env file).
EMPTY_MEANS_DEFAULT = frozenset({"database_url"})


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
    invites_per_admin_per_hour: int = 50
    activation_code_minutes: int = 10
    activation_code_attempts: int = 5
    registration_code_attempts: int = 10
    pin_attempts: int = 5
    login_request_seconds: int = 120
    # Login approval against push bombing (PIN-6); see the README's security section.
    login_pending_max: int = 3
    login_starts_per_account: int = 5
    login_starts_per_ip: int = 30
    login_start_window_minutes: int = 15
    login_max_wait_minutes: int = 240
    login_not_me_block_minutes: int = 15
    known_browser_days: int = 180
    flows_dir: str = ""  # empty: the flows shipped in workflows/flows
    onboarding_flow: str = "onboarding"  # the `flow:` name of the flow file new invitations use
    # The organisation of the portal's operator, whose product owners use the flow studio.
    operator_organisation: str = "Betreiber"
    # How often every process re-reads which flow versions are published (at most 10 s).
    flow_refresh_seconds: float = 5.0
    scheduler_enabled: bool = True
    sweep_interval_seconds: float = 5.0
    sweep_batch_size: int = 500
    # Contacts shown on the Kontakt, Hilfe and app pages; the defaults are examples. Empty: not shown.
    support_email: str = "support@partnerportal.example"
    support_phone: str = "0800 000000"
    payment_contact_email: str = "zahlungsavise@partnerportal.example"
    payment_contact_phone: str = "0800 000001"
    barrier_reports_per_ip_per_hour: int = 10
    # Reverse proxies whose X-Forwarded-For is believed (NET-1): addresses or networks,
    # comma-separated. Empty: none, the direct peer is the client.
    trusted_proxies: str = ""
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
            if raw is not None and not (f.name in EMPTY_MEANS_DEFAULT and not raw.strip()):
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
        if not self.onboarding_flow.isidentifier():
            raise SettingsError(f"{PREFIX}ONBOARDING_FLOW must be the name of a flow (its `flow:` key), such as onboarding.")
        if not self.operator_organisation.strip() or len(self.operator_organisation) > 200:
            raise SettingsError(f"{PREFIX}OPERATOR_ORGANISATION must be a name of 1 to 200 characters.")
        if self.barrier_reports_per_ip_per_hour < 1:
            raise SettingsError(f"{PREFIX}BARRIER_REPORTS_PER_IP_PER_HOUR must be at least 1.")
        for name, low, high in LIMIT_RANGES:
            value = getattr(self, name)
            if not low <= value <= high:
                raise SettingsError(f"{PREFIX}{name.upper()} must be between {low} and {high}, not {value}.")
        if self.login_max_wait_minutes < self.login_start_window_minutes:
            raise SettingsError(
                f"{PREFIX}LOGIN_MAX_WAIT_MINUTES must be at least {PREFIX}LOGIN_START_WINDOW_MINUTES "
                f"({self.login_start_window_minutes})."
            )
        for entry in self.trusted_proxy_list():
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise SettingsError(
                    f"{PREFIX}TRUSTED_PROXIES must list IP addresses or networks separated by commas "
                    f"(e.g. 10.0.0.5,10.1.0.0/16), not {entry!r}."
                ) from None
        if self.secret_key:
            if len(self.secret_key) < 32:
                raise SettingsError(f"{PREFIX}SECRET_KEY must be at least 32 characters long.")
            return self
        if not self.is_development:
            raise SettingsError(
                f"{PREFIX}SECRET_KEY is not set. Production needs a fixed secret of at least "
                f"32 characters, e.g. the output of: python -c 'import secrets; print(secrets.token_urlsafe(48))'"
            )
        return _replace(self, secret_key=_development_secret(), secret_generated=True)

    def trusted_proxy_list(self) -> list[str]:
        return [entry.strip() for entry in self.trusted_proxies.split(",") if entry.strip()]

    def start_warnings(self) -> list[str]:
        """What a process logs at start about settings that work but leak (INV-1)."""
        warnings = []
        if self.smtp_host and self.smtp_security == "none" and not _is_loopback(self.smtp_host):
            warnings.append(
                f"Mail goes to {self.smtp_host}:{self.smtp_port} without TLS: invitation links and "
                f"the SMTP password cross the network readable. Set {PREFIX}SMTP_SECURITY=starttls or tls."
            )
        return warnings

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


# (setting, lowest, highest) for the login limits.
LIMIT_RANGES = (
    ("flow_refresh_seconds", 0.1, 10),  # a published version reaches every process within 10 s
    ("login_pending_max", 1, 3),
    ("login_starts_per_account", 1, 100),
    ("login_starts_per_ip", 1, 10_000),
    ("login_start_window_minutes", 1, 1440),
    ("login_max_wait_minutes", 1, 10_080),
    ("login_not_me_block_minutes", 1, 1440),
    ("known_browser_days", 1, 400),
)
def _is_loopback(host: str) -> bool:
    """By name or address only: resolving a name at start could hang, and a name other
    than localhost may point anywhere later."""
    host = host.strip().strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


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
