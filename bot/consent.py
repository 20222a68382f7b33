"""Consent checks from the staff side: send one to a participant, and report who answered which form.

The check itself is a flow (flows/consent.yaml, bot/behaviour/consent.py) and its answers are audit
entries (`consent_point_answered`, each with the form version and the exact text shown, CON-08).
This module reads them back: when the study's consent form changes, the report names everyone whose
latest check used an older version, so the study team can go over the new form with them (CON-12).
The bot never records consent itself; the study team completes it with the person (CON-06/07).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from bot.behaviour.consent import RESULTS
from bot.domain import ConsentPointAnswered, Participant
from bot.staff_views import ParticipantNotFoundError, find_participant
from bot.study import Consent, Study
from storage.repositories import Repositories

if TYPE_CHECKING:
    from bot.bootstrap import App

FLOW = "consent"
KIND = "consent"
SENT = "consent_check_sent"


class ConsentError(Exception):
    """A consent action that cannot be done as asked; the message says why."""


def study_consent(study: Study) -> Consent:
    """The study's consent form, or ConsentError if the study file has none."""
    if study.consent is None:
        raise ConsentError(f"study {study.id!r} has no consent form to check (add `consent:` to the study file)")
    return study.consent


def send_consent_check(app: App, reference: str, actor: str) -> Participant:
    """Plan the consent check's first message for now; the next sweep sends it and the reply starts the check."""
    consent = study_consent(app.study.study)
    now = app.clock.now()
    with app.database.write() as connection:
        repos = Repositories(connection)
        try:
            participant = find_participant(repos, reference)
        except ParticipantNotFoundError as exc:
            raise ConsentError(str(exc)) from None
        code = participant.code
        if participant.erased_at is not None:
            raise ConsentError(f"{code}'s data was erased")
        if participant.opted_out:
            raise ConsentError(f"{code} said STOP, so we cannot text them: call them instead")
        if not participant.opted_in:
            raise ConsentError(f"{code} has not agreed to get texts yet")
        if any(row.kind == KIND for row in repos.schedule.for_participant(participant.id)):
            raise ConsentError(f"a consent check for {code} is already waiting to be sent")
        if repos.conversations.load(participant.id).flow == FLOW:
            # An eligible prescreen starts the check by itself; a second one would interrupt it.
            raise ConsentError(f"{code} is in a consent check now: wait until they finish it")
        if app.planner.plan_opener(repos, participant, flow=FLOW, kind=KIND, now=now) == 0:
            raise ConsentError(f"{code} has no address we can text")
        repos.audit.append(
            at=now, actor=actor, action=SENT, participant_id=participant.id,
            new={"form_version": consent.form_version},
        )  # fmt: skip
    return participant


def consent_report(connection: Connection, study: Study) -> dict[str, Any]:
    """Who answered an older consent form (with the version and when), and results per point for the current one.

    Read from the audit trail. A participant's latest check is the version of their latest answer,
    finished or not: someone who saw part of an old form still needs the new one explained. Results
    count participants by their latest settled result for each point of the current version.
    """
    consent = study_consent(study)
    current = consent.form_version
    repos = Repositories(connection)
    latest: dict[int, Any] = {}
    settled: dict[tuple[int, str], str] = {}
    checked: set[int] = set()
    for entry in repos.audit.actions([ConsentPointAnswered.type]):  # oldest first: later entries win
        answer = entry.new or {}
        latest[entry.participant_id] = entry
        if answer.get("form_version") == current:
            checked.add(entry.participant_id)
            if answer.get("result"):
                settled[(entry.participant_id, str(answer.get("point")))] = str(answer["result"])
    older = [
        {"participant": repos.participants.get(participant_id).code,
         "form_version": (entry.new or {}).get("form_version"), "answered_at": entry.at.isoformat()}
        for participant_id, entry in latest.items()
        if (entry.new or {}).get("form_version") != current
    ]  # fmt: skip
    older.sort(key=lambda row: (row["answered_at"], row["participant"]))
    results: dict[str, dict[str, int]] = {point.id: dict.fromkeys(RESULTS, 0) for point in consent.points}
    for (_, point), result in settled.items():
        counts = results.setdefault(point, dict.fromkeys(RESULTS, 0))  # a point since removed from the form
        counts[result] = counts.get(result, 0) + 1
    return {
        "form_version": current,
        "older_version": older,
        "checked_current_version": len(checked),
        "results": results,
    }
