"""The `partnerportal` command."""

from __future__ import annotations

import argparse
import logging
import os
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timezone
from pathlib import Path

from core import event_loop
from core.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    try:
        # Every command checks every setting first: a bad value stops it before it does anything.
        args.settings = None if args.run is _check_config else Settings.from_env()
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    from db.migrate import UnmigratedDatabase
    from db.outage import CannotConnect
    from workflows.definition import FlowDefinitionError
    from workflows.registry import UnknownFlow

    try:
        return args.run(args) or 0
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except CannotConnect as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except (UnmigratedDatabase, FlowDefinitionError, UnknownFlow) as exc:
        # Problems a person fixes by a command or an edit: a message, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl+C before the server or worker took over the signal
        # A connection attempt cut short leaves a future asyncio would report at exit.
        logging.getLogger("asyncio").disabled = True
        return 130


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnerportal", description="Partnerportal onboarding workflow engine")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="start the web app with its scheduler")
    _host_port(serve)
    serve.add_argument(
        "--workers", type=_positive, default=None,
        help="web processes (default: one per CPU core); with more than one, the scheduler runs in one extra process",
    )
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="prepare the embedded demo (SQLite, demo organisation) and serve it")
    _host_port(demo)
    demo.add_argument("--no-serve", action="store_true", help="prepare only, do not start the server")
    demo.set_defaults(run=_demo)

    worker = commands.add_parser("worker", help="run only the scheduler (timers), no web server")
    # What `serve --workers N` starts beside its web processes when only the metrics port is wanted.
    worker.add_argument("--metrics-only", action="store_true", help=argparse.SUPPRESS)
    worker.set_defaults(run=_worker)

    db = commands.add_parser("db", help="database commands").add_subparsers(title="db commands")
    upgrade = db.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(run=_db_upgrade)
    backup = db.add_parser("backup", help="copy the running database into FILE (SQLite: online backup; PostgreSQL: pg_dump)")
    backup.add_argument("file", type=Path)
    backup.set_defaults(run=_db_backup)

    admin = commands.add_parser("admin", help="organisation admins").add_subparsers(title="admin commands")
    admin_create = admin.add_parser("create", help="create an organisation (if new) and invite its admin; prints the link")
    admin_create.add_argument("--org", required=True, help="name of the organisation")
    admin_create.add_argument("--email", required=True)
    admin_create.add_argument("--first-name", default="")
    admin_create.add_argument("--last-name", default="")
    admin_create.add_argument("--salutation", default="keine Angabe")
    admin_create.set_defaults(run=_admin_create)
    admin_restore = admin.add_parser(
        "restore", help="give an admin who lost access (locked, lost device) a fresh registration link"
    )
    admin_restore.add_argument("--org", required=True, help="name of the organisation")
    admin_restore.add_argument("--email", required=True)
    admin_restore.set_defaults(run=_admin_restore)

    operator = commands.add_parser("operator", help="the portal operator's product owners").add_subparsers(
        title="operator commands"
    )
    operator_create = operator.add_parser(
        "create", help="invite a product owner (flow studio) into the operator's organisation; prints the link"
    )
    operator_create.add_argument("--email", required=True)
    operator_create.add_argument("--first-name", default="")
    operator_create.add_argument("--last-name", default="")
    operator_create.set_defaults(run=_operator_create)

    postfach = commands.add_parser("postfach", help="the organisations' Postfach").add_subparsers(title="postfach commands")
    deliver = postfach.add_parser("deliver", help="deliver a message to an organisation's Postfach")
    deliver.add_argument("--org", required=True, help="name of the organisation")
    deliver.add_argument("--subject", required=True)
    deliver.add_argument("--body-file", required=True, type=Path, help="UTF-8 text file; blank lines separate paragraphs")
    deliver.add_argument("--sender", default="Krankenkasse – Bereich Finanzen")
    deliver.set_defaults(run=_postfach_deliver)

    flows = commands.add_parser("flows", help="flow definition commands").add_subparsers(title="flows commands")
    flows_list = flows.add_parser("list", help="list the flows and their versions")
    flows_list.set_defaults(run=_flows_list)
    check = flows.add_parser("check", help="validate flow files (exit 0 when valid, 1 otherwise)")
    check.add_argument("files", nargs="*", type=Path, help="flow files (default: the configured flows)")
    check.set_defaults(run=_flows_check)
    diagram = flows.add_parser("diagram", help="print a flow as a diagram")
    diagram.add_argument("name")
    diagram.add_argument("--format", choices=["svg", "mermaid"], default="mermaid")
    diagram.add_argument("--output", type=Path, help="write to this file instead of standard output")
    diagram.set_defaults(run=_flows_diagram)
    publish = flows.add_parser(
        "publish", help="make a flow file the version new instances start, in every running process"
    )
    publish.add_argument("file", type=Path)
    publish.set_defaults(run=_flows_publish)
    export = flows.add_parser("export", help="print the published (or any stored) version of a flow as YAML")
    export.add_argument("name")
    export.add_argument("--version", type=int, help="default: the published version")
    export.set_defaults(run=_flows_export)
    migrate = flows.add_parser("migrate", help="move running instances to another version of a flow")
    migrate.add_argument("name")
    migrate.add_argument("--from-version", type=int, required=True)
    migrate.add_argument("--to-version", type=int, help="default: the version in the flow file")
    migrate.add_argument("--map", action="append", default=[], metavar="OLD=NEW", help="state mapping (repeatable)")
    migrate.set_defaults(run=_flows_migrate)
    funnel = flows.add_parser("funnel", help="print the funnel (Trichter) of a flow version")
    funnel.add_argument("name")
    funnel.add_argument("--since", type=date.fromisoformat, help="first invitation day, YYYY-MM-DD (default: no limit)")
    funnel.add_argument("--until", type=date.fromisoformat, help="last invitation day, YYYY-MM-DD (default: no limit)")
    funnel.add_argument("--version", type=int, help="default: the published version")
    funnel.add_argument("--org", type=int, help="one organisation's id (default: all)")
    funnel.add_argument("--format", choices=["table", "csv", "json"], default="table")
    funnel.set_defaults(run=_flows_funnel)

    reports = commands.add_parser("reports", help="reports from the portal's forms").add_subparsers(title="reports commands")
    reports_list = reports.add_parser("list", help='list the latest accessibility reports ("Barriere melden")')
    reports_list.add_argument("--limit", type=int, default=50, help="how many of the newest reports (default 50)")
    reports_list.set_defaults(run=_reports_list)

    person = commands.add_parser("person", help="data subject requests").add_subparsers(title="person commands")
    person_export = person.add_parser("export", help="everything stored about a person (GDPR Art. 15), as JSON or text")
    person_export.add_argument("--email", required=True)
    person_export.add_argument("--format", choices=["json", "text"], default="json")
    person_export.set_defaults(run=_person_export)

    check_config = commands.add_parser(
        "check-config", help="print the effective settings (secrets masked) and what is wrong (exit 2 if anything is)"
    )
    check_config.set_defaults(run=_check_config)
    return parser


