"""The script pack as Markdown (script.md): patient text escaped, templates as code, diagrams as mermaid blocks."""

from __future__ import annotations

import re

from bot.script_pack.model import Entry, Pack, Rendering, Section

GUIDE = (
    "Each message is shown in every language: the text as the patient sees it (with example values for the "
    "parts trialbot fills in), the template as written (placeholders in braces), what it costs by SMS "
    "(GSM-7: 160 characters in one segment, 153 per segment when longer; one character outside GSM-7 makes "
    "it UCS-2: 70, or 67 per segment) and its reading grade (Flesch-Kincaid for English; for Spanish, a grade "
    "equivalent of Fernández-Huerta). A grade of one short message is unreliable: each flow's grade is for "
    "all its sentences together (choice labels and filled-in values left out). Messages sent by the "
    'scheduler start with "Hi <first name>." only for participants who allowed it. The diagrams show each '
    "flow's states and routes, labelled with the answer or condition that takes them; [*] is the start or an end."
)
_ESCAPE = re.compile(r"([\\`*_\[\]<>|~])")
_ENTITY = re.compile(r"&(?=#?[A-Za-z0-9]+;)")
_BLOCK_START = re.compile(r"^(\s*)(\d+)([.)])|^(\s*)([-+=#])")


def escape(text: str) -> str:
    """Patient text that Markdown shows as it is: no emphasis, links, HTML or lists."""
    lines = []
    for line in _ENTITY.sub(r"\\&", _ESCAPE.sub(r"\\\1", text)).split("\n"):
        lines.append(_BLOCK_START.sub(lambda m: m.group(0)[:-1] + "\\" + m.group(0)[-1], line))
    return "\n".join(lines)


def code(text: str) -> str:
    """Inline code that holds any text, backticks included."""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") or not text.strip() else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def quote(text: str) -> list[str]:
    """A blockquote that keeps the message's line breaks."""
    paragraphs = escape(text).split("\n\n")
    lines: list[str] = []
    for n, paragraph in enumerate(paragraphs):
        if n:
            lines.append(">")
        lines.append("> " + "\\\n> ".join(paragraph.split("\n")))
    return lines


def grade_text(grade: float | None) -> str:
    """A reading grade to one decimal, or "n/a" for a language without a formula."""
    return "n/a" if grade is None else f"{grade:.1f}"


def sms_cost(rendering: Rendering) -> str:
    """What a text costs by SMS, in words: "2 SMS segments, GSM-7, 162 characters"."""
    unit = "characters" if rendering.encoding == "GSM-7" else "UTF-16 units"
    plural = "" if rendering.segments == 1 else "s"
    over = " (more than 3)" if rendering.segments > 3 else ""
    return f"{rendering.segments} SMS segment{plural}{over}, {rendering.encoding}, {rendering.units} {unit}"


def cost(rendering: Rendering) -> str:
    """The SMS cost and reading grade of a text, in words."""
    return f"{sms_cost(rendering)}; reading grade {grade_text(rendering.grade)}"


def _entry(entry: Entry) -> list[str]:
    lines = [f'<a id="msg-{entry.key}"></a>', "", f"### {code(entry.key)}", ""]
    uses = "; ".join(f"{code(u.where) if u.in_flow else escape(u.where)}: {escape(u.role)}" for u in entry.uses)
    uses = uses or "not sent by any flow"
    lines += [f"Used in: {uses}", ""]
    if entry.note:
        lines += [f"Note: {escape(entry.note)}", ""]
    for text in entry.texts:
        lines += [f"**{text.locale}**: {cost(text)}", "", *quote(text.example), ""]
        lines += [f"Template: {code(text.template)}", ""]
    if entry.sent:
        lines += [f"_{escape(entry.sent_title)}:_", ""]
        for text in entry.sent:
            lines += [f"**{text.locale}**: {cost(text)}", "", *quote(text.example), ""]
    return lines


def _section(number: int, section: Section, homes: dict[str, str]) -> list[str]:
    kind = {"flow": "Flow", "book": "Shared messages", "study": "Study"}[section.kind]
    lines = [f'<a id="section-{section.id}"></a>', "", f"## {number}. {kind}: {code(section.id)}", ""]
    if section.description:
        lines += [escape(section.description), ""]
    grades = ", ".join(f"{loc} {grade_text(grade)}" for loc, grade in section.grades.items())
    lines += [f"Messages: {len(section.entries)}. Reading grade of its sentences together: {grades}.", ""]
    if section.diagram:
        lines += ["```mermaid", section.diagram, "```", ""]
    if section.shared:
        shared = ", ".join(f"[{code(k)}](#msg-{k}) ({homes.get(k, '?')})" for k in section.shared)
        lines += [f"Also sends messages listed elsewhere: {shared}", ""]
    for entry in section.entries:
        lines += _entry(entry)
    return lines


def to_markdown(pack: Pack) -> str:
    """The whole pack as one Markdown document."""
    lines = [f"# {escape(pack.title)}", "", "| | |", "|---|---|"]
    lines += [f"| {escape(label)} | {escape(value)} |" for label, value in pack.details]
    lines += ["", escape(GUIDE), "", "## Contents", ""]
    for number, section in enumerate(pack.sections, start=1):
        lines.append(f"{number}. [{section.id}](#section-{section.id}): {len(section.entries)} messages")
    lines.append("")
    homes = pack.section_of()
    for number, section in enumerate(pack.sections, start=1):
        lines += _section(number, section, homes)
    return "\n".join(lines).rstrip("\n") + "\n"
