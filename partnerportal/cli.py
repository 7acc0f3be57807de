"""The `partnerportal` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import date, timezone
from pathlib import Path

from core.settings import Settings, SettingsError


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return 2
    from db.migrate import UnmigratedDatabase
    from workflows.definition import FlowDefinitionError
    from workflows.registry import UnknownFlow

    try:
        return args.run(args) or 0
    except SettingsError as exc:
        print(f"Configuration error: {exc}", file=sys.stderr)
        return 2
    except (UnmigratedDatabase, FlowDefinitionError, UnknownFlow) as exc:
        # Problems a person fixes by a command or an edit: a message, not a traceback.
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="partnerportal", description="Partnerportal onboarding workflow engine")
    commands = parser.add_subparsers(title="commands")

    serve = commands.add_parser("serve", help="start the web app with its scheduler")
    _host_port(serve)
    serve.set_defaults(run=_serve)

    demo = commands.add_parser("demo", help="prepare the embedded demo (SQLite, demo organisation) and serve it")
    _host_port(demo)
    demo.add_argument("--no-serve", action="store_true", help="prepare only, do not start the server")
    demo.set_defaults(run=_demo)

    worker = commands.add_parser("worker", help="run only the scheduler (timers), no web server")
    worker.set_defaults(run=_worker)

    db = commands.add_parser("db", help="database commands").add_subparsers(title="db commands")
    upgrade = db.add_parser("upgrade", help="apply pending migrations")
    upgrade.set_defaults(run=_db_upgrade)

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
    funnel.add_argument("--version", type=int, help="default: the version in the flow file")
    funnel.add_argument("--org", type=int, help="one organisation's id (default: all)")
    funnel.add_argument("--format", choices=["table", "csv", "json"], default="table")
    funnel.set_defaults(run=_flows_funnel)

    reports = commands.add_parser("reports", help="reports from the portal's forms").add_subparsers(title="reports commands")
    reports_list = reports.add_parser("list", help='list the latest accessibility reports ("Barriere melden")')
    reports_list.add_argument("--limit", type=int, default=50, help="how many of the newest reports (default 50)")
    reports_list.set_defaults(run=_reports_list)
    return parser


def _host_port(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)


def _run_with_database(settings: Settings, work: Callable[..., Awaitable[int]]) -> int:
    from db.engine import Database

    async def runner() -> int:
        database = Database(settings.database_url)
        await database.start()
        try:
            return await work(database)
        finally:
            await database.close()

    return asyncio.run(runner())


# -- serving ----------------------------------------------------------------


def _serve(args, settings: Settings | None = None) -> int:
    import uvicorn

    from db.migrate import UnmigratedDatabase
    from partnerportal.app import create_app

    settings = settings or Settings.from_env()
    try:
        _run_with_database(settings, lambda db: _ok(_ready(db, settings)))
    except UnmigratedDatabase as exc:
        print(str(exc), file=sys.stderr)
        return 1
    print(f"Partnerportal on http://{args.host}:{args.port}/", flush=True)
    from core import log_redaction

    # NET-1: uvicorn believes X-Forwarded-For from 127.0.0.1 unless told otherwise, so a
    # local client could forge its address (audit, per-address limits). Only the
    # configured proxies are believed; with none, the header is ignored.
    trusted = settings.trusted_proxy_list()
    config = uvicorn.Config(
        create_app(settings), host=args.host, port=args.port, log_level="info",
        proxy_headers=bool(trusted), forwarded_allow_ips=trusted or None,
    )
    log_redaction.install()  # after uvicorn configured its loggers
    uvicorn.Server(config).run()
    return 0


async def _ready(db, settings: Settings) -> None:
    """What the app checks at start, checked before the server starts, for a clear message."""
    from workflows import flow_snapshots
    from db.migrate import ensure_migrated

    await ensure_migrated(db)
    await flow_snapshots.sync(db, _registry(settings))


async def _ok(awaitable: Awaitable) -> int:
    await awaitable
    return 0


def _demo(args) -> int:
    from partnerportal.demo import prepare_demo

    settings = Settings.from_env()
    lines = _run_with_database(settings, lambda db: prepare_demo(db, settings))
    for line in lines:
        print(line)
    if args.no_serve:
        return 0
    return _serve(args, settings)


def _admin_create(args) -> int:
    from db.migrate import UnmigratedDatabase, ensure_migrated
    from partnerportal.setup import invite_admin
    from web.forms import check_email, normalise_email
    from workflows.invitations import Person

    if problem := check_email(args.email):
        print(problem, file=sys.stderr)
        return 2
    settings = Settings.from_env()
    person = Person(args.salutation, args.first_name, args.last_name, normalise_email(args.email))

    async def work(db) -> int:
        try:
            await ensure_migrated(db)
        except UnmigratedDatabase as exc:
            print(str(exc), file=sys.stderr)
            return 1
        state, link = await invite_admin(db, settings, args.org, person)
        if link is None:
            print(f"{person.email} is already registered in {args.org} (state: {state}).")
        else:
            print(f"Invited {person.email} as admin of {args.org}. Registration link:\n{link}")
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
    settings = Settings.from_env()

    async def work(db) -> int:
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

    return asyncio.run(run_worker(Settings.from_env()))


def _db_upgrade(args) -> int:
    from db.migrate import upgrade

    settings = Settings.from_env()

    async def work(db) -> int:
        applied = await upgrade(db)
        print(f"Applied {len(applied)} migration(s)." if applied else "The database is up to date.")
        return 0

    return _run_with_database(settings, work)


# -- flows --------------------------------------------------------------------


def _registry(settings: Settings):
    from workflows.registry import FlowRegistry

    return FlowRegistry.from_directory(settings.flows_dir or None, settings.onboarding_flow)


def _flows_list(args) -> int:
    registry = _registry(Settings.from_env())
    for name in registry.names():
        definition = registry.current(name).definition
        print(f"{name}\tversion {definition.version}\t{definition.title}\t{definition.source}")
    return 0


def _flows_check(args) -> int:
    from workflows.definition import FlowDefinitionError, load_file
    from workflows.registry import SHIPPED_FLOWS_DIR

    files, settings = args.files, None
    if not files:
        settings = Settings.from_env()
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
            print(f"ok: {path}: flow {definition.name} version {definition.version}, "
                  f"{len(definition.states)} states, {len(definition.transitions)} transitions")
    if settings is not None and not failed and files and settings.onboarding_flow not in names:
        print(f"error: no file in the flows folder has flow: {settings.onboarding_flow} "
              f"(PARTNERPORTAL_ONBOARDING_FLOW names the flow new invitations use)", file=sys.stderr)
        failed += 1
    return 1 if failed or not files else 0


def _flows_diagram(args) -> int:
    from workflows import diagram

    flow = _registry(Settings.from_env()).current(args.name)
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


def _flows_migrate(args) -> int:
    from workflows import flow_snapshots
    from workflows.flow_migration import migrate_instances
    from core.clock import SystemClock
    from workflows.registry import UnknownFlow
    from workflows.versioning import MigrationRefused, parse_mapping, plan_state_mapping

    settings = Settings.from_env()
    registry = _registry(settings)

    async def work(db) -> int:
        await flow_snapshots.sync(db, registry)
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
        moved = await migrate_instances(db, old, new, mapping, SystemClock().now(), actor="cli:flows-migrate")
        print(f"Moved {moved} instance(s) of {args.name} from version {old.version} to {new.version}.")
        return 0

    return _run_with_database(settings, work)


def _flows_funnel(args) -> int:
    import json

    from db import funnel as counters
    from workflows import flow_snapshots, funnel
    from workflows.registry import UnknownFlow

    settings = Settings.from_env()
    registry = _registry(settings)

    async def work(db) -> int:
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

    return _run_with_database(Settings.from_env(), work)


if __name__ == "__main__":
    sys.exit(main())