def _host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def _positive(value: str) -> int:
    number = int(value)
    if not 1 <= number <= 64:
        raise argparse.ArgumentTypeError("zwischen 1 und 64")
    return number


def _run_with_database(settings: Settings, work: Callable[..., Awaitable[int]]) -> int:
    from db.engine import Database

    async def runner() -> int:
        database = Database(settings.database_url)
        await database.start()
        try:
            return await work(database)
        finally:
            await database.close()

    return event_loop.run(runner())


# -- serving ----------------------------------------------------------------


def _serve(args, settings: Settings | None = None) -> int:
    import uvicorn

    from db.migrate import UnmigratedDatabase
    from partnerportal.app import create_app

    settings = settings or args.settings
    try:
        _run_with_database(settings, lambda db: _ok(_ready(db, settings)))
    except UnmigratedDatabase as exc:
        print(str(exc), file=sys.stderr)
        return 1
    from partnerportal import logs

    # `serve` defaults to one web process per core; `demo` (no --workers) keeps one.
    workers = getattr(args, "workers", 1) or os.cpu_count() or 1

    logs.configure(settings.log_format)
    _warn_unset_contacts(settings)
    print(f"Partnerportal on http://{args.host}:{args.port}/ ({workers} web process{'es' if workers > 1 else ''})", flush=True)
    # NET-1: uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so a
    # local client could forge its address (audit, per-address limits). Only the
    # configured proxies are believed; with none, the header is ignored.
    trusted = settings.trusted_proxy_list()
    # log_config=None: uvicorn keeps our handler; its access log is replaced by web/request_log.py.
    options = dict(host=args.host, port=args.port, log_config=None, access_log=False,
                   proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None)
    if workers > 1:
        return _serve_workers(workers, settings, options)
    try:
        uvicorn.Server(uvicorn.Config(create_app(settings), **options)).run()
    except KeyboardInterrupt:
        # uvicorn shuts down cleanly on Ctrl+C, then raises the signal again for the caller.
        pass
    return 0


