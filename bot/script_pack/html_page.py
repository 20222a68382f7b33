"""The script pack as one self-contained, print-friendly HTML page (script.html): no scripts, fonts or images."""

from __future__ import annotations

from html import escape

from bot.script_pack.markdown import GUIDE, grade_text, sms_cost
from bot.script_pack.model import Entry, Pack, Rendering, Section

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; color: #111;
       max-width: 60rem; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; } h2 { border-bottom: 2px solid #333; padding-bottom: .2rem; margin-top: 2.5rem; }
h3 { font-size: 1rem; margin: 1.5rem 0 .3rem; }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
pre.mermaid { background: #f6f6f6; border: 1px solid #ddd; padding: .6rem; white-space: pre; overflow-x: auto; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 .8rem; }
th, td { border: 1px solid #ccc; padding: .3rem .45rem; text-align: left; vertical-align: top; }
th { background: #eee; font-weight: 600; }
td.text { white-space: pre-wrap; width: 42%; } td.template { width: 30%; } td.template code { white-space: pre-wrap; }
td.num { width: 9rem; } td.lang, td.grade { width: 3.5rem; } .over { color: #a00; font-weight: 600; }
.details th { width: 16rem; } .meta, .note { color: #444; margin: .2rem 0; } .guide { color: #333; }
.message { border-left: 3px solid #bbb; padding-left: .8rem; margin-bottom: 1rem; }
a { color: #0645ad; }
@media print {
  body { margin: 0; max-width: none; font-size: 11pt; }
  section.section { break-before: page; } .message, tr, pre.mermaid { break-inside: avoid; }
  a { color: inherit; text-decoration: none; } nav { break-after: page; }
}
"""


def _cost(rendering: Rendering) -> str:
    text = escape(sms_cost(rendering))
    return f'<span class="over">{text}</span>' if rendering.segments > 3 else text


def _table(texts: tuple[Rendering, ...], templates: bool) -> list[str]:
    head = "<th>Language</th><th>As the patient sees it</th>"
    head += "<th>Template</th>" if templates else ""
    rows = [f"<table><thead><tr>{head}<th>SMS</th><th>Grade</th></tr></thead><tbody>"]
    for text in texts:
        lang = escape(text.locale, quote=True)
        cells = [f'<td class="lang">{escape(text.locale)}</td>']
        cells.append(f'<td class="text" lang="{lang}">{escape(text.example)}</td>')
        if templates:
            cells.append(f'<td class="template" lang="{lang}"><code>{escape(text.template)}</code></td>')
        cells += [f'<td class="num">{_cost(text)}</td>', f'<td class="grade">{grade_text(text.grade)}</td>']
        rows.append(f"<tr>{''.join(cells)}</tr>")
    rows.append("</tbody></table>")
    return rows


def _entry(entry: Entry) -> list[str]:
    key = escape(entry.key, quote=True)
    uses = "; ".join(
        f"{f'<code>{escape(u.where)}</code>' if u.in_flow else escape(u.where)}: {escape(u.role)}" for u in entry.uses
    )
    lines = [f'<article class="message" id="msg-{key}">', f"<h3><code>{escape(entry.key)}</code></h3>"]
    lines.append(f'<p class="meta">Used in: {uses or "not sent by any flow"}</p>')
    if entry.note:
        lines.append(f'<p class="note">Note: {escape(entry.note)}</p>')
    lines += _table(entry.texts, templates=True)
    if entry.sent:
        lines.append(f'<p class="meta"><em>{escape(entry.sent_title)}:</em></p>')
        lines += _table(entry.sent, templates=False)
    lines.append("</article>")
    return lines


def _section(number: int, section: Section, homes: dict[str, str]) -> list[str]:
    kind = {"flow": "Flow", "book": "Shared messages", "study": "Study"}[section.kind]
    lines = [f'<section class="section" id="section-{escape(section.id, quote=True)}">']
    lines.append(f"<h2>{number}. {kind}: <code>{escape(section.id)}</code></h2>")
    if section.description:
        lines.append(f"<p>{escape(section.description)}</p>")
    grades = ", ".join(f"{escape(loc)} {grade_text(grade)}" for loc, grade in section.grades.items())
    lines.append(f'<p class="meta">Messages: {len(section.entries)}. Reading grade of its sentences together: '
                 f"{grades}.</p>")  # fmt: skip
    if section.diagram:
        lines.append(f'<pre class="mermaid">{escape(section.diagram)}</pre>')
    if section.shared:
        links = ", ".join(
            f'<a href="#msg-{escape(k, quote=True)}"><code>{escape(k)}</code></a> ({escape(homes.get(k, "?"))})'
            for k in section.shared
        )
        lines.append(f'<p class="meta">Also sends messages listed elsewhere: {links}</p>')
    for entry in section.entries:
        lines += _entry(entry)
    lines.append("</section>")
    return lines


def to_html(pack: Pack) -> str:
    """The whole pack as one HTML document."""
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(pack.title)}</title>",
        f"<style>{STYLE}</style>",
        "</head>",
        "<body>",
        f"<header><h1>{escape(pack.title)}</h1>",
        '<table class="details"><tbody>',
    ]
    lines += [f"<tr><th>{escape(label)}</th><td>{escape(value)}</td></tr>" for label, value in pack.details]
    lines += ["</tbody></table>", f'<p class="guide">{escape(GUIDE)}</p></header>', "<nav><h2>Contents</h2><ol>"]
    for section in pack.sections:
        anchor = escape(section.id, quote=True)
        lines.append(f'<li><a href="#section-{anchor}">{escape(section.id)}</a>: {len(section.entries)} messages</li>')
    lines.append("</ol></nav>")
    homes = pack.section_of()
    for number, section in enumerate(pack.sections, start=1):
        lines += _section(number, section, homes)
    lines += ["</body>", "</html>"]
    return "\n".join(lines) + "\n"
