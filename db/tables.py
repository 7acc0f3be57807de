"""Piccolo tables. States are plain strings: the flow definition file is their single source."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    ForeignKey,
    Integer,
    Serial,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.defaults.timestamptz import TimestamptzNow
from piccolo.table import Table

# Ids are Serial columns, PostgreSQL `integer`: a larger number is no row's id, and passed
# to a query it made PostgreSQL (beyond 2^31) and SQLite's driver (beyond 2^63) fail.
MAX_ID = 2**31 - 1


def id_from(text: str) -> int | None:
    """The id a cursor or form value names (ASCII digits, 1 to MAX_ID), else None."""
    if not (0 < len(text) <= 10 and text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None


class Organisation(Table, tablename="organisation"):
    """A care provider ("provider"), or the portal's operator ("operator"), whose
    product owners change the flows and see only aggregated figures."""

    id = Serial(primary_key=True)
    name = Varchar(length=200, unique=True)
    kind = Varchar(length=20, default="provider")
    created_at = Timestamptz(default=TimestamptzNow())


class Account(Table, tablename="account"):
    """A person in one organisation; role is "admin" or "staff"."""

    id = Serial(primary_key=True)
    organisation = ForeignKey(Organisation, null=False)
    role = Varchar(length=20, default="staff", choices=None)
    salutation = Varchar(length=20, default="")
    first_name = Varchar(length=100, default="")
    last_name = Varchar(length=100, default="")
    email = Varchar(length=254)
    phone = Varchar(length=40, default="")
    # The person's language (core/i18n.py codes): chosen by the admin when inviting,
    # then by the person's language switch; mails go out in it.
    language = Varchar(length=12, default="de")
    created_at = Timestamptz(default=TimestamptzNow())
    # The names' sort key (db/name_order.py): every statement that writes the names writes
    # it too. On PostgreSQL its collation is "C" (migration m0034).
    name_key = Text(default="")


class FlowInstance(Table, tablename="flow_instance"):
    """One running flow, e.g. one invitation; `version` guards against lost updates."""

    id = Serial(primary_key=True)
    organisation = ForeignKey(Organisation, null=False)
    account = ForeignKey(Account, null=True)
    flow_name = Varchar(length=100)
    flow_version = Integer()
    state = Varchar(length=50)
    version = Integer(default=0)
    context = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class TransitionHistory(Table, tablename="transition_history"):
    """Append-only record of every transition; never updated, never reconstructed."""

    id = Serial(primary_key=True)
    instance = ForeignKey(FlowInstance, null=False)
    organisation = ForeignKey(Organisation, null=False)  # no database key on PostgreSQL (m0029): the instance's implies it
    event = Varchar(length=50)
    from_state = Varchar(length=50)
    to_state = Varchar(length=50)
    actor = Varchar(length=200, default="system")
    client_ip = Varchar(length=64, default="")
    details = JSON(default={})
    created_at = Timestamptz(default=TimestamptzNow())


class Timer(Table, tablename="timer"):
    """A pending event of an instance; status: pending, fired or cancelled."""

    id = Serial(primary_key=True)
    instance = ForeignKey(FlowInstance, null=False)
    event = Varchar(length=50)
    due_at = Timestamptz()
    status = Varchar(length=20, default="pending")
    fired_at = Timestamptz(null=True, default=None)
    # Until when a sweeper holds this timer (jobs/timers.py); other sweepers skip it meanwhile.
    claimed_until = Timestamptz(null=True, default=None)


class Outbox(Table, tablename="outbox"):
    """Mail to send, written in the same transaction as the state change that caused it."""

    id = Serial(primary_key=True)
    organisation = ForeignKey(Organisation, null=True)  # no database key on PostgreSQL (m0029): the instance's implies it
    instance = ForeignKey(FlowInstance, null=True)
    kind = Varchar(length=50)
    recipient = Varchar(length=254)
    payload = JSON(default={})
    status = Varchar(length=20, default="pending")  # pending, sent, failed
    attempts = Integer(default=0)
    next_attempt_at = Timestamptz(default=TimestamptzNow())
    last_error = Text(default="")
    created_at = Timestamptz(default=TimestamptzNow())
    sent_at = Timestamptz(null=True, default=None)


class FlowDefinitionSnapshot(Table, tablename="flow_definition"):
    """The text of every flow version an instance ever started on, so old instances
    keep running on their version after the file changes."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100)
    flow_version = Integer()
    sha256 = Varchar(length=64)
    text = Text()
    created_at = Timestamptz(default=TimestamptzNow())
    published_at = Timestamptz(null=True, default=None)  # when it became the version for new instances
    published_by = Varchar(length=200, default="")  # actor: "account:7", "cli:flows-publish", "file:..."