def _serve_workers(workers: int, settings: Settings, options: dict) -> int:
    """Several web processes (uvicorn imports the app factory in each; settings come from
    the environment) and, if the scheduler or the metrics port is on, one `worker` process
    beside them: the web processes run neither, so timers are swept by one process per host
    and only one process binds the metrics port."""
    import uvicorn

    beside = None
    if settings.scheduler_enabled or settings.metrics_port:
        only_metrics = [] if settings.scheduler_enabled else ["--metrics-only"]
        beside = subprocess.Popen([sys.executable, "-m", "partnerportal.cli", "worker", *only_metrics])
    try:
        uvicorn.run("partnerportal.app:create_app_from_environment", factory=True, workers=workers, **options)
    except KeyboardInterrupt:
        pass
    finally:
        if beside is not None:
            beside.terminate()
            try:
                beside.wait(timeout=15)
            except subprocess.TimeoutExpired:
                beside.kill()
                beside.wait()
    return 0


def _warn_unset_contacts(settings: Settings) -> None:
    """People look for help on the Kontakt page: say at start what it will not show."""
    shown_instead = " (development shows an example instead)" if settings.is_development else ""
    for variable in settings.unset_contacts():
        logging.getLogger("partnerportal").warning(
            "%s is not set; the Kontakt, Hilfe and app pages do not show it%s.", variable, shown_instead)


async def _ready(db, settings: Settings) -> None:
    """What the app checks at start, checked before the server starts, for a clear message."""
    from workflows import flow_snapshots
    from db.migrate import ensure_migrated

    registry = _registry(settings)
    await ensure_migrated(db)
    await flow_snapshots.sync(db, registry)
    if settings.metrics_port:
        from partnerportal.metrics import ensure_port_free

        ensure_port_free(settings.metrics_host, settings.metrics_port)


async def _ok(awaitable: Awaitable) -> int:
    await awaitable
    return 0


def _demo(args) -> int:
    from partnerportal.demo import prepare_demo, with_demo_brand

    settings = with_demo_brand(args.settings)
    lines = _run_with_database(settings, lambda db: prepare_demo(db, settings))
    for line in lines:
        print(line)
    if args.no_serve:
        return 0
    return _serve(args, settings)


def _admin_create(args) -> int:
    from partnerportal.setup import invite_admin

    return _invite_from_cli(args, args.salutation, "admin", lambda db, settings, person: invite_admin(db, settings, args.org, person))


def _operator_create(args) -> int:
    from partnerportal.setup import invite_product_owner

    return _invite_from_cli(args, "keine Angabe", "product owner", invite_product_owner)


def _invite_from_cli(args, salutation: str, what: str, invite_one) -> int:
    from db.migrate import UnmigratedDatabase, ensure_migrated
    from partnerportal.setup import WrongOrganisationKind
    from web.forms import check_email, normalise_email
    from workflows.invitations import Person

    if problem := check_email(args.email):
        print(problem, file=sys.stderr)
        return 2
    settings = args.settings
    person = Person(salutation, args.first_name, args.last_name, normalise_email(args.email))
    organisation = getattr(args, "org", None) or settings.operator_organisation

    async def work(db) -> int:
        try:
            await ensure_migrated(db)
            state, link = await invite_one(db, settings, person)
        except (UnmigratedDatabase, WrongOrganisationKind) as exc:
            print(str(exc), file=sys.stderr)
            return 1
        if link is None:
            print(f"{person.email} is already registered in {organisation} (state: {state}).")
        else:
            print(f"Invited {person.email} as {what} of {organisation}. Registration link:\n{link}")
        return 0

    return _run_with_database(settings, work)


def _admin_restore(args) -> int:
    from db.migrate import UnmigratedDatabase, ensure_migrated
    from partnerportal.setup import RestoreRefused, restore_admin
    from web.forms import check_email, normalise_email

    if problem := check_email(args.email):
        print(problem, file=sys.stderr)
        return 2
    settings = Settings.from_env()

    async def work(db) -> int:
        try:
            await ensure_migrated(db)
        except UnmigratedDatabase as exc:
            print(str(exc), file=sys.stderr)
            return 1
        try:
            events, link = await restore_admin(db, settings, args.org, normalise_email(args.email))
        except RestoreRefused as exc:
            print(str(exc), file=sys.stderr)
            return 1
        done = f" ({', '.join(events)})" if events else ""
        print(f"Restored {args.email} as admin of {args.org}{done}. They register their device again. Registration link:\n{link}")
        return 0

    return _run_with_database(settings, work)


