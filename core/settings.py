"""One small settings object, read from PARTNERPORTAL_* environment variables.

Every setting has a type and a range, checked by pydantic: a value out of range, NaN or
infinity, or an unknown boolean word stops every command with
`Configuration error: <variable>: why` (exit 2), instead of a worker that never
sweeps or a server whose health says ok while its pages fail.

`Settings` is a pydantic dataclass, so `dataclasses.replace(settings, ...)` (used by
tests) validates as well; pydantic-settings reads the environment (`from_env`).
A new setting is one field line: a type, its range (`between(...)`) and a default,
plus a row in the README's settings table.
"""

from __future__ import annotations

import ipaddress
import math
import os
import secrets
from collections.abc import Mapping
from dataclasses import fields, replace
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import AfterValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic.dataclasses import dataclass
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict
from pydantic_settings.sources.utils import parse_env_vars


PREFIX = "PARTNERPORTAL_"
DEFAULT_DATABASE_URL = "sqlite:///var/partnerportal.sqlite"
# Never echoed in messages and masked by `partnerportal check-config`.
SECRET_FIELDS = frozenset({"secret_key", "smtp_password"})
# Settings whose empty value has no meaning of its own: empty (or blank) means the default,
# as an unset variable does (e.g. `PARTNERPORTAL_DATABASE_URL=` left in a .env file).
EMPTY_MEANS_DEFAULT = frozenset({"database_url"})
CONTACT_FIELDS = ("support_email", "support_phone", "payment_contact_email", "payment_contact_phone")


class SettingsError(RuntimeError):
    """A setting is missing or malformed; `problems` holds one "<variable>: why" each."""

    def __init__(self, *problems: str):
        super().__init__(problems[0] if problems else "invalid settings")
        self.problems = list(problems)


def between(low: float, high: float) -> Any:
    """A closed range; floats also refuse NaN and infinity."""
    return Field(ge=low, le=high, allow_inf_nan=False)


def _database_url(value: str) -> str:
    if value.startswith("sqlite:///") and len(value) > len("sqlite:///"):
        return value
    if value.startswith(("postgresql://", "postgres://")):
        parts = urlsplit(value)
        if parts.hostname and parts.path.strip("/"):
            return value
        raise ValueError("must name a host and a database: postgresql://USER:PASSWORD@HOST:PORT/NAME")
    raise ValueError("must start with sqlite:/// or postgresql://")


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an http:// or https:// address with a host")
    return value


def _secret_key(value: str) -> str:
    if value and len(value) < 32:
        raise ValueError("must be at least 32 characters long")
    return value


def _mail_address(value: str) -> str:
    if "@" not in value:
        raise ValueError("must contain an e-mail address, e.g. Partnerportal <noreply@example.org>")
    return value


