"""`trialbot participant erase`: erase what is outside the trial record, on the participant's request (PRIV-12).

bot/cli.py adds it to its `participant` group. Erasing is not leaving the study: that stays a
conversation with the study team (PRIV-13), and the output says so.
"""

from __future__ import annotations

from pathlib import Path

import click

from bot.commands import actor, by_option, db_option, fail, resolve, study_option


@click.command("erase")
@click.argument("reference")
@click.option("--reason", required=True, help="Why, for the audit trail (e.g. the request's date and how it came).")
@click.option("--yes", "confirmed", is_flag=True, help="Do not ask for confirmation.")
@by_option
@study_option
@db_option
def erase(
    reference: str, reason: str, confirmed: bool, by: str | None, study_path: Path | None, database_url: str | None
) -> None:
    """Erase a participant's messages, addresses and preferences; keep the trial record. Cannot be undone."""
    from bot.bootstrap import build_app
    from bot.erasure import ErasureError, erase_participant

    if not confirmed:
        click.confirm(
            f"Erase {reference}'s messages, addresses and preferences? They can no longer be messaged, "
            "and this cannot be undone",
            abort=True,
        )
    study, url = resolve(study_path, database_url)
    app = build_app(url, study)
    try:
        report = erase_participant(app, reference, actor(by), reason)
    except ErasureError as exc:
        fail(str(exc))
    finally:
        app.database.dispose()
    kept = report.kept
    click.echo(f"{report.code}: erased what is outside the trial record.")
    click.echo(
        f"  removed: {report.inbound_erased} message texts, {report.outbox_erased} sent messages "
        f"({report.outbox_stopped} not sent yet, stopped), {report.addresses} addresses, "
        f"{report.scheduled_cancelled} planned messages cancelled, preferences, the conversation"
        + (f", prescreen answers ({report.prescreen_answers_cleared})" if report.prescreen_answers_cleared else "")
    )
    click.echo("  re-contact: recorded as not allowed")
    click.echo(
        f"  kept: {kept['escalations']} escalations (and the {report.inbound_kept} messages behind them), "
        f"{kept['visits']} visits, {kept['travel_requests']} travel requests, the audit trail "
        f"({kept['audit_entries']} entries)" + (", prescreen answers (enrolled)" if report.enrolled else "")
    )
    click.echo(
        f"  {report.code} can no longer be messaged. Erasing is not leaving the study: nobody was withdrawn, "
        "and withdrawal stays with the study team (PRIV-13). Tell them what was kept and why (PRIV-12)."
    )