def _postfach_deliver(args) -> int:
    from db import postfach
    from db.migrate import ensure_migrated
    from db.tables import Organisation
    from core.clock import SystemClock

    try:
        body = args.body_file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        print(f"Cannot read {args.body_file}: {exc}", file=sys.stderr)
        return 2
    if not body or not args.subject.strip() or len(args.subject) > 300:
        print("Subject (at most 300 characters) and body must not be empty.", file=sys.stderr)
        return 2
    settings = args.settings

    async def work(db) -> int:
        await ensure_migrated(db)
        row = await db.fetch_one(Organisation.select(Organisation.id).where(Organisation.name == args.org))
        if row is None:
            print(f"No organisation named {args.org!r}.", file=sys.stderr)
            return 1
        result = await db.write([postfach.deliver_step(row["id"], args.sender, args.subject.strip(), body, SystemClock().now())])
        print(f"Delivered message {result[0][0]['id']} to {args.org}.")
        return 0

    return _run_with_database(settings, work)


def _worker(args) -> int:
    from partnerportal.worker import run_worker

    return event_loop.run(run_worker(args.settings, scheduler_on=not args.metrics_only))


def _db_upgrade(args) -> int:
    from db.migrate import upgrade

    settings = args.settings

    async def work(db) -> int:
        applied = await upgrade(db)
        print(f"Applied {len(applied)} migration(s)." if applied else "The database is up to date.")
        return 0

    return _run_with_database(settings, work)


def _db_backup(args) -> int:
    from db.backup import BackupFailed, backup_postgres, backup_sqlite
    from core.settings import masked_url

    settings = args.settings
    try:
        if settings.sqlite_path() is not None:
            backup_sqlite(settings.sqlite_path(), args.file)
        else:
            backup_postgres(settings.database_url, args.file)
    except (BackupFailed, OSError, sqlite3.Error) as exc:
        print(f"Backup of {masked_url(settings.database_url)} failed: {exc}", file=sys.stderr)
        return 1
    print(f"Backed up {masked_url(settings.database_url)} to {args.file}.")
    return 0


# -- flows --------------------------------------------------------------------


def _registry(settings: Settings):
    from workflows.registry import load_registry

    return load_registry(settings)


def _flows_list(args) -> int:
    registry = _registry(args.settings)
    for name in registry.names():
        definition = registry.current(name).definition
        print(f"{name}\tversion {definition.version}\t{definition.title}\t{definition.source}")
    return 0


def _flows_check(args) -> int:
    from workflows.definition import FlowDefinitionError, load_file, missing_translations
    from workflows.registry import SHIPPED_FLOWS_DIR

    files, settings = args.files, None
    if not files:
        settings = args.settings
        directory = Path(settings.flows_dir) if settings.flows_dir else SHIPPED_FLOWS_DIR
        files = sorted(directory.glob("*.yaml"))
    failed, names = 0, set()
    for path in files:
        try:
            definition = load_file(path)
        except FlowDefinitionError as exc:
            print(f"error: {exc}", file=sys.stderr)
            failed += 1
        else:
            names.add(definition.name)
            languages = (args.settings or Settings()).language_list()
            problems = missing_translations(definition, languages)
            for problem in problems:
                print(f"error: {problem}", file=sys.stderr)
            if problems:
                failed += 1
                continue
            print(f"ok: {path}: flow {definition.name} version {definition.version}, "
                  f"{len(definition.states)} states, {len(definition.transitions)} transitions")
    if settings is not None and not failed and files and settings.onboarding_flow not in names:
        print(f"error: no file in the flows folder has flow: {settings.onboarding_flow} "
              f"(PARTNERPORTAL_ONBOARDING_FLOW names the flow new invitations use)", file=sys.stderr)
        failed += 1
    return 1 if failed or not files else 0


def _flows_diagram(args) -> int:
    from workflows import diagram

    flow = _registry(args.settings).current(args.name)
    try:
        text = diagram.svg(flow) if args.format == "svg" else diagram.mermaid(flow)
    except diagram.GraphvizMissing as exc:
        print(str(exc), file=sys.stderr)
        return 1
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


