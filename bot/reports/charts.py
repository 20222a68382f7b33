"""One PNG per report, to read at a glance. matplotlib is imported here only, when a chart is asked for.

It draws with the Agg backend (no display is needed) on a Figure of its own, never pyplot's global
state, so a chart drawn inside a long-running process leaves nothing behind.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.reports.metrics import Metric, Report
from bot.reports.render import TITLES

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

SIZE = (11, 6.5)  # inches; at DPI this is 1100 x 650 pixels
DPI = 100
BAR = "#3b6ea5"
SECOND = "#e39b3a"
MUTED = "#9aa5b1"
KINDS = {"checkin": "check-ins", "booking": "booking notes", "reminder": "reminders", "missed": "missed-visit notes",
         "welcome": "welcomes", "consent": "consent checks"}  # fmt: skip


class ChartError(Exception):
    """The chart cannot be written where asked; the message says why."""


def check_path(path: Path) -> None:
    """Refuse, before any work is done, a path that is not a .png file in a folder we can write to."""
    if path.suffix.lower() != ".png":
        raise ChartError(f"--chart {str(path)!r} must be a .png file")
    if path.exists() and not path.is_file():
        raise ChartError(f"--chart {str(path)!r} is not a file")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ChartError(f"--chart {str(path)!r}: folder {str(folder)!r} does not exist")
    existed = path.exists()
    try:
        with path.open("ab"):
            pass  # appending truncates nothing, should the report fail before the chart is drawn
    except OSError as exc:
        raise ChartError(f"--chart {str(path)!r} cannot be written ({exc.strerror or exc})") from None
    if not existed:
        path.unlink()


def write_chart(report: Report, path: Path) -> None:
    """Draw the report's chart and save it as a PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    figure = Figure(figsize=SIZE, dpi=DPI, layout="constrained")
    DRAW[report.name](figure, report)
    scope = f"as of {report.as_of:%Y-%m-%d %H:%M} UTC"
    scope += f", participants first seen on or after {report.since.isoformat()}" if report.since else ""
    figure.suptitle(f"{TITLES.get(report.name, report.name)} ({scope})", fontsize=13)
    try:
        figure.savefig(path, format="png", dpi=DPI)
    except OSError as exc:
        raise ChartError(f"--chart {str(path)!r} cannot be written ({exc.strerror or exc})") from None


def _value(metric: Metric) -> float:
    return float(metric.value or 0)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color=MUTED, fontsize=12)
    ax.set_xticks([])
    ax.set_yticks([])


def _hbars(ax: Axes, labels: list[str], values: list[float], notes: list[str], color: str = BAR) -> None:
    """Horizontal bars, first label on top, each with its note at the end of the bar."""
    positions = list(range(len(labels)))[::-1]
    ax.barh(positions, values, color=color)
    ax.set_yticks(positions, labels)
    top = max(values, default=0) or 1
    ax.set_xlim(0, top * 1.35)
    for y, value, note in zip(positions, values, notes, strict=True):
        ax.text(value + top * 0.01, y, note, va="center", fontsize=9)
    ax.spines[["top", "right"]].set_visible(False)


def _funnel(figure: Figure, report: Report) -> None:
    stages, reasons = figure.subplots(1, 2, width_ratios=[3, 2])
    first = report.metric("first_contacts")
    names = [("first_contacts", "First contacts"), ("agreed_to_texts", "Agreed to texts"),
             ("prescreens_started", "Prescreen started"), ("prescreens_completed", "Prescreen completed"),
             ("pass_rate", "Eligible"), ("consent_check_completed", "Consent check done"),
             ("referred_to_site", "Referred to site")]  # fmt: skip
    counts = [float(report.metric(name).numerator or 0) for name, _ in names]
    base = float(first.numerator or 0)
    notes = [f"{int(n)}" + (f"  ({n / base:.0%} of first contacts)" if base else "") for n in counts]
    _hbars(stages, [label for _, label in names], counts, notes)
    stages.set_title("Participants at each stage")
    stages.set_xlabel("participants")
    fails = [m for m in report.metrics if m.name.startswith("screen_fail_rate.")]
    if not any(m.numerator for m in fails):
        _empty(reasons, "no screen failures")
    else:
        labels = [m.name.removeprefix("screen_fail_rate.") for m in fails]
        notes = [f"{m.numerator} ({_value(m):.0%} of completed)" for m in fails]
        _hbars(reasons, labels, [float(m.numerator or 0) for m in fails], notes, color=SECOND)
        reasons.set_xlabel("participants")
    reasons.set_title("Screen failures by criterion")