def masked_url(url: str) -> str:
    """The URL without its password (for messages and check-config)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def _flow_name(value: str) -> str:
    if not value.isidentifier():
        raise ValueError("must be the name of a flow (its `flow:` key), such as onboarding")
    return value


def _proxies(value: str) -> str:
    for entry in (e.strip() for e in value.split(",")):
        if not entry:
            continue
        try:
            ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(
                f"must list IP addresses or networks separated by commas (e.g. 10.0.0.5,10.1.0.0/16); {entry!r} is neither"
            ) from None
    return value


def _colour(value: str) -> str:
    from core.branding import HEX_COLOUR, MIN_CONTRAST, contrast_with_white

    if not HEX_COLOUR.match(value):
        raise ValueError("must be a colour like #1f4e79")
    contrast = contrast_with_white(value)
    if contrast < MIN_CONTRAST:
        raise ValueError(
            f"has a contrast of {contrast:.1f}:1 against the white text drawn on it; WCAG 2.1 AA needs at least "
            f"{MIN_CONTRAST}:1. Choose a darker colour"
        )
    return value


def _logo(value: str) -> str:
    from core.branding import LOGO_MAX_BYTES, LOGO_SUFFIXES

    if not value:
        return value
    logo = Path(value)
    if logo.suffix.lower() not in LOGO_SUFFIXES:
        raise ValueError("must be an .svg or .png file")
    if not logo.is_file():
        raise ValueError("does not exist or is not a file")
    if logo.stat().st_size > LOGO_MAX_BYTES:
        raise ValueError(f"is larger than {LOGO_MAX_BYTES // 1024} KiB")
    return value


def _one_line(value: str) -> str:
    if any(ord(c) < 32 for c in value):
        raise ValueError("must be one line without control characters")
    return value


def _languages(value: str) -> str:
    from core.i18n import KNOWN_LANGUAGES, SOURCE_LANGUAGE

    codes = [code.strip() for code in value.split(",")]
    if any(not code for code in codes):
        raise ValueError("must list language codes separated by commas, e.g. de,en,de-x-ls")
    if any(code not in KNOWN_LANGUAGES for code in codes):
        raise ValueError(f"must name only known languages ({', '.join(KNOWN_LANGUAGES)})")
    if codes[0] != SOURCE_LANGUAGE:
        raise ValueError(f"must start with {SOURCE_LANGUAGE} (German, the source of every text)")
    if len(set(codes)) != len(codes):
        raise ValueError("names a language twice")
    return ",".join(codes)


def _folder(value: str) -> str:
    if value and not Path(value).is_dir():
        raise ValueError("must be an existing folder")
    return value


Text = Annotated[str, Field(max_length=200)]
Count = Annotated[int, between(1, 100_000)]
Days = Annotated[int, between(1, 3650)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid", strict=False))
class Settings:
    environment: Literal["development", "production"] = "development"
    database_url: Annotated[str, AfterValidator(_database_url)] = DEFAULT_DATABASE_URL
    secret_key: Annotated[str, AfterValidator(_secret_key)] = ""
    base_url: Annotated[str, AfterValidator(_http_url)] = "http://127.0.0.1:8000"
    portal_name: Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_not_blank)] = "Partnerportal"
    # The name's grammatical gender in running text: neuter ("zum Partnerportal"),
    # masculine ("zum Mein AOK Gesundheitspartnerservice"), feminine ("zur ..."), none ("zu ...").
    portal_name_gender: Literal["neuter", "masculine", "feminine", "none"] = "neuter"
    smtp_host: Text = ""  # empty: mails go to the development mailbox
    smtp_port: Annotated[int, between(1, 65535)] = 25
    smtp_user: Text = ""
    smtp_password: Text = ""
    smtp_security: Literal["none", "starttls", "tls"] = "none"
    # SMTP connections one dispatcher keeps open in parallel; each carries many mails in turn.
    # 4, not 2: each mail waits for four replies, and with two connections the mails of a
    # batch went out ~15 % slower (docs/benchmarks-nutzerverwaltung.md, "round 10"); mail
    # servers commonly accept dozens of connections from one client.
    smtp_connections: Annotated[int, between(1, 32)] = 4
    # PostgreSQL: a dispatcher woken by a new mail waits this long for more before it
    # claims, so a round carries a batch rather than one mail (0: claim at once).
    mail_gather_ms: Annotated[int, between(0, 1000)] = 20
    mail_from: Annotated[str, Field(max_length=200), AfterValidator(_mail_address)] = "Partnerportal <noreply@partnerportal.invalid>"
    mail_max_attempts: Annotated[int, between(1, 1000)] = 30  # temporary failures, retried with backoff up to an hour apart
    # How long a dispatcher holds the mails it claimed; renewed while it sends, so this
    # bounds how long mails wait after a dispatcher dies, not how long a send may take.
    outbox_lease_seconds: Annotated[int, between(1, 3600)] = 30
    session_idle_minutes: Annotated[int, between(1, 1440)] = 30
    session_absolute_hours: Annotated[int, between(1, 720)] = 12
    invites_per_admin_per_hour: Count = 50  # invitation mails one admin triggers: invites, resends, links
    mails_per_recipient_per_day: Annotated[int, between(1, 1000)] = 5  # mails admin actions trigger to one address
    # Development only: the development mailbox also answers clients not on a loopback address.
    dev_mailbox_remote: bool = False
    activation_code_minutes: Annotated[int, between(1, 1440)] = 10
    activation_code_attempts: Annotated[int, between(1, 100)] = 5
    registration_code_attempts: Annotated[int, between(1, 1000)] = 10
    pin_attempts: Annotated[int, between(1, 100)] = 5
    login_request_seconds: Annotated[int, between(10, 3600)] = 120
    # Login approval against push bombing (PIN-6); see the README's security section.
    login_pending_max: Annotated[int, between(1, 3)] = 3
    login_starts_per_account: Annotated[int, between(1, 100)] = 5
    login_starts_per_ip: Annotated[int, between(1, 10_000)] = 30
    login_start_window_minutes: Annotated[int, between(1, 1440)] = 15
    login_max_wait_minutes: Annotated[int, between(1, 10_080)] = 240
    login_not_me_block_minutes: Annotated[int, between(1, 1440)] = 15
    known_browser_days: Annotated[int, between(1, 400)] = 180
    flows_dir: Annotated[str, AfterValidator(_folder)] = ""  # empty: the flows shipped in workflows/flows
    # The `flow:` name of the flow file new invitations use.
    onboarding_flow: Annotated[str, Field(max_length=100), AfterValidator(_flow_name)] = "onboarding"
    # The organisation of the portal's operator, whose product owners use the flow studio.
    operator_organisation: Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_not_blank)] = "Betreiber"
    # How often every process re-reads which flow versions are published: a published
    # version reaches every process within 10 s.
    flow_refresh_seconds: Annotated[float, between(0.1, 10)] = 5.0
    scheduler_enabled: bool = True
    sweep_interval_seconds: Annotated[float, between(0.1, 86400)] = 5.0
    sweep_batch_size: Count = 1000
    # On PostgreSQL the processes are woken by NOTIFY (db/wakeups.py); they still poll this
    # often in case a notification was lost. On SQLite they poll as configured above.
    wake_fallback_seconds: Annotated[float, between(1, 3600)] = 30.0
    # Contacts shown on the Kontakt, Hilfe and app pages. Unset: not shown in production
    # (development shows an example instead); `serve` warns about each unset one.
    support_email: Text = ""
    support_phone: Text = ""
    payment_contact_email: Text = ""
    payment_contact_phone: Text = ""
    barrier_reports_per_ip_per_hour: Count = 10
    # Reverse proxies whose X-Forwarded-For is believed (NET-1): addresses or networks,
    # comma-separated. Empty: none, the direct peer is the client.
    trusted_proxies: Annotated[str, Field(max_length=2000), AfterValidator(_proxies)] = ""
    # Branding without touching code. Neutral defaults; the primary colour carries white
    # text (header, buttons), so it must reach WCAG 2.1 AA contrast against white.
    brand_logo: Annotated[str, Field(max_length=500), AfterValidator(_logo)] = ""  # an SVG or PNG file; empty: the name alone
    brand_primary_color: Annotated[str, AfterValidator(_colour)] = "#1f4e79"
    brand_header_text: Annotated[Text, AfterValidator(_one_line)] = ""  # a line beside the name in the header
    brand_footer_text: Annotated[Text, AfterValidator(_one_line)] = ""  # a line above the footer's links
    # Retention in days (README "Retention"): deleted by the scheduler, in batches.
    retention_csv_import_days: Days = 30
    retention_barrier_report_days: Days = 365
    retention_session_days: Days = 30
    retention_audit_days: Days = 365
    retention_outbox_days: Days = 90
    retention_dev_mailbox_days: Days = 7
    log_format: Literal["text", "json"] = "text"
    # The languages people can choose (core/i18n.py), German first: the source of every text.
    languages: Annotated[str, Field(max_length=200), AfterValidator(_languages)] = "de,en,de-x-ls"
    # Prometheus metrics on their own port (0: off), never on the public app.
    metrics_port: Annotated[int, between(0, 65535)] = 0
    metrics_host: Text = "127.0.0.1"
    # True once the secret was generated at start-up rather than configured.
    secret_generated: bool = False

    @model_validator(mode="after")
    def _production_needs_a_secret(self) -> "Settings":
        if self.environment == "production" and not self.secret_key:
            raise ValueError(_SECRET_MISSING)
        return self

    @model_validator(mode="after")
    def _production_needs_a_mail_server(self) -> "Settings":
        # Without one, production would keep invitations and links in the database (or
        # lose them): nobody would ever receive them (CFG-1, REL-2).
        if self.environment == "production" and not self.smtp_host.strip():
            raise ValueError(_SMTP_MISSING)
        return self

    @model_validator(mode="after")
    def _waits_grow(self) -> "Settings":
        if self.login_max_wait_minutes < self.login_start_window_minutes:
            raise ValueError(_WAITS_SHRINK)
        return self

    def language_list(self) -> list[str]:
        return self.languages.split(",")

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

    def unset_contacts(self) -> list[str]:
        """The variables of contacts nobody configured, for the warning at start."""
        return [PREFIX + name.upper() for name in CONTACT_FIELDS if not getattr(self, name).strip()]

    @property
    def is_development(self) -> bool:
        return self.environment == "development"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides) -> "Settings":
        """The settings from `environ` (default: the process environment); SettingsError if any is bad."""
        values = {**read_environment(os.environ if environ is None else environ), **overrides}
        try:
            settings = cls(**values)
        except ValidationError as exc:
            raise SettingsError(*describe(exc, values)) from None
        return settings.checked()

    def checked(self) -> "Settings":
        """With a generated development secret if none is configured."""
        if self.secret_key:
            return self
        return replace(self, secret_key=_development_secret(), secret_generated=True)

    def sqlite_path(self) -> Path | None:
        if self.database_url.startswith("sqlite:///"):
            return Path(self.database_url.removeprefix("sqlite:///"))
        return None


def defaults() -> dict[str, Any]:
    return {f.name: f.default for f in fields(Settings) if f.name != "secret_generated"}


def setting_names() -> list[str]:
    """The fields read from the environment, in declaration order."""
    return [f.name for f in fields(Settings) if f.name != "secret_generated"]


def env_name(field_name: str) -> str:
    return PREFIX + field_name.upper()


# -- reading the environment ------------------------------------------------------------


class _Environment(BaseSettings):
    """Only finds the PARTNERPORTAL_* strings; Settings checks them."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, case_sensitive=False, extra="ignore")


