"""`trialbot travel`: staff list travel requests, read one in full, and approve, book or deny it (TRV-02)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from bot.commands import actor, by_option, database, db_option, fail, resolve, study_option
from bot.travel import NEXT_STATUSES, STATUSES

DECISIONS = sorted(set().union(*NEXT_STATUSES.values()))


@click.group()
def travel() -> None:
    """Travel requests: what participants asked for, and what staff decided."""


@travel.command("list")
@click.option("--status", type=click.Choice(STATUSES), default=None, help="Only requests with this status.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def travel_list(status: str | None, as_json: bool, database_url: str | None) -> None:
    """List travel requests, newest first (the answers themselves: see `show`)."""
    from bot.travel import list_requests

    with database(database_url) as opened:
        items = [_brief(view) for view in list_requests(opened, status)]
    if as_json:
        click.echo(json.dumps(items, indent=2, ensure_ascii=False))
        return
    if not items:
        click.echo("No travel requests.")
    for item in items:
        visit = item["visit"]
        where = f"{visit['visit']} on {visit['scheduled_local']}" if visit else "no visit"
        click.echo(f"#{item['id']} {item['status']} {item['participant']} {where}, submitted {item['created_at']}")


def _brief(view: dict[str, Any]) -> dict[str, Any]:
    """A request without the participant's answers, for lists."""
    return {k: v for k, v in view.items() if k not in ("details", "note")}


@travel.command("show")
@click.argument("request_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@db_option
def travel_show(request_id: int, as_json: bool, database_url: str | None) -> None:
    """Everything about one request, with every answer the participant gave (for staff only)."""
    from bot.travel import TravelError, get_request

    try:
        with database(database_url) as opened:
            view = get_request(opened, request_id)
    except TravelError as exc:
        fail(str(exc))
    if as_json:
        click.echo(json.dumps(view, indent=2, ensure_ascii=False))
        return
    _print(view)


def _print(view: dict[str, Any], indent: str = "") -> None:
    for key, value in view.items():
        if isinstance(value, dict):
            click.echo(f"{indent}{key}:")
            _print(value, indent + "  ")
        else:
            click.echo(f"{indent}{key}: {'-' if value is None else value}")


@travel.command("update")
@click.argument("request_id", type=int)
@click.option("--status", required=True, type=click.Choice(DECISIONS), help="The decision.")
@click.option("--note", default=None, help="A note for the team (never sent to the participant).")
@by_option
@study_option
@db_option
def travel_update(
    request_id: int, status: str, note: str | None, by: str | None, study_path: Path | None, database_url: str | None
) -> None:
    """Approve, book or deny a request; the participant gets a short text that says only the new status."""
    from bot.bootstrap import build_app
    from bot.travel import TravelError, update_travel_request

    study, url = resolve(study_path, database_url)
    app = build_app(url, study)
    try:
        view = update_travel_request(app, request_id, status, note, actor(by))
    except TravelError as exc:
        fail(str(exc))
    finally:
        app.database.dispose()
    told = "the participant gets a text" if view["messaged"] else "no text (opted out or unreachable): call them"
    click.echo(f"travel request #{request_id}: {status}; {told}")