def _flows_publish(args) -> int:
    from core.clock import SystemClock
    from db.migrate import ensure_migrated
    from workflows import flow_snapshots
    from workflows.publication import PublishConflict, PublishRefused, publish

    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"Cannot read {args.file}: {exc}", file=sys.stderr)
        return 2
    settings = args.settings
    registry = _registry(settings)

    async def work(db) -> int:
        await ensure_migrated(db)
        await flow_snapshots.sync(db, registry)
        try:
            result = await publish(db, registry, text, "cli:flows-publish", SystemClock().now(), source=str(args.file))
        except (PublishRefused, PublishConflict) as exc:
            print(f"Refused: {exc}", file=sys.stderr)
            return 1
        definition = result.definition
        print(
            f"Published {definition.name} version {definition.version} (was {result.previous_version}). "
            f"Every running process starts new instances on it within {settings.flow_refresh_seconds:g} s; "
            "running instances keep their version."
        )
        return 0

    return _run_with_database(settings, work)


def _flows_export(args) -> int:
    from db import flow_versions
    from db.migrate import ensure_migrated
    from workflows import flow_snapshots

    settings = args.settings
    registry = _registry(settings)

    async def work(db) -> int:
        await ensure_migrated(db)
        await flow_snapshots.sync(db, registry)
        version = args.version or registry.current(args.name).version
        row = await flow_versions.stored(db, args.name, version)
        if row is None:
            print(f"Flow {args.name!r} has no stored version {version}.", file=sys.stderr)
            return 1
        sys.stdout.write(row["text"])
        return 0

    return _run_with_database(settings, work)


def _flows_migrate(args) -> int:
    from workflows import flow_snapshots
    from workflows.flow_migration import migrate_instances
    from db.migrate import ensure_migrated
    from core.clock import SystemClock
    from workflows.registry import UnknownFlow
    from workflows.versioning import MigrationRefused, parse_mapping, plan_state_mapping

    settings = args.settings
    registry = _registry(settings)

    async def work(db) -> int:
        await ensure_migrated(db)
        # Plan before writing anything: a refused migration must not store the file's
        # version either (a stored text blocks later edits of an unchanged version).
        unstored = await flow_snapshots.load(db, registry)
        try:
            to_version = args.to_version or registry.current(args.name).version
            if to_version == args.from_version:
                raise MigrationRefused(f"version {to_version} is both source and target; nothing to move")
            old = registry.get(args.name, args.from_version).definition
            new = registry.get(args.name, to_version).definition
            mapping = plan_state_mapping(old, new, parse_mapping(args.map))
        except (UnknownFlow, MigrationRefused) as exc:
            print(f"Refused: {exc}", file=sys.stderr)
            return 1
        await flow_snapshots.store(db, registry, unstored)
        moved = await migrate_instances(db, old, new, mapping, SystemClock().now(), actor="cli:flows-migrate")
        print(f"Moved {moved} instance(s) of {args.name} from version {old.version} to {new.version}.")
        return 0

    return _run_with_database(settings, work)


def _flows_funnel(args) -> int:
    import json

    from db import funnel as counters
    from db.migrate import ensure_migrated
    from workflows import flow_snapshots, funnel
    from workflows.registry import UnknownFlow

    settings = args.settings
    registry = _registry(settings)

    async def work(db) -> int:
        await ensure_migrated(db)
        await flow_snapshots.sync(db, registry)
        try:
            flow = registry.get(args.name, args.version) if args.version else registry.current(args.name)
        except UnknownFlow as exc:
            print(f"Refused: {exc}", file=sys.stderr)
            return 1
        rows = await counters.counts(db, flow.name, flow.version, args.org, args.since, args.until)
        report = funnel.build_report(flow.definition, rows, args.since, args.until, args.org)
        if args.format == "json":
            print(json.dumps(funnel.as_json(report), ensure_ascii=False, indent=2))
        elif args.format == "csv":
            sys.stdout.write(funnel.to_csv(report))
        else:
            print(f"{report.title}, version {report.version}: {funnel.summary(report)}")
            sys.stdout.write(funnel.to_text(report))
        return 0

    return _run_with_database(settings, work)


# -- person -------------------------------------------------------------------