class _MappingSource(EnvSettingsSource):
    """pydantic-settings' environment source over a given mapping (tests pass their own)."""

    def __init__(self, environ: Mapping[str, str]):
        self._environ = environ
        super().__init__(_environment_class())

    def _load_env_vars(self) -> Mapping[str, str | None]:
        return parse_env_vars(self._environ, self.case_sensitive, self.env_ignore_empty, self.env_parse_none_str)


_ENVIRONMENT_CLASS: type[BaseSettings] | None = None


def _environment_class() -> type[BaseSettings]:
    # Built from Settings' own fields (once, on first use), so a new field needs no second list.
    global _ENVIRONMENT_CLASS
    if _ENVIRONMENT_CLASS is None:
        from pydantic import create_model

        _ENVIRONMENT_CLASS = create_model(
            "Environment", __base__=_Environment, **{name: (str | None, None) for name in setting_names()}
        )
    return _ENVIRONMENT_CLASS


def read_environment(environ: Mapping[str, str]) -> dict[str, str]:
    found = _MappingSource(environ)()
    return {
        name: value for name, value in found.items()
        if value is not None and not (name in EMPTY_MEANS_DEFAULT and not value.strip())
    }


# -- messages ---------------------------------------------------------------------------


def describe(exc: ValidationError, values: Mapping[str, Any]) -> list[str]:
    """One "<variable>: why, not 'value'" per problem, in field order."""
    problems = []
    for error in exc.errors(include_url=False):
        name = str(error["loc"][0]) if error["loc"] else ""
        if not name:  # the model-level checks
            message = str(error.get("ctx", {}).get("error", error["msg"]))
            for variable, why in (("login_max_wait_minutes", _WAITS_SHRINK), ("smtp_host", _SMTP_MISSING),
                                  ("secret_key", _SECRET_MISSING)):
                if why in message or variable == "secret_key":
                    problems.append(f"{env_name(variable)}: {why}")
                    break
            continue
        why = _why(name, error)
        if name not in SECRET_FIELDS and name in values and not why.endswith("empty"):
            shown = masked_url(str(values[name])) if name == "database_url" else str(values[name])
            why += f", not {shown!r}"
        problems.append(f"{env_name(name)}: {why}")
    return problems


