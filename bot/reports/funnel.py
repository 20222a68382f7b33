"""The recruitment funnel: from a first message to a referral to the site, with the time it takes.

The funnel counts people who wrote to us first (staff-enrolled people never prescreen), each stage
a subset of the one before, each participant once, by their latest prescreen outcome.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from bot.reports.events import EventLog
from bot.reports.metrics import Metric, Report, count, hours, median_of, rate
from bot.study import Study

ACTIONS = (
    "participant_created", "enrolled_by_staff", "texts_agreed", "flow_started", "prescreen_completed",
    "recontact_recorded", "opted_out", "consent_check_completed", "anchor_set",
)  # fmt: skip


def fail_codes(study: Study) -> list[str]:
    """The criterion codes a prescreen can fail on, in the study's order."""
    codes = [
        q.criterion
        for q in study.prescreen.questions
        if q.type != "choice" or any(o.result == "ineligible" for o in q.options)
    ]
    return list(dict.fromkeys(codes))


def build(log: EventLog, study: Study, now: datetime, since: date | None) -> Report:
    """The funnel report for the cohort."""
    created: dict[int, datetime] = {}
    by_staff: set[int] = set()
    agreed: set[int] = set()
    started: set[int] = set()
    outcomes: dict[int, tuple[str, list[str], datetime]] = {}
    recontact: dict[int, bool] = {}
    opted_out: set[int] = set()
    consent_done: dict[int, list[datetime]] = {}
    referral_events: dict[int, list[datetime]] = {}
    for entry in log.entries(*ACTIONS):  # oldest first, so a later answer or outcome wins
        pid, new = entry.participant_id, entry.new or {}
        match entry.action:
            case "participant_created":
                created.setdefault(pid, entry.at)
            case "enrolled_by_staff":
                by_staff.add(pid)
            case "texts_agreed" if new.get("agreed"):
                agreed.add(pid)
            case "flow_started" if new.get("flow") == "prescreen":
                started.add(pid)
            case "prescreen_completed":
                outcomes[pid] = (str(new.get("outcome")), [str(r) for r in new.get("reasons") or []], entry.at)
            case "recontact_recorded":
                recontact[pid] = bool(new.get("granted"))
            case "opted_out":
                opted_out.add(pid)
            case "consent_check_completed":
                consent_done.setdefault(pid, []).append(entry.at)
                referral_events.setdefault(pid, []).append(entry.at)
            case "anchor_set":
                referral_events.setdefault(pid, []).append(entry.at)
    first = {pid: at for pid, at in created.items() if pid not in by_staff}
    started &= first.keys()
    latest = {pid: outcome for pid, outcome in outcomes.items() if pid in started}
    eligible = {pid for pid, (outcome, _, _) in latest.items() if outcome == "eligible"}
    ineligible = {pid for pid, (outcome, _, _) in latest.items() if outcome == "ineligible"}
    review = {pid for pid, (outcome, _, _) in latest.items() if outcome == "needs_review"}
    referred: dict[int, datetime] = {}
    for pid in eligible:
        after = [at for at in referral_events.get(pid, []) if at >= latest[pid][2]]
        if after:
            referred[pid] = min(after)
    by_reason = dict.fromkeys(fail_codes(study), 0)
    for pid in ineligible:
        for code in latest[pid][1]:
            by_reason[code] = by_reason.get(code, 0) + 1
    answered = {pid: granted for pid, granted in recontact.items() if pid in first}
    completed = len(latest)
    metrics: list[Metric] = [
        count("first_contacts", len(first), "participants",
              "people who wrote to us first (participant_created, not created by staff enrolment)"),
        rate("agreed_to_texts", len(agreed & first.keys()), len(first),
             "first contacts who said YES to texts (texts_agreed, agreed) ÷ first contacts"),
        rate("prescreens_started", len(started), len(first),
             "first contacts who began the prescreen (flow_started prescreen) ÷ first contacts"),
        rate("prescreens_completed", completed, len(started),
             "started prescreens that reached an outcome (prescreen_completed) ÷ prescreens started"),
        rate("pass_rate", len(eligible), completed, "latest outcome eligible ÷ prescreens completed"),
        rate("screen_fail_rate", len(ineligible), completed, "latest outcome ineligible ÷ prescreens completed"),
        *[
            rate(f"screen_fail_rate.{code}", n, completed, f"ineligible on criterion {code} ÷ prescreens completed")
            for code, n in by_reason.items()
        ],
        rate("needs_review", len(review), completed,
             "latest outcome needs_review (a coordinator decides) ÷ prescreens completed"),
        rate("consent_check_completed", len(eligible & consent_done.keys()), len(eligible),
             "eligible participants who finished a consent comprehension check (consent_check_completed) ÷ eligible"),
        rate("referred_to_site", len(referred), len(eligible),
             "eligible participants who, after the prescreen, finished the consent check or were enrolled by staff "
             "(anchor_set) ÷ eligible"),
        rate("recontact_permission_rate", sum(answered.values()), len(answered),
             "said yes to contact about future studies ÷ answered the question (latest answer; the log records "
             "answers, not the question, so someone who never answered is not counted)"),
        rate("opt_outs", len(opted_out & first.keys()), len(first),
             "first contacts who opted out at least once (STOP, or the carrier says they unsubscribed) ÷ first "
             "contacts"),
        median_of("median_hours_to_prescreen_complete", [hours(first[pid], latest[pid][2]) for pid in latest], "hours",
                  "median time from first contact to the latest prescreen outcome, over prescreens completed"),
        median_of("median_hours_prescreen_to_referral",
                  [hours(latest[pid][2], at) for pid, at in referred.items()], "hours",
                  "median time from the eligible outcome to the referral, over participants referred"),
    ]  # fmt: skip
    summary: dict[str, Any] = {
        "prescreens_started": len(started),
        "prescreens_completed": completed,
        "eligible": len(eligible),
        "ineligible": len(ineligible),
        "ineligible_by_reason": {code: n for code, n in sorted(by_reason.items()) if n},
        "needs_review": len(review),
        "recontact_granted": sum(answered.values()),
        "opted_out": len(opted_out & first.keys()),
    }
    return Report("funnel", now, since, tuple(metrics), {}, summary)
