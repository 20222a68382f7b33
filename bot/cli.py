"""The `trialbot` command: chat, check, db, participant and report.

Known problems (a bad study file, an unreachable database) end with a readable message and exit
status 2, never a stack trace.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click

from bot.config import ConfigError, channel_settings, load_settings
from bot.engine import FlowError
from bot.study import StudyError
from bot.vocabulary import VocabularyError
from storage.database import Database, DatabaseError

F = TypeVar("F", bound=Callable[..., Any])
KNOWN_ERRORS = (StudyError, FlowError, DatabaseError, VocabularyError, ConfigError)


class _Group(click.Group):
    """A command group that turns trialbot's own errors into a message and exit status 2."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KNOWN_ERRORS as exc:
            click.echo(f"trialbot: {exc}", err=True)
            ctx.exit(2)


def _study_option(fn: F) -> F:
    return click.option(
        "--study",
        "study_path",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Study file (default: $TRIALBOT_STUDY, else the bundled demo study).",
    )(fn)


def _db_option(fn: F) -> F:
    return click.option(
        "--db",
        "database_url",
        default=None,
        help="Database URL (default: $TRIALBOT_DATABASE_URL, else sqlite:///trialbot.db).",
    )(fn)


def _resolve(study_path: Path | None, database_url: str | None) -> tuple[Path | None, str]:
    settings = load_settings()
    study = study_path or (Path(settings.study) if settings.study else None)
    return study, database_url or settings.database_url


@contextlib.contextmanager
def _database(database_url: str | None) -> Iterator[Database]:
    """The database for one command, brought up to date; its connections are closed when the command ends."""
    from storage.migrate import ensure_current

    _, url = _resolve(None, database_url)
    database = Database(url)
    try:
        ensure_current(database)
        yield database
    finally:
        database.dispose()


def _setup_logging() -> None:
    from bot.logs import setup_logging

    try:
        settings = load_settings()
    except ConfigError:
        setup_logging("WARNING")
        return
    level = settings.log_level.upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
        level = "WARNING"
    setup_logging(level, [settings.telegram_bot_token or "", settings.twilio_auth_token or "",
                          settings.telegram_webhook_secret or ""])  # fmt: skip


@click.group(cls=_Group)
@click.version_option(package_name="trialbot")
def main() -> None:
    """trialbot: a patient-facing assistant for clinical trials over SMS and Telegram."""
    _setup_logging()


@main.command()
@_study_option
@_db_option
@click.option("--as", "address", default="me", show_default=True, help="Who you are chatting as (console address).")
@click.option("--locale", type=click.Choice(["en", "es"]), default=None, help="Language of a new participant.")
def chat(study_path: Path | None, database_url: str | None, address: str, locale: str | None) -> None:
    """Chat with the study as a patient would over SMS, in this terminal."""
    from bot.bootstrap import build_app
    from bot.channels.console import run_chat

    study, url = _resolve(study_path, database_url)
    app = build_app(url, study)
    try:
        code = run_chat(app, address, locale, sys.stdin, sys.stdout, interactive=sys.stdin.isatty())
    except KeyboardInterrupt:
        code = 0
    finally:
        app.database.dispose()
    sys.exit(code)


@main.command()
@_study_option
@_db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--telegram-polling", is_flag=True, help="Fetch Telegram updates by long polling (development).")
@click.option("--no-worker", is_flag=True, help="Do not sweep reminders and check-ins here (a `trialbot worker` does).")
def serve(
    study_path: Path | None, database_url: str | None, host: str, port: int, telegram_polling: bool, no_worker: bool
) -> None:
    """Serve the Twilio and Telegram webhooks and send the outbox."""
    import uvicorn

    from bot.runtime import freeze_startup_objects, limit_malloc_arenas

    limit_malloc_arenas()

    from bot.bootstrap import build_app, build_server

    settings = load_settings()
    channels = channel_settings(settings)
    if channels.telegram and not telegram_polling and not channels.telegram.webhook_secret:
        raise ConfigError("Telegram webhooks need TELEGRAM_WEBHOOK_SECRET (or use --telegram-polling)")
    study, url = _resolve(study_path, database_url)
    app = build_app(url, study)
    server = build_server(
        app, channels, lease_seconds=settings.send_lease_seconds, polling=telegram_polling, scheduler=not no_worker,
        spool_dir=Path(settings.spool_dir) if settings.spool_dir else None,
    )  # fmt: skip
    telegram = "off" if not channels.telegram else ("polling" if telegram_polling else "webhook")
    click.echo(
        f"trialbot: serving {app.study.study.name} on http://{host}:{port} "
        f"(SMS {'on' if channels.twilio else 'off'}, Telegram {telegram}, database {app.database.describe()})",
        err=True,
    )
    # Once serving: freezing starts with a full collection (~80 ms) that would delay being ready.
    server.when_serving = freeze_startup_objects
    uvicorn.run(server.asgi(), host=host, port=port, log_level="warning", lifespan="on", proxy_headers=False)