class FlowPublication(Table, tablename="flow_publication"):
    """Which version of a flow new instances start: one row per flow, changed only by a
    conditional UPDATE (the version it replaces), so of two publishers exactly one wins.
    Every process re-reads this table every few seconds."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100, unique=True)
    flow_version = Integer()
    published_at = Timestamptz()
    published_by = Varchar(length=200, default="")


class FlowDraft(Table, tablename="flow_draft"):
    """A new version of a flow being written in the browser; not used until published.
    status: open, published or discarded."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100)
    base_version = Integer()  # the published version it was started from
    text = Text(default="")
    status = Varchar(length=20, default="open")
    published_version = Integer(null=True, default=None)
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class FlowMigration(Table, tablename="flow_migration"):
    """Moving the running instances of one version to another, in batches; `moved` is the
    progress, so a migration interrupted by a crash resumes where it stopped."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100)
    from_version = Integer()
    to_version = Integer()
    mapping = JSON(default={})
    total = Integer(default=0)
    moved = Integer(default=0)
    status = Varchar(length=20, default="running")  # running, finished
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


class WebSession(Table, tablename="web_session"):
    """A server-side login or registration session; the cookie holds a random token,
    the table only its SHA-256. Ending a session is immediate for every process."""

    id = Serial(primary_key=True)
    token_hash = Varchar(length=64, unique=True)
    kind = Varchar(length=20, default="login")  # login or registration
    account = ForeignKey(Account, null=False)
    organisation = ForeignKey(Organisation, null=False)
    instance = ForeignKey(FlowInstance, null=True)
    created_at = Timestamptz(default=TimestamptzNow())
    last_seen_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()  # absolute limit
    ended_at = Timestamptz(null=True, default=None)
    # The documents (key=version;...) its person had accepted when the consent records last
    # changed, written in that transaction (db/consent.py): a request reads it with the session.
    accepted_documents = Text(default="")


class InvitationLink(Table, tablename="invitation_link"):
    """A link sent by mail; only the SHA-256 of its random token is stored (INV-1)."""

    id = Serial(primary_key=True)
    instance = ForeignKey(FlowInstance, null=False)
    token_hash = Varchar(length=64, unique=True)
    purpose = Varchar(length=30, default="invitation")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)


class DevMail(Table, tablename="dev_mail"):
    """Development mailbox: mails that would have gone over SMTP (no SMTP configured)."""

    id = Serial(primary_key=True)
    outbox = ForeignKey(Outbox, null=True)
    recipient = Varchar(length=254)
    subject = Varchar(length=300)
    text = Text()
    html = Text()
    message_id = Varchar(length=200)
    created_at = Timestamptz(default=TimestamptzNow())


class Device(Table, tablename="device"):
    """A registered two-factor app: its public key and the PIN's argon2id hash."""

    id = Serial(primary_key=True)
    public_id = Varchar(length=64, unique=True)
    account = ForeignKey(Account, null=False)
    organisation = ForeignKey(Organisation, null=False)
    public_key = Text()  # JWK of an ECDSA P-256 key made in the app; the private key never leaves it
    pin_hash = Varchar(length=200)
    pin_failures = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    locked_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)


class ActivationCode(Table, tablename="activation_code"):
    """An 8-digit code for binding a device, stored hashed, valid for minutes, one use."""

    id = Serial(primary_key=True)
    instance = ForeignKey(FlowInstance, null=False)
    code_hash = Varchar(length=64)
    attempts = Integer(default=0)
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    ended_at = Timestamptz(null=True, default=None)


class AttemptCounter(Table, tablename="attempt_counter"):
    """Counters that outlive single codes, e.g. wrong codes per registration (ACT-2)."""

    id = Serial(primary_key=True)
    scope = Varchar(length=100, unique=True)  # e.g. "registration:42"
    count = Integer(default=0)
    updated_at = Timestamptz(default=TimestamptzNow())


