"""Build a script pack from a loaded study: sections in reading order, each message in every chosen language."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from bot.bootstrap import Core
from bot.channels.rendering import ChoiceStyle
from bot.channels.segments import count_segments
from bot.domain import MessageCreated, Part
from bot.script_pack.behaviour import SCHEDULED_FLOWS, scheduled_examples
from bot.script_pack.diagram import mermaid
from bot.script_pack.examples import example_part, with_examples
from bot.script_pack.manifest import fingerprint, message_hashes
from bot.script_pack.model import Entry, Pack, Rendering, Section
from bot.script_pack.walk import Walk, ordered_flows, walk_flows

Grader = Callable[[str, str], float | None]
STUDY_SECTION = "study"
FRAGMENTS = ("choice label", "value")
"""Roles of text that is not a sentence of its own: left out of a flow's reading grade."""


def _grader() -> Grader:
    from bot.readability import grade

    def graded(text: str, locale: str) -> float | None:
        try:
            return grade(text, locale)
        except ValueError:  # no formula for the language
            return None

    return graded


def _rendering(locale: str, template: str, example: str, grade: Grader) -> Rendering:
    counted = count_segments(example)
    return Rendering(
        locale, template, example, counted.encoding, counted.units, counted.segments, grade(example, locale)
    )


def _homes(core: Core, walk: Walk) -> dict[str, str]:
    """The section that lists each message: its flow or book; a study message, the first flow that sends it."""
    owners = set(core.flows.flows) | set(core.flows.books)
    homes: dict[str, str] = {}
    for key in core.translator.messages:
        prefix = key.split(".", 1)[0]
        if prefix in owners:
            homes[key] = prefix
            continue
        users = [flow for flow, keys in walk.by_flow.items() if key in keys]
        homes[key] = users[0] if users else STUDY_SECTION
    return homes


class _Builder:
    def __init__(self, core: Core, locales: tuple[str, ...], grade: Grader) -> None:
        self.core, self.locales, self.grade = core, locales, grade
        self.walk = walk_flows(core)
        self.homes = _homes(core, self.walk)
        self.scheduled: dict[str, tuple[str, tuple[str, ...]]] = self._scheduled()

    def _scheduled(self) -> dict[str, tuple[str, tuple[str, ...]]]:
        """The scheduler's opening messages, as sent, keyed by the first message in them."""
        found: dict[str, tuple[str, tuple[str, ...]]] = {}
        now = datetime.fromisoformat("2026-11-25T10:00:00+00:00")  # a preview reads its data, not the clock
        for flow, what, data in scheduled_examples(self.core):
            if flow not in self.core.flows.flows:
                continue
            bodies = []
            key = ""
            for locale in self.locales:
                context = self.core.conversations.context(locale, now)
                messages = self.core.conversations.engine.preview(flow, data, context)
                key = messages[0].parts[0].key if messages and messages[0].parts else ""
                bodies.append(self._body(messages, locale))
            if key:
                found[key] = (f"Sent by the scheduler ({what})", tuple(bodies))
        return found

    def _body(self, messages: Iterable[MessageCreated], locale: str) -> str:
        renderer = self.core.renderer
        return "\n\n".join(
            renderer.render(with_examples(self.core, m, locale), locale, ChoiceStyle.NUMBERED).body for m in messages
        )

    def entry(self, key: str) -> Entry:
        translator, renderer = self.core.translator, self.core.renderer
        texts = tuple(
            _rendering(loc, translator.text(key, loc), renderer.part(example_part(self.core, Part(key), loc), loc),
                       self.grade)
            for loc in self.locales
        )  # fmt: skip
        title = ""
        sent: tuple[Rendering, ...] = ()
        if key in self.scheduled:
            title, bodies = self.scheduled[key]
            sent = tuple(_rendering(loc, "", body, self.grade) for loc, body in zip(self.locales, bodies, strict=True))
        elif key in self.walk.sent:
            title, message = self.walk.sent[key]
            sent = tuple(_rendering(loc, "", self._body([message], loc), self.grade) for loc in self.locales)
        uses = tuple(self.walk.uses.get(key, ()))
        return Entry(key, translator.messages[key].note, uses, texts, sent, title)

    def section(self, section_id: str, kind: str, description: str, keys: list[str], diagram: str | None) -> Section:
        own = [k for k in dict.fromkeys(keys) if self.homes.get(k) == section_id]
        own += [k for k, home in self.homes.items() if home == section_id and k not in own]
        shared = tuple(k for k in dict.fromkeys(keys) if self.homes.get(k) != section_id)
        entries = tuple(self.entry(k) for k in own)
        grades: dict[str, float | None] = {}
        prose = [e for e in entries if not e.uses or not all(u.role.startswith(FRAGMENTS) for u in e.uses)]
        for index, locale in enumerate(self.locales):
            sentences = [_sentence(e.texts[index].example) for e in prose]
            grades[locale] = self.grade(" ".join(s for s in sentences if s), locale) if prose else None
        return Section(section_id, kind, description, diagram, entries, shared, grades)


def _sentence(text: str) -> str:
    """A text as a sentence of a longer passage (labels like "Yes" get a full stop)."""
    text = " ".join(text.split())
    return text if not text or text[-1] in ".?!:" else f"{text}."


def build_pack(core: Core, locales: tuple[str, ...], generated_at: str, grade: Grader | None = None) -> Pack:
    """The script pack of a study in the given languages (every message, every flow, in reading order)."""
    builder = _Builder(core, locales, grade or _grader())
    sections = []
    for flow in ordered_flows(core):
        description = flow.description
        if flow.id in SCHEDULED_FLOWS:
            description += f" The scheduler sends its first question ({SCHEDULED_FLOWS[flow.id]})."
        keys = builder.walk.by_flow.get(flow.id, [])
        sections.append(builder.section(flow.id, "flow", description, keys, mermaid(flow)))
    for book_id in sorted(core.flows.books, key=lambda b: (b != "common", b)):
        book = core.flows.books[book_id]
        sections.append(builder.section(book_id, "book", book.description, [m.id for m in book.messages], None))
    if STUDY_SECTION in builder.homes.values():
        description = "The study's own messages that no flow sends."
        sections.append(builder.section(STUDY_SECTION, "study", description, [], None))
    study = core.loaded.study
    details = [("Study", f"{study.name} ({study.id})"), ("Languages", ", ".join(locales))]
    details.append(("Opt-in disclosure version", study.onboarding.disclosure_version))
    if study.consent is not None:
        details.append(("Consent form version", study.consent.form_version))
    hashes = message_hashes(core, locales)
    details += [("Generated", generated_at), ("Approval fingerprint (manifest.json)", fingerprint(hashes))]
    return Pack(
        study.id,
        study.name,
        locales,
        generated_at,
        fingerprint(hashes),
        tuple(s for s in sections if s.entries or s.diagram),
        tuple(details),
    )
