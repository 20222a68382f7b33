"""What each report should say about a cohort, worked out from the simulation's own record only.

Each figure is (numerator, denominator, value), as the report's metrics have them; the rounding is
the documented one (rates to 4 places, durations to 2; the 90th percentile is the nearest rank).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from datetime import date, datetime, time, timedelta

from tests.reports.cohort import END, NY, Cohort, Person, Visit

Figure = tuple[float | int | None, int | None, float | int | None]
FAIL_CODES = ("INC-01-AGE", "INC-02-T2D", "EXC-01-INSULIN", "INC-03-DURATION")  # the demo study's, in order
ACK_MINUTES = {"urgent": 15, "high": 120}  # normal: by 17:00 on the next weekday (the demo study's hours)


def _rate(numerator: int, denominator: int) -> Figure:
    return numerator, denominator, round(numerator / denominator, 4) if denominator else None


def _count(n: int) -> Figure:
    return n, None, n


def _median(values: list[float]) -> Figure:
    return None, len(values), round(statistics.median(values), 2) if values else None


def _p90(values: list[float]) -> Figure:
    ordered = sorted(values)
    return None, len(values), round(ordered[math.ceil(len(ordered) * 0.9) - 1], 2) if ordered else None


def _hours(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 3600


def _minutes(start: datetime, end: datetime) -> float:
    return (end - start).total_seconds() / 60


def cohort_of(cohort: Cohort, since: date | None) -> list[Person]:
    """Everyone, or those whose first message came on or after a New York day."""
    if since is None:
        return cohort.people
    start = datetime.combine(since, time(0), NY)
    return [p for p in cohort.people if p.first_at is not None and p.first_at >= start]


def referral(person: Person) -> datetime | None:
    """When an eligible person was referred: the consent check finished, or staff enrolled them."""
    if person.outcome != "eligible":
        return None
    times = [t for t in (person.consent_done_at, person.enrolled_at) if t is not None]
    return min(times) if times else None


def funnel(cohort: Cohort, since: date | None = None) -> dict[str, Figure]:
    """The funnel figures."""
    people = cohort_of(cohort, since)
    started = [p for p in people if p.started]
    completed = [p for p in started if p.outcome is not None]
    eligible = [p for p in completed if p.outcome == "eligible"]
    ineligible = [p for p in completed if p.outcome == "ineligible"]
    referred = {p.index: referral(p) for p in eligible if referral(p) is not None}
    answered = [p for p in people if p.recontact is not None]
    figures: dict[str, Figure] = {
        "first_contacts": _count(len(people)),
        "agreed_to_texts": _rate(sum(p.agreed for p in people), len(people)),
        "prescreens_started": _rate(len(started), len(people)),
        "prescreens_completed": _rate(len(completed), len(started)),
        "pass_rate": _rate(len(eligible), len(completed)),
        "screen_fail_rate": _rate(len(ineligible), len(completed)),
    }
    for code in FAIL_CODES:
        figures[f"screen_fail_rate.{code}"] = _rate(sum(p.reason == code for p in ineligible), len(completed))
    figures |= {
        "needs_review": _rate(sum(p.outcome == "needs_review" for p in completed), len(completed)),
        "consent_check_completed": _rate(sum(p.consent_done_at is not None for p in eligible), len(eligible)),
        "referred_to_site": _rate(len(referred), len(eligible)),
        "recontact_permission_rate": _rate(sum(bool(p.recontact) for p in answered), len(answered)),
        "opt_outs": _rate(sum(p.stopped_at is not None for p in people), len(people)),
        "median_hours_to_prescreen_complete": _median(
            [_hours(p.first_at, p.outcome_at) for p in completed if p.first_at and p.outcome_at]
        ),
        "median_hours_prescreen_to_referral": _median(
            [_hours(p.outcome_at, at) for p in eligible if p.outcome_at and (at := referred.get(p.index))]
        ),
    }
    return figures


def final_status(visit: Visit, sweeps: list[datetime]) -> str:
    """What became of a visit by the end: what staff marked, or missed once a sweep ran after its window closed."""
    if visit.status != "booked":
        return visit.status
    closed = datetime.combine(visit.window_end + timedelta(days=1), time(0), NY)
    after = max(visit.at, closed)
    return "missed" if any(after < s <= END for s in sweeps) else "booked"


def retention(cohort: Cohort, sweeps: list[datetime]) -> tuple[dict[str, Figure], list[dict[str, object]]]:
    """The retention figures and the weekly adherence series."""
    enrolled = [p for p in cohort.people if p.enrolled_at is not None]
    visits = [(v, final_status(v, sweeps)) for p in enrolled for v in p.visits]
    due = [(v, s) for v, s in visits if s in ("attended", "missed")]
    kept = [v for v, s in due if s == "attended" and not v.out_of_window]
    reminded = [v for v, _ in visits if v.reminded]
    left = {p.index for p in enrolled if p.left_at is not None}
    stopped = {p.index for p in enrolled if p.stopped_at is not None and p.stopped_at >= (p.enrolled_at or END)}
    figures = {
        "participants_enrolled": _count(len(enrolled)),
        "visits": _count(len(visits)),
        "visits_due": _count(len(due)),
        "visit_adherence": _rate(len(kept), len(due)),
        "visits_missed": _rate(sum(s == "missed" for _, s in due), len(due)),
        "reminder_confirmation_rate": _rate(sum(v.confirmed for v in reminded), len(reminded)),
        "dropout": _rate(len(left | stopped), len(enrolled)),
        "dropout.asked_to_leave": _rate(len(left), len(enrolled)),
        "dropout.opted_out": _rate(len(stopped), len(enrolled)),
    }
    weeks: dict[date, list[int]] = {}
    for visit, status in due:
        day = visit.at.astimezone(NY).date()
        tally = weeks.setdefault(day - timedelta(days=day.weekday()), [0, 0])
        tally[0] += status == "attended" and not visit.out_of_window
        tally[1] += 1
    weekly = [
        {"week": w.isoformat(), "numerator": n, "denominator": d, "value": round(n / d, 4)}
        for w, (n, d) in sorted(weeks.items())
    ]
    return figures, weekly


def engagement(cohort: Cohort) -> dict[str, Figure]:
    """The engagement figures."""
    kinds = Counter(m.kind for m in cohort.received)
    replied = [m for m in cohort.received if m.replied_at is not None]
    answers = Counter(m.kind for m in replied)
    waits = [_minutes(m.sent_at, m.replied_at) for m in replied if m.replied_at]
    figures: dict[str, Figure] = {"checkin_response_rate": _rate(answers["checkin"], kinds["checkin"])}
    figures |= {f"reply_rate.{kind}": _rate(answers[kind], n) for kind, n in sorted(kinds.items())}
    return figures | {
        "median_minutes_to_reply": _median(waits),
        "p90_minutes_to_reply": _p90(waits),
        "messages_in": _count(cohort.messages_in),
        "messages_out": _count(cohort.messages_out),
        "opt_outs": _rate(sum(p.stopped_at is not None for p in cohort.people), len(cohort.people)),
    }


def deadline(severity: str, raised: datetime) -> datetime:
    """When staff had to acknowledge: minutes for urgent and high, 17:00 New York on the next weekday for normal."""
    if severity in ACK_MINUTES:
        return raised + timedelta(minutes=ACK_MINUTES[severity])
    day = raised.astimezone(NY).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime.combine(day, time(17, 0), NY)


def escalations(cohort: Cohort, since: date | None = None) -> dict[str, Figure]:
    """The escalation figures as of the end of the simulation."""
    members = {p.index for p in cohort_of(cohort, since)}
    raised = [e for e in cohort.escalations if e.person.index in members]
    total = len(raised)
    severities = ("urgent", "high", "normal")
    figures: dict[str, Figure] = {"escalations": _count(total)}
    figures |= {f"escalations.{s}": _rate(sum(e.severity == s for e in raised), total) for s in severities}
    categories = Counter(e.category for e in raised)
    figures |= {f"escalations_by_category.{c}": _rate(n, total) for c, n in sorted(categories.items())}
    waits = {s: [_minutes(e.raised_at, e.acknowledged_at) for e in raised if e.severity == s and e.acknowledged_at]
             for s in severities}  # fmt: skip
    every = [w for s in severities for w in waits[s]]
    figures |= {"median_minutes_to_acknowledge": _median(every), "p90_minutes_to_acknowledge": _p90(every)}
    for s in severities:
        figures[f"median_minutes_to_acknowledge.{s}"] = _median(waits[s])
        figures[f"p90_minutes_to_acknowledge.{s}"] = _p90(waits[s])
    judged: Counter[str] = Counter()
    late: Counter[str] = Counter()
    for e in raised:
        due = deadline(e.severity, e.raised_at)
        if e.acknowledged_at is not None or due < END:
            judged[e.severity] += 1
            late[e.severity] += (e.acknowledged_at or END) > due
    figures["sla_breaches"] = _rate(sum(late.values()), sum(judged.values()))
    figures |= {f"sla_breaches.{s}": _rate(late[s], judged[s]) for s in severities}
    figures["open_now"] = _rate(sum(e.acknowledged_at is None for e in raised), total)
    figures["unresolved_now"] = _rate(sum(e.resolved_at is None for e in raised), total)
    return figures