class LoginChallenge(Table, tablename="login_challenge"):
    """A login waiting for approval in the app; the browser that started it holds a
    random token whose hash is stored here, so only it can finish the login."""

    id = Serial(primary_key=True)
    public_id = Varchar(length=64, unique=True)
    account = ForeignKey(Account, null=True)  # null for unknown usernames: never approvable
    browser_token_hash = Varchar(length=64)
    number = Varchar(length=8)  # shown in the browser, entered in the app (PIN-6)
    nonce = Varchar(length=64)
    # pending, approved, used; or ended without a login: denied, not_me, wrong_number, superseded
    status = Varchar(length=20, default="pending")
    created_at = Timestamptz(default=TimestamptzNow())
    expires_at = Timestamptz()
    client_ip = Varchar(length=64, default="")
    browser = Varchar(length=100, default="")  # coarse, from the User-Agent: "Firefox auf Windows"
    # The throttle key the request was started for ("account:42" or "name:<hash>"), empty for
    # refused starts: requests of one key replace each other alike, known or unknown.
    requester_key = Varchar(length=100, default="")


class LoginThrottle(Table, tablename="login_throttle"):
    """Login starts per account (or unknown name) and per client address (PIN-6, LIM-1):
    `count` starts in the window that began at `window_start`; a full window blocks the key
    until `blocked_until`, longer with each `strikes`; "Das war ich nicht" sets `hold_until`."""

    id = Serial(primary_key=True)
    key = Varchar(length=100, unique=True)  # "account:42", "name:<hmac>", "ip:203.0.113.7"
    window_start = Timestamptz()
    count = Integer(default=0)
    strikes = Integer(default=0)
    blocked_until = Timestamptz(null=True, default=None)
    hold_until = Timestamptz(null=True, default=None)


class AppRequestNonce(Table, tablename="app_request_nonce"):
    """Nonces of the app's signed requests, kept while their clock window lasts, so a
    captured request cannot be sent again (the unique key makes the check atomic)."""

    id = Serial(primary_key=True)
    key = Varchar(length=150, unique=True)  # "<device id>:<nonce>"
    expires_at = Timestamptz(index=True)


class AuditEvent(Table, tablename="audit_event"):
    """Append-only security events that are not flow transitions (LOG-1): logins,
    code issues, PIN locks, device revocations. Never tokens, codes or PINs (LOG-2)."""

    id = Serial(primary_key=True)
    created_at = Timestamptz(default=TimestamptzNow())
    event = Varchar(length=50)
    actor = Varchar(length=200, default="system")
    organisation = ForeignKey(Organisation, null=True)
    instance = ForeignKey(FlowInstance, null=True)
    client_ip = Varchar(length=64, default="")
    details = JSON(default={})


class CsvImport(Table, tablename="csv_import"):
    """An uploaded list of people to invite. Kept in the database, not in a process:
    any app process may serve the preview and each step of the run."""

    id = Serial(primary_key=True)
    organisation = ForeignKey(Organisation, null=False)
    account = ForeignKey(Account, null=False)  # the admin who uploaded it
    filename = Varchar(length=200, default="")
    encoding = Varchar(length=20, default="")
    delimiter = Varchar(length=1, default=";")
    created_at = Timestamptz(default=TimestamptzNow())
    started_at = Timestamptz(null=True, default=None)


class CsvImportRow(Table, tablename="csv_import_row"):
    """One person of an import. status: invalid, known (already invited when checked),
    pending, running (claimed by one request), invitation_sent, already_invited, limit."""

    id = Serial(primary_key=True)
    csv_import = ForeignKey(CsvImport, null=False)
    line = Integer()
    salutation = Text(default="")
    first_name = Text(default="")
    last_name = Text(default="")
    email = Text(default="")
    problems = Text(default="")  # German messages, one per line
    status = Varchar(length=20, default="pending")
    claim = Varchar(length=32, default="")
    claimed_at = Timestamptz(null=True, default=None)
    instance = ForeignKey(FlowInstance, null=True)


class ConsentRecord(Table, tablename="consent_record"):
    """Append-only (PRIV-1): each acceptance or withdrawal of one document version,
    with the SHA-256 of the exact text shown."""

    id = Serial(primary_key=True)
    account = ForeignKey(Account, null=False)
    organisation = ForeignKey(Organisation, null=False)
    document = Varchar(length=50)
    version = Varchar(length=30)
    text_sha256 = Varchar(length=64)
    action = Varchar(length=20)  # given or withdrawn
    created_at = Timestamptz(default=TimestamptzNow())
    client_ip = Varchar(length=64, default="")


