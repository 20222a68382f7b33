"""A report as an aligned table, as CSV (one row per metric) or as JSON with stable keys."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from bot.reports.metrics import Metric, Report

FORMATS = ("table", "csv", "json")
CSV_HEADER = ("report", "metric", "numerator", "denominator", "value", "unit", "definition")
TITLES = {
    "funnel": "Recruitment funnel",
    "retention": "Retention",
    "escalations": "Escalations",
    "engagement": "Engagement",
}


def render(report: Report, fmt: str) -> str:
    """The report in one of FORMATS."""
    if fmt == "csv":
        return as_csv(report)
    if fmt == "json":
        return json.dumps(as_json(report), indent=2, ensure_ascii=False)
    return as_table(report)


def _plain(value: Any) -> str:
    return "-" if value is None else str(value)


def figure(metric: Metric) -> str:
    """numerator / denominator = value; a bare count; or a statistic over how many items it was taken over."""
    if metric.denominator is None:
        return _plain(metric.value)
    if metric.numerator is None:
        return f"over {metric.denominator} = {_plain(metric.value)}"
    return f"{metric.numerator} / {metric.denominator} = {_plain(metric.value)}"


def _scope(report: Report) -> str:
    who = f"participants first seen on or after {report.since.isoformat()}" if report.since else "all participants"
    return f"as of {report.as_of.strftime('%Y-%m-%d %H:%M UTC')}, {who}"


def as_table(report: Report) -> str:
    """Aligned plain text: name, figure and unit per metric, then each metric's definition."""
    rows = [("metric", "numerator / denominator = value", "unit")]
    rows += [(m.name, figure(m), m.unit) for m in report.metrics]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    lines = [f"{TITLES.get(report.name, report.name)} ({_scope(report)})", ""]
    lines += [f"{name:<{widths[0]}}  {shown:<{widths[1]}}  {unit}".rstrip() for name, shown, unit in rows]
    weekly = report.series.get("weekly_adherence")
    if weekly:
        lines += ["", "visit adherence by week (Monday of the week the visit was booked for):"]
        lines += [f"  {w['week']}  {w['numerator']} / {w['denominator']} = {_plain(w['value'])}" for w in weekly]
    lines += ["", "definitions:"]
    lines += [f"  {m.name}: {m.definition}" for m in report.metrics]
    return "\n".join(lines)


def as_csv(report: Report) -> str:
    """One row per metric under CSV_HEADER; an empty cell where a metric has no numerator or denominator."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    for m in report.metrics:
        writer.writerow([report.name, m.name, _cell(m.numerator), _cell(m.denominator), _cell(m.value), m.unit,
                         m.definition])  # fmt: skip
    return out.getvalue().rstrip("\n")


def _cell(value: Any) -> str:
    return "" if value is None else str(value)


def as_json(report: Report) -> dict[str, Any]:
    """Stable keys: report, as_of, since, metrics (name → numerator, denominator, value, unit, definition),
    series, then the plain figures the earlier `--json` printed (prescreens_started, visits_due, ...)."""
    return {
        "report": report.name,
        "as_of": report.as_of.isoformat(),
        "since": report.since.isoformat() if report.since else None,
        "metrics": {m.name: m.as_dict() for m in report.metrics},
        "series": report.series,
        **report.summary,
    }