@main.group()
def telegram() -> None:
    """Telegram bot set-up."""


@telegram.command("set-webhook")
@click.option("--url", default=None, help="Webhook URL (default: $TRIALBOT_PUBLIC_URL/telegram/webhook).")
def telegram_set_webhook(url: str | None) -> None:
    """Register the webhook with Telegram, with its secret token."""
    import asyncio

    from bot.channels.telegram import TelegramChannel

    channels = channel_settings(load_settings())
    if channels.telegram is None:
        raise ConfigError("Telegram is off: set TELEGRAM_BOT_TOKEN and TELEGRAM_WEBHOOK_SECRET")
    if not channels.telegram.webhook_secret:
        raise ConfigError("set TELEGRAM_WEBHOOK_SECRET first: the webhook is refused without it")
    target = url or (f"{channels.telegram.public_url}/telegram/webhook" if channels.telegram.public_url else None)
    if target is None:
        raise ConfigError("give --url or set TRIALBOT_PUBLIC_URL")
    channel = TelegramChannel(channels.telegram)

    async def register() -> bool:
        await channel.start()
        try:
            return await channel.set_webhook(target)
        finally:
            await channel.stop()

    from telegram.error import InvalidToken, TelegramError

    try:
        ok = asyncio.run(register())
    except InvalidToken:
        raise ConfigError("Telegram rejected TELEGRAM_BOT_TOKEN") from None  # its message quotes the token
    except TelegramError as exc:
        raise ConfigError(f"Telegram refused: {exc.message}") from None
    click.echo(f"webhook {'set' if ok else 'NOT set'}: {target}")
    if not ok:
        sys.exit(1)


@main.command()
@_study_option
@click.option(
    "--approved", "approved", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="An approved script pack's manifest.json: also fail if any message differs from it.",
)  # fmt: skip
def check(study_path: Path | None, approved: Path | None) -> None:
    """Check the study file, every flow, and the translations; exit non-zero on any problem."""
    from bot.bootstrap import build_core
    from bot.checks import check_approved, check_translations

    study, _ = _resolve(study_path, None)
    core = build_core(study)
    problems = check_translations(core)
    if approved is not None:
        from bot.script_pack import ManifestError

        try:
            changed, warnings = check_approved(core, approved)
        except ManifestError as exc:
            click.echo(f"trialbot: {exc}", err=True)
            sys.exit(2)
        problems += changed
        for warning in warnings:
            click.echo(f"trialbot: warning: {warning}", err=True)
    if problems:
        for problem in problems:
            click.echo(f"trialbot: {problem}", err=True)
        sys.exit(1)
    click.echo(
        f"OK: study {core.loaded.study.id!r} ({core.loaded.path}), "
        f"{len(core.flows.flows)} flows, {len(core.translator.messages)} messages, "
        f"languages {', '.join(core.loaded.study.languages)}"
    )
    if approved is not None:
        click.echo(f"OK: every message in use matches the approved script pack {approved}")


@main.group()
def db() -> None:
    """Database schema."""


@db.command("upgrade")
@_db_option
def db_upgrade(database_url: str | None) -> None:
    """Bring the database schema up to date."""
    from storage.migrate import upgrade

    _, url = _resolve(None, database_url)
    database = Database(url)
    try:
        before, after = upgrade(database)
    finally:
        database.dispose()
    click.echo(f"{database.describe()}: schema {before or 'empty'} -> {after}")


@main.group()
def participant() -> None:
    """Look at participants (and erase one's data on request)."""


@participant.command("show")
@click.argument("reference")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def participant_show(reference: str, database_url: str | None, as_json: bool) -> None:
    """Show a participant by code (P-7K3QX9) or channel:address."""
    from bot.staff_views import ParticipantNotFoundError, participant_view

    try:
        with _database(database_url) as database, database.read() as connection:
            view = participant_view(connection, reference)
    except ParticipantNotFoundError as exc:
        click.echo(f"trialbot: {exc}", err=True)
        sys.exit(1)
    if as_json:
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return
    _print_view(view)


