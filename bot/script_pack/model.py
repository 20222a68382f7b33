"""What a script pack holds: sections (a flow or a message book), their messages, and each text per language."""

from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class Use:
    """Where a message is sent (a flow's state, or a place outside the flows) and its role there."""

    where: str
    role: str

    @property
    def in_flow(self) -> bool:
        """True when `where` is a flow or one of its states (flow.state), not a description."""
        return re.fullmatch(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)?", self.where) is not None


@dataclass(frozen=True, slots=True)
class Rendering:
    """A text in one language: its template, an example as the patient sees it, its SMS cost and reading grade."""

    locale: str
    template: str
    example: str
    encoding: str
    units: int
    segments: int
    grade: float | None  # None: no readability formula for the language


@dataclass(frozen=True, slots=True)
class Entry:
    """One message: its id, where it is used, its text in each language, and the whole SMS it goes out in."""

    key: str
    note: str | None
    uses: tuple[Use, ...]
    texts: tuple[Rendering, ...]
    sent: tuple[Rendering, ...] = ()  # a question with its choices, or a scheduled message, as sent by SMS
    sent_title: str = ""


@dataclass(frozen=True, slots=True)
class Section:
    """A flow (or the shared message book): what it is for, its diagram, and the messages it sends."""

    id: str
    kind: str  # "flow", "book" or "study"
    description: str
    diagram: str | None
    entries: tuple[Entry, ...]
    shared: tuple[str, ...] = ()  # messages it sends that are listed in another section
    grades: dict[str, float | None] = field(default_factory=dict)  # the whole section's text, per language (PL-02)


@dataclass(frozen=True, slots=True)
class Pack:
    """Every patient-facing message of a study, per flow, in the chosen languages."""

    study_id: str
    study_name: str
    locales: tuple[str, ...]
    generated_at: str
    fingerprint: str
    sections: tuple[Section, ...]
    details: tuple[tuple[str, str], ...] = ()  # (label, value) facts for the cover: versions, contact

    @property
    def title(self) -> str:
        """The document's title."""
        return f"Script pack: {self.study_name} ({self.study_id})"

    def entries(self) -> list[Entry]:
        """Every message, in document order."""
        return [entry for section in self.sections for entry in section.entries]

    def section_of(self) -> dict[str, str]:
        """Each message id with the section that lists it."""
        return {entry.key: section.id for section in self.sections for entry in section.entries}