_SECRET_MISSING = (
    "must be set in production: a fixed secret of at least 32 characters, e.g. the output of "
    "python -c 'import secrets; print(secrets.token_urlsafe(48))'"
)
_WAITS_SHRINK = f"must be at least {PREFIX}LOGIN_START_WINDOW_MINUTES"
_SMTP_MISSING = (
    "production needs a mail server for invitations and registration links; set it to the host name of "
    "your SMTP server"
)
_BOOLEAN_WORDS = "true or false (also 1/0, yes/no, on/off)"


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


def _why(name: str, error: dict) -> str:
    kind = error["type"]
    bounds = _bounds(name)
    range_text = f" between {bounds[0]:g} and {bounds[1]:g}" if bounds else ""
    if kind in ("greater_than_equal", "less_than_equal", "greater_than", "less_than"):
        return f"must be{range_text}"
    if kind in ("int_parsing", "int_from_float", "int_type"):
        return f"must be a whole number{range_text}"
    if kind in ("float_parsing", "float_type"):
        return f"must be a number{range_text}"
    if kind == "finite_number":
        return f"must be a finite number{range_text}"
    if kind in ("bool_parsing", "bool_type"):
        return f"must be {_BOOLEAN_WORDS}"
    if kind == "literal_error":
        return f"must be one of: {error['ctx']['expected'].replace(chr(39), '')}"
    if kind == "string_too_long":
        return f"must be at most {error['ctx']['max_length']} characters long"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "value_error":
        return str(error["ctx"]["error"])
    return error["msg"]