def _person_export(args) -> int:
    import json

    from db import subject_access
    from db.migrate import ensure_migrated

    async def work(db) -> int:
        await ensure_migrated(db)
        account_ids = await subject_access.accounts_with_email(db, args.email)
        if not account_ids:
            print(f"Nothing is stored about {args.email}.", file=sys.stderr)
            return 1
        people = [await subject_access.person_data(db, account_id) for account_id in account_ids]
        if args.format == "json":
            print(json.dumps(people, ensure_ascii=False, indent=2))
        else:
            print(_readable(people))
        return 0

    return _run_with_database(args.settings, work)


def _readable(people: list[dict]) -> str:
    """The export as indented text: one block per account, one line per record."""
    lines: list[str] = []

    def block(title: str, rows: list[dict], indent: str = "  ") -> None:
        lines.append(f"{indent}{title}: {'none' if not rows else ''}".rstrip())
        for row in rows:
            lines.append(indent + "  - " + ", ".join(f"{k}: {v}" for k, v in row.items() if not isinstance(v, list)))
    for person in people:
        account = person["account"]
        lines.append(f"Account {account['id']} in {account['organisation']}")
        lines.extend(f"  {key}: {value}" for key, value in account.items() if key != "id")
        for invitation in person["invitations"]:
            lines.append(f"  Invitation {invitation['id']} ({invitation['flow_name']} v{invitation['flow_version']}): {invitation['state']}")
            for part in ("history", "timers", "mails"):
                block(part, invitation[part], indent="    ")
        for part in ("consent_records", "devices", "login_requests", "sessions", "security_events"):
            block(part, person[part])
        lines.append("")
    return "\n".join(lines).rstrip("\n")


# -- check-config ---------------------------------------------------------------


def _check_config(args) -> int:
    """Effective settings to stdout, one "Configuration error: ..." line per problem to stderr."""
    import os

    from core import settings as settings_module

    try:
        settings = Settings.from_env()
    except SettingsError as exc:
        settings, problems = None, exc.problems
        values = {**settings_module.defaults(), **settings_module.read_environment(os.environ)}
        rows = settings_module.effective(values)
    else:
        problems = []
        rows = settings_module.effective(settings.__dict__, settings.secret_generated)
        problems += _flow_problems(settings) + _database_problems(settings)
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    for problem in problems:
        print(f"Configuration error: {problem}", file=sys.stderr)
    if not problems:
        print("No problems found.")
    return 2 if problems else 0


def _flow_problems(settings: Settings) -> list[str]:
    from core.settings import env_name
    from workflows.definition import FlowDefinitionError

    try:
        _registry(settings)
    except SettingsError as exc:
        return exc.problems
    except FlowDefinitionError as exc:
        return [f"{env_name('flows_dir')}: {exc}"]
    return []


def _database_problems(settings: Settings) -> list[str]:
    from db.migrate import UnmigratedDatabase, ensure_migrated
    from core.settings import masked_url
    from db.outage import CannotConnect

    sqlite_file = settings.sqlite_path()
    if sqlite_file is not None and not sqlite_file.exists():  # do not create it just by looking
        return [f"the database file {sqlite_file} does not exist yet. Run: partnerportal db upgrade"]
    try:
        _run_with_database(settings, lambda db: _ok(ensure_migrated(db)))
    except CannotConnect as exc:
        return [str(exc)]
    except UnmigratedDatabase as exc:
        return [f"{masked_url(settings.database_url)}: {exc}"]
    return []


# -- reports ------------------------------------------------------------------


def _reports_list(args) -> int:
    from db import barrier_reports
    from db.migrate import UnmigratedDatabase, ensure_migrated
    from web.forms import has_control_characters

    def printable(value: str) -> str:  # the form refuses control characters; a terminal gets none either way
        return "".join("?" if has_control_characters(c) else c for c in value)

    async def work(db) -> int:
        try:
            await ensure_migrated(db)
        except UnmigratedDatabase as exc:
            print(str(exc), file=sys.stderr)
            return 1
        reports = await barrier_reports.latest(db, max(args.limit, 1))
        if not reports:
            print("No accessibility reports.")
        for report in reports:
            when = report["created_at"].astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
            print(f"#{report['id']}  {when}  page: {printable(report['page_url']) or '-'}  reply to: {printable(report['email']) or '-'}")
            for line in report["description"].split("\n"):
                print(f"    {printable(line)}")
        return 0

    return _run_with_database(args.settings, work)


if __name__ == "__main__":
    sys.exit(main())
