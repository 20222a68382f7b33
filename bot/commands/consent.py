"""`trialbot consent send` and `trialbot report consent`: start a consent check, and see who answered which form.

The check only tests understanding of the form's key points (PL-05); the study team completes
consent with the person (CON-06/07). `bot/cli.py` adds the `consent` group to `trialbot` and the
`report_consent` command to its `report` group (defined there, so it cannot be imported here).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from bot.commands import actor, by_option, database, db_option, fail, resolve, study_option


@click.group()
def consent() -> None:
    """Consent checks: the key points of the consent form, checked by teach-back."""


@consent.command("send")
@click.argument("reference")
@by_option
@study_option
@db_option
def consent_send(reference: str, by: str | None, study_path: Path | None, database_url: str | None) -> None:
    """Send a participant the consent check (by code or channel:address); it goes out with the next sweep."""
    from bot.bootstrap import build_app
    from bot.consent import ConsentError, send_consent_check

    study, url = resolve(study_path, database_url)
    app = build_app(url, study)
    try:
        participant = send_consent_check(app, reference, actor(by))
    except ConsentError as exc:
        fail(str(exc))
    finally:
        app.database.dispose()
    click.echo(f"{participant.code}: consent check planned; `trialbot worker` sends it at its next sweep")


@click.command("consent")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@study_option
@db_option
def report_consent(as_json: bool, study_path: Path | None, database_url: str | None) -> None:
    """Who answered an older version of the consent form, and results per key point for the current one."""
    from bot.consent import ConsentError, consent_report
    from bot.study import demo_study_path, load_study

    study, _ = resolve(study_path, database_url)
    loaded = load_study(study or demo_study_path())
    try:
        with database(database_url) as opened, opened.read() as connection:
            figures = consent_report(connection, loaded.study)
    except ConsentError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(figures, indent=2, ensure_ascii=False))
        return
    click.echo(f"consent form: {figures['form_version']}")
    older = figures["older_version"]
    click.echo(f"answered an older version: {len(older) or 'nobody'}")
    for row in older:
        click.echo(f"  {row['participant']}  {row['form_version']}  last answer {row['answered_at']}")
    click.echo(f"checked on this version: {figures['checked_current_version']} participants")
    for point, counts in figures["results"].items():
        click.echo(f"  {point}: " + ", ".join(f"{result} {count}" for result, count in counts.items()))