def _bounds(name: str) -> tuple[float, float] | None:
    low = high = None
    for item in Settings.__pydantic_fields__[name].metadata:
        low = getattr(item, "ge", low)
        high = getattr(item, "le", high)
    return (low, high) if low is not None and high is not None else None


def effective(values: Mapping[str, Any], secret_generated: bool = False) -> list[tuple[str, str]]:
    """(variable, value) for every setting, secrets masked; `values` by field name
    (a Settings object's, or the raw strings of an invalid configuration over the defaults)."""
    rows = []
    for name in setting_names():
        value = values[name]
        if name in SECRET_FIELDS:
            shown = "(generated for development)" if name == "secret_key" and secret_generated else (
                "***" if value else "(empty)"
            )
        elif name == "database_url":
            shown = masked_url(value)
        elif isinstance(value, bool):
            shown = str(value).lower()
        elif isinstance(value, float) and math.isfinite(value):
            shown = f"{value:g}"
        else:
            shown = str(value) if value != "" else "(empty)"
        rows.append((env_name(name), shown))
    return rows


# -- the generated development secret ---------------------------------------------------


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


# -- documentation ------------------------------------------------------------------------

_TEXT_RANGES = {
    "database_url": "`sqlite:///…` or `postgresql://…`",
    "secret_key": "empty or ≥ 32 characters",
    "base_url": "`http://` or `https://` URL",
    "mail_from": "contains an e-mail address",
    "flows_dir": "empty or an existing folder",
    "onboarding_flow": "a flow name",
    "trusted_proxies": "addresses or networks, comma-separated",
    "brand_logo": "empty or an .svg/.png file",
    "brand_primary_color": "`#rrggbb`, contrast ≥ 4.5:1 to white",
    "languages": "`de` first, then `en`, `de-x-ls`, comma-separated",
}


def range_text(name: str) -> str:
    """The allowed values of a setting as the README's settings table states them."""
    field = Settings.__pydantic_fields__[name]
    if name in _TEXT_RANGES:
        return _TEXT_RANGES[name]
    if field.annotation is bool:
        return "`true` or `false`"
    choices = getattr(field.annotation, "__args__", None)
    if choices and all(isinstance(c, str) for c in choices):
        return ", ".join(f"`{c}`" for c in choices)
    bounds = _bounds(name)
    if bounds:
        return f"{bounds[0]:g} – {bounds[1]:g}"
    low = high = None
    for item in field.metadata:
        low = getattr(item, "min_length", low)
        high = getattr(item, "max_length", high)
    if high is not None:
        return f"{low} – {high} characters" if low else f"at most {high} characters"
    return "text"
