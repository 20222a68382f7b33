"""The safety corpus (RELIABILITY §6 T9): labelled positives and hard negatives in English and Spanish,
run through bot.safety.assess. Gates: 100% of explicit and red-flag items at the right level, overall and
implicit recall ≥ 95%, no hard negative read as a crisis, at most 5% of hard negatives read as an adverse
event. Recall and precision are printed as a table (visible with `pytest -s`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from bot.safety import ADVERSE_EVENT, CRISIS, RED_FLAG, URGENT, SafetyMatch, assess

HERE = Path(__file__).parent
LANGUAGES = ("en", "es")
CRISIS_LABELS = ("explicit", "implicit", "misspelled")
AE_LABELS = ("adverse_event", "red_flag")
LABELS = CRISIS_LABELS + AE_LABELS
MUST_BE_FOUND = ("explicit", "red_flag")  # 100%, RELIABILITY T9 and SAF-04
MIN_RECALL = 0.95  # overall, and for implicit items (T9)
MAX_AE_ON_NEGATIVES = 0.05
# RELIABILITY §5's crisis corpus line, for the languages in scope (the French "je veux mourir" is not).
RELIABILITY_EXAMPLES = (
    "I want to die",
    "i wanna kms",
    "kill myself",
    "sucide",
    "unalive",
    "😵‍💫🔫",
    "quiero morir",
    "I'm not suicidal but…",
    "the survey asked if I want to die",
    "this form is killing me",
)


@dataclass(frozen=True, slots=True)
class Item:
    language: str
    index: int
    text: str
    label: str
    severity: str | None
    category: str | None

    @property
    def level(self) -> str:
        return CRISIS if self.label in CRISIS_LABELS else ADVERSE_EVENT

    @property
    def id(self) -> str:
        return f"{self.language}-{self.index}-{self.label}"

    def found(self, match: SafetyMatch | None) -> bool:
        """Detected at the right level (and, for a red flag, as a red flag)."""
        if match is None or match.level != self.level:
            return False
        return self.label != "red_flag" or match.category == RED_FLAG


def load(language: str) -> tuple[list[Item], list[str]]:
    raw = yaml.safe_load((HERE / f"corpus_{language}.yaml").read_text(encoding="utf-8"))
    positives = [
        Item(language, i, p["text"], p["label"], p.get("severity"), p.get("category"))
        for i, p in enumerate(raw["positives"])
    ]
    return positives, list(raw["negatives"])


CORPUS = {language: load(language) for language in LANGUAGES}
POSITIVES = [item for language in LANGUAGES for item in CORPUS[language][0]]
NEGATIVES = [(language, i, text) for language in LANGUAGES for i, text in enumerate(CORPUS[language][1])]


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_corpus_is_well_formed_and_big_enough(language: str) -> None:
    positives, negatives = CORPUS[language]
    labels = Counter(item.label for item in positives)
    assert set(labels) == set(LABELS), labels
    assert len(positives) >= 100
    assert sum(labels[label] for label in CRISIS_LABELS) >= 40
    assert len(negatives) >= 100
    assert all(isinstance(text, str) for text in negatives)
    texts = [item.text for item in positives] + negatives
    assert len(texts) == len(set(texts)), [t for t, n in Counter(texts).items() if n > 1]
    assert {item.severity for item in positives} <= {None, "urgent", "high"}


def test_the_reliability_examples_are_in_the_corpus() -> None:
    texts = {item.text for item in POSITIVES}
    assert set(RELIABILITY_EXAMPLES) <= texts


@pytest.mark.parametrize(
    "item", [i for i in POSITIVES if i.label in MUST_BE_FOUND], ids=lambda i: i.id if isinstance(i, Item) else ""
)
def test_every_explicit_and_red_flag_item_is_found(item: Item) -> None:
    match = assess(item.text)
    assert item.found(match), f"{item.text!r} -> {match}"
    if item.label == "red_flag":
        assert match is not None
        assert match.severity == URGENT


@pytest.mark.parametrize(
    "item", [i for i in POSITIVES if i.severity or i.category], ids=lambda i: i.id if isinstance(i, Item) else ""
)
def test_expected_severity_and_category(item: Item) -> None:
    match = assess(item.text)
    assert match is not None, item.text
    if item.severity:
        assert match.severity == item.severity, f"{item.text!r} -> {match}"
    if item.category:
        assert match.category == item.category, f"{item.text!r} -> {match}"


@pytest.mark.parametrize(("language", "index", "text"), NEGATIVES, ids=[f"{lang}-{i}" for lang, i, _ in NEGATIVES])
def test_no_hard_negative_is_a_crisis(language: str, index: int, text: str) -> None:
    match = assess(text)
    assert match is None or match.level != CRISIS, f"{language} negative {index} {text!r} -> {match}"


@dataclass(frozen=True, slots=True)
class Scores:
    found: Counter[str]
    total: Counter[str]
    negatives: int
    negatives_crisis: int
    negatives_ae: int

    def recall(self, label: str | None = None) -> float:
        if label is None:
            return sum(self.found.values()) / sum(self.total.values())
        return self.found[label] / self.total[label]

    @property
    def precision(self) -> float:
        """Alerts on this corpus that were right: positives found, over those plus flagged negatives."""
        hits = sum(self.found.values())
        return hits / (hits + self.negatives_crisis + self.negatives_ae)


def score(language: str) -> Scores:
    positives, negatives = CORPUS[language]
    found: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for item in positives:
        total[item.label] += 1
        found[item.label] += item.found(assess(item.text))
    levels = Counter(m.level if m else None for m in (assess(text) for text in negatives))
    return Scores(found, total, len(negatives), levels[CRISIS], levels[ADVERSE_EVENT])


def table(scores: dict[str, Scores]) -> str:
    def cell(found: int, total: int) -> str:
        return f"{found}/{total} {found / total:6.1%}"

    head = ["lang", *LABELS, "overall", "neg→crisis", "neg→AE", "precision"]
    rows = [head]
    for language, s in scores.items():
        rows.append(
            [
                language,
                *(cell(s.found[label], s.total[label]) for label in LABELS),
                cell(sum(s.found.values()), sum(s.total.values())),
                f"{s.negatives_crisis}/{s.negatives}",
                f"{s.negatives_ae}/{s.negatives}",
                f"{s.precision:.1%}",
            ]
        )
    widths = [max(len(row[c]) for row in rows) for c in range(len(head))]
    lines = ["  ".join(value.ljust(width) for value, width in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join(["", "Safety corpus: recall by label, hard negatives flagged, precision", *lines])


def test_recall_and_precision() -> None:
    scores = {language: score(language) for language in LANGUAGES}
    print(table(scores))
    for language, s in scores.items():
        assert s.recall() >= MIN_RECALL, f"{language}: overall recall {s.recall():.1%}"
        assert s.recall("implicit") >= MIN_RECALL, f"{language}: implicit recall {s.recall('implicit'):.1%}"
        for label in MUST_BE_FOUND:
            assert s.recall(label) == 1.0, f"{language}: {label} recall {s.recall(label):.1%}"
        assert s.negatives_crisis == 0
        assert s.negatives_ae / s.negatives <= MAX_AE_ON_NEGATIVES, f"{language}: {s.negatives_ae} AE on negatives"