class PostfachMessage(Table, tablename="postfach_message"):
    """A message to a care provider's organisation (e.g. a payment advice)."""

    id = Serial(primary_key=True)
    organisation = ForeignKey(Organisation, null=False)
    sender = Varchar(length=200)
    subject = Varchar(length=300)
    body = Text()
    created_at = Timestamptz(default=TimestamptzNow())


class MessageRead(Table, tablename="message_read"):
    """Read state per person: reading marks a message read for that person only."""

    id = Serial(primary_key=True)
    message = ForeignKey(PostfachMessage, null=False)
    account = ForeignKey(Account, null=False)
    read_at = Timestamptz(default=TimestamptzNow())


class BarrierReport(Table, tablename="barrier_report"):
    """A report from "Barriere melden" (A11Y-2), listed for operators; append-only.
    client_ip is kept for the per-address hourly limit."""

    id = Serial(primary_key=True)
    page_url = Varchar(length=500, default="")
    description = Text()
    email = Varchar(length=254, default="")  # for a reply; empty: none wanted
    client_ip = Varchar(length=64, default="", index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class LimitUse(Table, tablename="limit_use"):
    """One use of a windowed limit, e.g. a mail an admin triggered (LIM-1). `scope` names
    the limit and whom it counts ("admin-mail:account:7", "recipient-mail:<sha256 of the
    address>": no address in clear). Rows older than the window are deleted as new ones come."""

    id = Serial(primary_key=True)
    scope = Varchar(length=100, index=True)
    created_at = Timestamptz(default=TimestamptzNow())


class FunnelCount(Table, tablename="funnel_count"):
    """Counters of the funnel, one row per flow version, invitation day, organisation (0: all)
    and fact (db/funnel.py says what they count)."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100)
    flow_version = Integer()
    organisation = Integer(default=0)
    cohort_day = Varchar(length=10)  # YYYY-MM-DD (UTC) of the invitation
    kind = Varchar(length=20)
    state = Varchar(length=50)
    detail = Varchar(length=120, default="")
    count = Integer(default=0)


class FunnelDelta(Table, tablename="funnel_delta"):
    """Counter changes appended by transitions, folded into FunnelCount by `db.funnel.compact`."""

    id = Serial(primary_key=True)
    flow_name = Varchar(length=100)
    flow_version = Integer()
    organisation = Integer(default=0)
    cohort_day = Varchar(length=10)
    kind = Varchar(length=20)
    state = Varchar(length=50)
    detail = Varchar(length=120, default="")
    count = Integer(default=0)


class FlowSimulation(Table, tablename="flow_simulation"):
    """A draft's simulation (Vorschau) as a job: started by a product owner, run in
    chunks by whichever scheduler claims it (`worker`, `lease_until`); `last_instance` and
    `summary` hold the progress, so a simulation interrupted by a crash resumes."""

    id = Serial(primary_key=True)
    draft = Integer()
    flow_name = Varchar(length=100)
    text = Text()  # the draft's text when the simulation started
    days = Integer()
    since = Timestamptz()
    until = Timestamptz()
    status = Varchar(length=20, default="running")  # running, finished, failed
    replayed = Integer(default=0)
    total = Integer(default=0)
    last_instance = Integer(default=0)  # the last instance id replayed (keyset cursor)
    summary = Text(default="")  # JSON: the summary so far (the result once finished)
    worker = Varchar(length=64, default="")
    lease_until = Timestamptz(null=True, default=None)
    created_by = Varchar(length=200, default="")
    created_at = Timestamptz(default=TimestamptzNow())
    updated_at = Timestamptz(default=TimestamptzNow())


ALL_TABLES: list[type[Table]] = [
    Organisation,
    Account,
    FlowInstance,
    TransitionHistory,
    Timer,
    Outbox,
    FlowDefinitionSnapshot,
    FlowPublication,
    FlowDraft,
    FlowMigration,
    FlowSimulation,
    WebSession,
    InvitationLink,
    DevMail,
    Device,
    ActivationCode,
    AttemptCounter,
    LoginChallenge,
    LoginThrottle,
    AppRequestNonce,
    AuditEvent,
    CsvImport,
    CsvImportRow,
    ConsentRecord,
    PostfachMessage,
    MessageRead,
    BarrierReport,
    LimitUse,
    FunnelCount,
    FunnelDelta,
]
