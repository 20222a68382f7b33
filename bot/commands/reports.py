"""`trialbot report funnel | retention | escalations | engagement` (and `visits`, the retention report).

Each prints its metrics with their denominators (MET-03) as a table, CSV or JSON, computed from
the event log on pseudonymous ids (MET-05), and with --chart also draws them as a PNG. bot/cli.py
adds this group to `trialbot`, and `report consent` (bot/commands/consent.py) to this group.
The reports themselves are imported when a command runs, so `trialbot --help` stays quick.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import click

from bot.commands import database, db_option, fail, resolve, study_option
from bot.reports import REPORTS

FORMATS = ("table", "csv", "json")
HELP = {
    "funnel": "Recruitment funnel: first contacts, prescreens, pass and screen-fail rates, referrals, cycle times.",
    "retention": "Retention: visit adherence (weekly too), reminder confirmations, missed visits, dropout.",
    "escalations": "Escalations by severity and category, time to acknowledge (median, p90), deadlines missed.",
    "engagement": "Engagement: replies to check-ins and reminders, time to reply, messages in and out, opt-outs.",
}


@click.group()
def report() -> None:
    """Reports for the study team: each figure with its denominator, from the event log; no names or phones."""


def parse_since(text: str | None) -> date | None:
    """The --since day, or None; a one-line error for anything that is not YYYY-MM-DD."""
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        fail(f"--since {text!r} is not a date like 2026-11-01")


def run_report(name: str, since_text: str | None, fmt: str | None, as_json: bool, chart: Path | None,
               study_path: Path | None, database_url: str | None) -> None:  # fmt: skip
    """Build, print and optionally chart one report."""
    from bot.reports.build import build_report
    from bot.reports.charts import ChartError, check_path, write_chart
    from bot.reports.render import render
    from bot.study import demo_study_path, load_study

    if as_json and fmt not in (None, "json"):
        fail(f"--json and --format {fmt} ask for different formats: give one")
    since = parse_since(since_text)
    try:
        if chart is not None:
            check_path(chart)  # before the work, so a typo in the path costs nothing
        study, _ = resolve(study_path, database_url)
        loaded = load_study(study or demo_study_path())
        with database(database_url) as opened, opened.read() as connection:
            built = build_report(name, connection, loaded.study, datetime.now(UTC), since)
        click.echo(render(built, "json" if as_json else fmt or "table"))
        if chart is not None:
            write_chart(built, chart)
            click.echo(f"chart written to {chart}", err=True)
    except ChartError as exc:
        fail(str(exc))


def _command(name: str, doc: str) -> click.Command:
    @click.option(
        "--since",
        "since_text",
        default=None,
        metavar="DATE",
        help="Only participants first seen on or after this day (YYYY-MM-DD, the study's time zone).",
    )
    @click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="table (default), csv or json.")
    @click.option("--json", "as_json", is_flag=True, help="Same as --format json.")
    @click.option(
        "--chart",
        type=click.Path(path_type=Path),
        default=None,
        metavar="FILE.png",
        help="Also draw the report as a PNG image.",
    )
    @study_option
    @db_option
    def command(
        since_text: str | None,
        fmt: str | None,
        as_json: bool,
        chart: Path | None,
        study_path: Path | None,
        database_url: str | None,
    ) -> None:
        run_report(name, since_text, fmt, as_json, chart, study_path, database_url)

    command.__doc__ = doc
    return click.command(name)(command)


for _name in REPORTS:
    report.add_command(_command(_name, HELP[_name]))
# `report visits` came before `report retention`; scripts that call it get the retention report.
report.add_command(_command("retention", "The retention report under its earlier name."), name="visits")