def _print_view(view: dict[str, Any], indent: str = "") -> None:
    for key, value in view.items():
        if isinstance(value, dict):
            click.echo(f"{indent}{key}:")
            _print_view(value, indent + "  ")
        elif isinstance(value, list) and value and isinstance(value[0], dict):
            click.echo(f"{indent}{key}:")
            for item in value:
                click.echo(f"{indent}  - " + ", ".join(f"{k}={v}" for k, v in item.items()))
        else:
            click.echo(f"{indent}{key}: {value if value not in (None, [], {}) else '-'}")


# -- staff: enrolment and visits ---------------------------------------------------------------


def _actor(by: str | None) -> str:
    import getpass

    name = by or getpass.getuser()
    return f"staff:{name}"


@contextlib.contextmanager
def _staff_app(study_path: Path | None, database_url: str | None) -> Iterator[Any]:
    """The app for one staff command; its connections are closed when the command ends."""
    from bot.bootstrap import build_app

    study, url = _resolve(study_path, database_url)
    app = build_app(url, study)
    try:
        yield app
    finally:
        app.database.dispose()


def _by_option(fn: F) -> F:
    return click.option("--by", default=None, help="Who is doing this, for the audit trail (default: your login).")(fn)


def _fail(message: str) -> None:
    click.echo(f"trialbot: {message}", err=True)
    sys.exit(1)


@main.command()
@click.argument("reference")
@click.option("--anchor", required=True, type=click.DateTime(["%Y-%m-%d"]), help="Day 1 of the schedule.")
@click.option("--timezone", default=None, help="The participant's time zone (default: the study's).")
@click.option("--locale", type=click.Choice(["en", "es"]), default=None, help="The participant's language.")
@_by_option
@_study_option
@_db_option
def enroll(
    reference: str, anchor: Any, timezone: str | None, locale: str | None, by: str | None,
    study_path: Path | None, database_url: str | None,
) -> None:  # fmt: skip
    """Set a participant's day 1 (creating sms:+1555... or telegram:<chat id> if new); plans check-ins."""
    from bot.staff_actions import StaffError, enrol

    try:
        with _staff_app(study_path, database_url) as app:
            participant, planned = enrol(app, reference, anchor.date(), _actor(by), timezone=timezone, locale=locale)
    except StaffError as exc:
        _fail(str(exc))
        return
    click.echo(f"{participant.code}: day 1 is {anchor.date().isoformat()}; {planned} check-ins planned")


@main.group()
def visit() -> None:
    """Book and update visits (times are the participant's local time)."""


def _visit_change(status: str) -> Any:
    @click.argument("reference")
    @click.argument("visit_key", metavar="VISIT")
    @_by_option
    @_study_option
    @_db_option
    def command(
        reference: str, visit_key: str, by: str | None, study_path: Path | None, database_url: str | None
    ) -> None:
        from bot.staff_actions import StaffError, set_status

        try:
            with _staff_app(study_path, database_url) as app:
                participant = set_status(app, reference, visit_key, status, _actor(by))
        except StaffError as exc:
            _fail(str(exc))
            return
        click.echo(f"{participant.code}: {visit_key} {status}")

    command.__doc__ = f"Mark a visit {status}."
    return command


visit.command("cancel")(_visit_change("cancelled"))
visit.command("attended")(_visit_change("attended"))
visit.command("missed")(_visit_change("missed"))


def _book(reference: str, visit_key: str, at: str, site: str | None, by: str | None, study_path: Path | None,
          database_url: str | None, move: bool) -> None:  # fmt: skip
    from bot.staff_actions import StaffError, book, parse_local

    day, _, clock = at.strip().partition(" ")
    if not clock.strip():
        _fail(f'--at {at!r} needs a local date and a time, e.g. "2026-12-03 09:30"')
        return
    try:
        local = parse_local(day, clock)
        with _staff_app(study_path, database_url) as app:
            participant, booked = book(app, reference, visit_key, local, _actor(by), site, move=move)
    except StaffError as exc:
        _fail(str(exc))
        return
    window = f"{booked.window_start.isoformat()} to {booked.window_end.isoformat()}"
    done = "moved to" if move else "booked for"
    click.echo(f"{participant.code}: {visit_key} {done} {at} ({booked.planned} messages planned)")
    if booked.out_of_window:
        click.echo(f"WARNING: outside the visit's window ({window}): a possible protocol deviation", err=True)


def _book_command(move: bool) -> Any:
    @click.argument("reference")
    @click.argument("visit_key", metavar="VISIT")
    @click.option("--at", "at", required=True, help='Local date and time, e.g. "2026-12-03 09:30".')
    @click.option("--site", default=None, help="Site id (default: the schedule's).")
    @_by_option
    @_study_option
    @_db_option
    def command(reference: str, visit_key: str, at: str, site: str | None, by: str | None,
                study_path: Path | None, database_url: str | None) -> None:  # fmt: skip
        _book(reference, visit_key, at, site, by, study_path, database_url, move)

    command.__doc__ = (
        "Move a booked visit to a new local date and time." if move else "Book a visit at a local date and time."
    )
    return command