def _retention(figure: Figure, report: Report) -> None:
    ax = figure.subplots()
    weekly: list[dict[str, Any]] = report.series.get("weekly_adherence", [])
    if not weekly:
        _empty(ax, "no visits due yet")
        return
    weeks = [w["week"] for w in weekly]
    values = [float(w["value"] or 0) for w in weekly]
    ax.plot(weeks, values, marker="o", color=BAR, linewidth=2)
    for x, w in zip(weeks, weekly, strict=True):
        ax.annotate(f"{w['numerator']}/{w['denominator']}", (x, float(w["value"] or 0)), textcoords="offset points",
                    xytext=(0, 8), ha="center", fontsize=9)  # fmt: skip
    overall = report.metric("visit_adherence")
    if overall.value is not None:
        ax.axhline(_value(overall), color=MUTED, linestyle="--", linewidth=1)
        ax.text(len(weeks) - 0.5, _value(overall), f"overall {_value(overall):.0%}", va="bottom", ha="right",
                color="#555555", fontsize=9)  # fmt: skip
    ax.set_ylim(0, 1.1)
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("visits attended within window / visits due")
    ax.set_xlabel("week of the visit (Monday)")
    ax.set_title("Visit adherence by week")
    ax.tick_params(axis="x", labelrotation=30)
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _escalations(figure: Figure, report: Report) -> None:
    waits: dict[str, list[float]] = report.series.get("minutes_to_acknowledge", {})
    deadlines: dict[str, int | None] = report.series.get("deadline_minutes", {})
    axes = figure.subplots(1, max(1, len(waits)), squeeze=False)[0]
    for ax, (severity, values) in zip(axes, waits.items(), strict=False):
        count = report.metric(f"escalations.{severity}").numerator
        due = "" if deadlines.get(severity) is not None else ", due by the next business day"
        ax.set_title(f"{severity} ({count} raised{due})")
        if not values:
            _empty(ax, "none acknowledged")
            continue
        ax.boxplot(values, widths=0.5, medianprops={"color": SECOND, "linewidth": 2})
        median = report.metric(f"median_minutes_to_acknowledge.{severity}").value
        p90 = report.metric(f"p90_minutes_to_acknowledge.{severity}").value
        ax.axhline(float(p90 or 0), color=BAR, linestyle=":", linewidth=1.5, label="90th percentile")
        deadline = deadlines.get(severity)
        if deadline is not None:
            ax.axhline(
                deadline, color="#c0392b", linestyle="--", linewidth=1.2, label=f"deadline {_duration(deadline)}"
            )
        late = report.metric(f"sla_breaches.{severity}")
        ax.set_xticks(
            [1], [f"median {_duration(median)}\np90 {_duration(p90)}\nlate {late.numerator} of {late.denominator}"]
        )
        ax.set_ylabel("minutes to acknowledge")
        ax.set_ylim(bottom=0)
        ax.legend(loc="upper right", fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)


def _duration(value: float | None) -> str:
    """Minutes as people say them: 20 min, or 31.8 h from two hours up."""
    if value is None:
        return "-"
    return f"{value:.0f} min" if value < 120 else f"{value / 60:.1f} h"


def _engagement(figure: Figure, report: Report) -> None:
    ax = figure.subplots()
    rates = [m for m in report.metrics if m.name.startswith("reply_rate.")]
    if not rates:
        _empty(ax, "no scheduled messages sent yet")
        return
    labels = [KINDS.get(m.name.removeprefix("reply_rate."), m.name.removeprefix("reply_rate.")) for m in rates]
    values = [_value(m) for m in rates]
    bars = ax.bar(labels, values, color=BAR)
    for bar, m in zip(bars, rates, strict=True):
        ax.annotate(f"{_value(m):.0%}\n({m.numerator}/{m.denominator})", (bar.get_x() + bar.get_width() / 2,
                    bar.get_height()), textcoords="offset points", xytext=(0, 4), ha="center", fontsize=9)  # fmt: skip
    ax.set_ylim(0, 1.2)
    ax.yaxis.set_major_formatter("{x:.0%}")
    ax.set_ylabel("answered / sent")
    messages_in, messages_out = report.metric("messages_in"), report.metric("messages_out")
    wait = report.metric("median_minutes_to_reply")
    ax.set_title(
        f"Scheduled messages answered, by kind (median reply after {_duration(_number(wait.value))}; "
        f"messages in {messages_in.value}, out {messages_out.value})"
    )
    ax.grid(axis="y", alpha=0.3)
    ax.spines[["top", "right"]].set_visible(False)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


DRAW = {"funnel": _funnel, "retention": _retention, "escalations": _escalations, "engagement": _engagement}