visit.command("book")(_book_command(move=False))
visit.command("move")(_book_command(move=True))


@visit.command("list")
@click.argument("reference")
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def visit_list(reference: str, database_url: str | None, as_json: bool) -> None:
    """A participant's visits and the messages planned for them."""
    from bot.staff_views import ParticipantNotFoundError, participant_view

    try:
        with _database(database_url) as database, database.read() as connection:
            view = participant_view(connection, reference)
    except ParticipantNotFoundError as exc:
        _fail(str(exc))
        return
    shown = {"id": view["id"], "visits": view["visits"], "upcoming": view["upcoming"]}
    if as_json:
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    _print_view(shown)


@visit.command("import")
@click.argument("csv_file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@_by_option
@_study_option
@_db_option
def visit_import(csv_file: Path, by: str | None, study_path: Path | None, database_url: str | None) -> None:
    """Book appointments from a CSV: participant, visit, date, time[, site]. Bad rows are listed and skipped."""
    from bot.staff_actions import StaffError, import_csv, read_csv

    try:
        rows = read_csv(csv_file)
    except StaffError as exc:
        _fail(str(exc))
        return
    with (
        _staff_app(study_path, database_url) as app,
        click.progressbar(length=len(rows), label="Booking", file=sys.stderr) as bar,
    ):
        report = import_csv(app, rows, _actor(by), progress=bar.update)
    click.echo(f"{report.booked} booked, {len(report.errors)} refused")
    for note in report.out_of_window:
        click.echo(f"WARNING: outside the visit's window: {note}", err=True)
    for line, reason in report.errors:
        click.echo(f"line {line}: {reason}", err=True)
    if report.errors:
        sys.exit(1)


@main.command()
@click.option("--once", is_flag=True, help="Run one sweep and exit.")
@click.option("--at", "at", default=None, help="Sweep as of this time (ISO 8601 with an offset), with --once.")
@click.option("--dry-run", is_flag=True, help="Show what would go out, change nothing.")
@click.option(
    "--every", default=30.0, show_default=True, type=click.FloatRange(1, 3600), help="Seconds between sweeps."
)
@_study_option
@_db_option
def worker(once: bool, at: str | None, dry_run: bool, every: float, study_path: Path | None,
           database_url: str | None) -> None:  # fmt: skip
    """Send due reminders and check-ins to the outbox, defer what quiet hours hold back, nudge once."""
    import asyncio
    from datetime import datetime

    from bot.runtime import freeze_startup_objects, limit_malloc_arenas

    limit_malloc_arenas()

    from bot.bootstrap import build_app, build_scheduler
    from bot.clock import SettableClock

    study, url = _resolve(study_path, database_url)
    clock = None
    if at is not None:
        try:
            moment = datetime.fromisoformat(at)
        except ValueError:
            _fail(f"--at {at!r} is not an ISO time like 2026-12-01T09:00:00-05:00")
            return
        if moment.tzinfo is None:
            _fail("--at needs an offset or Z, e.g. 2026-12-01T14:00:00Z")
            return
        clock = SettableClock(moment)
    app = build_app(url, study, clock=clock)
    try:
        scheduler = build_scheduler(app, batch=load_settings().sweep_batch)
        if dry_run:
            for row in scheduler.preview(app.clock.now()):
                click.echo(json.dumps(row, ensure_ascii=False))
            return
        if once or at is not None:
            report = scheduler.sweep()
            click.echo(json.dumps(report.as_dict()))
            return
        click.echo(f"trialbot worker: sweeping every {every:g} s on {app.database.describe()}", err=True)
        freeze_startup_objects()
        stop = asyncio.Event()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(scheduler.run(stop, every))
    finally:
        app.database.dispose()


# -- staff: escalations ------------------------------------------------------------------------


@main.group()
def escalation() -> None:
    """Escalations: what needs a person, and who has it."""


@escalation.command("list")
@click.option("--open", "open_only", is_flag=True, help="Only those not resolved.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_study_option
@_db_option
def escalation_list(open_only: bool, as_json: bool, study_path: Path | None, database_url: str | None) -> None:
    """List escalations, newest first (no health details; see `show`)."""
    from bot.escalation import waited
    from storage.repositories import Repositories

    with _staff_app(study_path, database_url) as app, app.database.read() as connection:
        rows = Repositories(connection).escalations.listing(open_only=open_only)
        now = app.clock.now()
        items = [
            {"id": r.id, "participant": r.code, "category": r.category, "severity": r.severity, "status": r.status,
             "received_at": (r.received_at or r.created_at).isoformat(),
             "waiting": waited(r.received_at or r.created_at, now) if r.status == "open" else None,
             "ack_due_at": r.ack_due_at.isoformat() if r.ack_due_at else None,
             "overdue": bool(r.status == "open" and r.ack_due_at and now > r.ack_due_at)}
            for r in rows
        ]  # fmt: skip
    if as_json:
        click.echo(json.dumps(items, indent=2))
        return
    if not items:
        click.echo("No escalations.")
    for item in items:
        flag = " OVERDUE" if item["overdue"] else ""
        waiting = f", waiting {item['waiting']}" if item["waiting"] else ""
        click.echo(
            f"#{item['id']} {str(item['severity']).upper()} {item['category']} {item['participant']} "
            f"{item['status']}{waiting}{flag}"
        )


@escalation.command("show")
@click.argument("escalation_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@_study_option
@_db_option
def escalation_show(escalation_id: int, as_json: bool, study_path: Path | None, database_url: str | None) -> None:
    """Everything about one escalation, including the participant's own words (for staff only)."""
    from bot.staff_views import escalation_view

    with _staff_app(study_path, database_url) as app, app.database.read() as connection:
        view = escalation_view(connection, escalation_id)
    if view is None:
        _fail(f"no escalation #{escalation_id}")
        return
    if as_json:
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return
    _print_view(view)


@escalation.command("ack")
@click.argument("escalation_id", type=int)
@_by_option
@_study_option
@_db_option
def escalation_ack(escalation_id: int, by: str | None, study_path: Path | None, database_url: str | None) -> None:
    """Acknowledge: you have it, and the alerts stop."""
    from bot.bootstrap import build_desk
    from bot.escalation import EscalationError
    from storage.repositories import Repositories

    with _staff_app(study_path, database_url) as app:
        desk = build_desk(app)
        try:
            with app.database.write() as connection:
                result = desk.alerts.acknowledge(
                    Repositories(connection), escalation_id, _actor(by), app.clock.now(), "cli"
                )
        except EscalationError as exc:
            _fail(str(exc))
            return
    click.echo(result.message)


@escalation.command("resolve")
@click.argument("escalation_id", type=int)
@click.option("--note", required=True, help="What was done.")
@_by_option
@_study_option
@_db_option
def escalation_resolve(
    escalation_id: int, note: str, by: str | None, study_path: Path | None, database_url: str | None
) -> None:
    """Resolve, with a note of what was done."""
    from bot.escalation import EscalationError
    from storage.repositories import Repositories

    if not note.strip():
        _fail("the note is empty")
        return
    from bot.bootstrap import build_desk

    with _staff_app(study_path, database_url) as app:
        desk = build_desk(app)
        try:
            with app.database.write() as connection:
                result = desk.alerts.resolve(
                    Repositories(connection), escalation_id, _actor(by), app.clock.now(), note.strip(), "cli"
                )
        except EscalationError as exc:
            _fail(str(exc))
            return
    click.echo(result.message)


@escalation.command("reply")
@click.argument("escalation_id", type=int)
@click.option("--text", required=True, help="Your message to the participant (no health details by SMS).")
@_by_option
@_study_option
@_db_option
def escalation_reply(
    escalation_id: int, text: str, by: str | None, study_path: Path | None, database_url: str | None
) -> None:
    """Send the participant your own message; it is recorded in the audit trail."""
    from bot.bootstrap import build_desk
    from bot.escalation import EscalationError

    with _staff_app(study_path, database_url) as app:
        desk = build_desk(app)
        try:
            desk.reply_to_participant(escalation_id, text, _actor(by))
        except EscalationError as exc:
            _fail(str(exc))
            return
    click.echo(f"#{escalation_id}: reply queued")


from bot.commands.travel import travel  # noqa: E402  (travel requests: bot/commands/travel.py)

main.add_command(travel)

from bot.commands.participants import erase  # noqa: E402  (erasure on request: bot/commands/participants.py)

participant.add_command(erase)

from bot.commands.reports import report  # noqa: E402  (reports: bot/commands/reports.py, bot/reports/)

main.add_command(report)

from bot.commands.consent import consent, report_consent  # noqa: E402  (consent checks: bot/commands/consent.py)

main.add_command(consent)
report.add_command(report_consent)

from bot.commands.export import export  # noqa: E402  (the IRB script pack: bot/commands/export.py)

main.add_command(export)
