"""Translations: gettext catalogs compiled in memory, message lookup by id, and the YAML extractor.

English is the source language: each message's English text (from the flow or study YAML) is its
msgid and its id is its msgctxt. Other languages come from `locales/<lang>/LC_MESSAGES/*.po`, plus a
study's own catalogs if its configuration names a `translations` folder. Catalogs are compiled at
start-up, so a stale `.mo` file can never be served.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from datetime import date, datetime, time
from pathlib import Path
from typing import IO, Any
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_skeleton, format_time, get_day_names
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal
from babel.support import NullTranslations, Translations

from bot.engine.spec import PLACEHOLDER, FlowSpec, MessageBook, MessageSpec
from bot.study import WEEKDAYS, ContactHours, Study, study_messages
from bot.yaml_files import load_yaml

SOURCE_LOCALE = "en"
DOMAIN = "messages"


class RenderError(Exception):
    """A message could not be filled in (a placeholder without a value)."""


def locales_dir() -> Path:
    """Where the shipped catalogs are: inside the package when installed, at the top of a checkout."""
    packaged = Path(__file__).with_name("locales")
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / "locales"


def _compile(po_file: Path, locale: str) -> Translations:
    with po_file.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)  # fuzzy entries are left out, like msgfmt does
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def load_catalogs(locales: tuple[str, ...], folders: tuple[Path, ...]) -> dict[str, NullTranslations]:
    """Compile the catalogs of each language; later folders override earlier ones."""
    loaded: dict[str, NullTranslations] = {}
    for locale in locales:
        merged: Translations | None = None
        for folder in folders:
            for po_file in sorted((folder / locale / "LC_MESSAGES").glob("*.po")):
                compiled = _compile(po_file, locale)
                merged = compiled if merged is None else merged.merge(compiled)
        loaded[locale] = merged if merged is not None else NullTranslations()
    return loaded


def fill(template: str, params: Mapping[str, str]) -> str:
    """Put parameter values into a template's {placeholders}; user text is only ever a value."""

    # Doubled braces are literal braces; protect them while filling.
    protected = template.replace("{{", "\x00").replace("}}", "\x01")

    def value(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in params:
            raise RenderError(f"no value for {{{name}}} in {template!r}")
        filled = params[name]
        # "5:00 p.m." before a full stop would read "p.m.."; one full stop is enough.
        if filled.endswith(".") and protected[match.end() : match.end() + 1] == ".":
            filled = filled[:-1]
        return filled

    return PLACEHOLDER.sub(value, protected).replace("\x00", "{").replace("\x01", "}")


class Translator:
    """Looks up the text of a message id in a language."""

    def __init__(self, messages: Mapping[str, MessageSpec], catalogs: Mapping[str, NullTranslations]) -> None:
        """Use the given message table and compiled catalogs."""
        self.messages = dict(messages)
        self.catalogs = dict(catalogs)

    def source(self, key: str) -> str:
        """The English source text of a message."""
        try:
            return self.messages[key].text
        except KeyError:
            raise RenderError(f"unknown message id {key!r}") from None

    def text(self, key: str, locale: str) -> str:
        """The text of a message in a language (English when the language has no translation)."""
        source = self.source(key)
        if locale == SOURCE_LOCALE or locale not in self.catalogs:
            return source
        return str(self.catalogs[locale].pgettext(key, source))

    def translated(self, key: str, locale: str) -> bool:
        """True if the language has its own text for the message."""
        if locale == SOURCE_LOCALE:
            return True
        catalog = self.catalogs.get(locale)
        # gettext keys a message with context as "context\x04msgid".
        return isinstance(catalog, Translations) and f"{key}\x04{self.source(key)}" in catalog._catalog

    def texts(self, key: str) -> tuple[str, ...]:
        """The message in every loaded language, for recognising a label in any of them."""
        found = [self.source(key)]
        found.extend(self.text(key, locale) for locale in self.catalogs)
        return tuple(dict.fromkeys(found))


# ---------------------------------------------------------------------------------------------
# Formatting with babel, in the patient's language.
# ---------------------------------------------------------------------------------------------


def babel_locale(locale: str) -> Locale:
    """The babel locale for a language code ("en" → en_US, "es" → es_US)."""
    return Locale.parse({"en": "en_US", "es": "es_US"}.get(locale, locale))


_SMS_SPACES = str.maketrans({"\u202f": " ", "\u00a0": " ", "\u2009": " "})


def plain_spaces(text: str) -> str:
    """CLDR puts narrow no-break spaces in times ("9:00\u202fAM"); one of them makes a whole SMS
    UCS-2, halving its length, so babel's output always goes through here."""
    return text.translate(_SMS_SPACES)


def format_value(value: Any, locale: str) -> str:
    """Format a message parameter: numbers and dates by the language's rules, text as it is."""
    where = babel_locale(locale)
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int | float):
        return plain_spaces(format_decimal(value, locale=where, group_separator=False))
    if isinstance(value, datetime):
        return plain_spaces(format_datetime(value, "medium", locale=where))
    if isinstance(value, date):
        return plain_spaces(format_date(value, "long", locale=where))
    if isinstance(value, time):
        return plain_spaces(format_time(value, "short", locale=where))
    return str(value)


def _day_pattern(where: Locale) -> str | None:
    """The language's full date pattern without the year: "EEEE, MMMM d" / "EEEE, d 'de' MMMM"."""
    full = where.date_formats["full"].pattern
    shorter = re.sub(r"[,\s]*(?:'de'\s*)?y+[.\s]*$", "", full)
    return shorter if shorter != full and "y" not in shorter.replace("'de'", "") else None


def format_day(moment: datetime, zone: str, locale: str) -> str:
    """A day in the participant's zone and language, with no year: "Wednesday, March 3"."""
    where = babel_locale(locale)
    local = moment.astimezone(ZoneInfo(zone))
    pattern = _day_pattern(where)
    if pattern is None:
        return plain_spaces(format_skeleton("MMMEd", local, locale=where))
    return plain_spaces(format_date(local, pattern, locale=where))


def format_when(moment: datetime, zone: str, translator: Translator, locale: str) -> str:
    """A visit's day and time in the participant's zone and language: "Wednesday, March 3 at 9:30 AM"."""
    clock = plain_spaces(format_time(moment.astimezone(ZoneInfo(zone)), "short", locale=babel_locale(locale)))
    return fill(translator.text("common.when", locale), {"day": format_day(moment, zone, locale), "time": clock})


def format_hours(hours: ContactHours, translator: Translator, locale: str) -> str:
    """Opening hours in words, e.g. "Monday to Friday, 9:00 AM to 5:00 PM"."""
    where = babel_locale(locale)
    names = get_day_names("wide", locale=where)
    indexes = sorted(WEEKDAYS.index(d) for d in hours.days)
    if len(indexes) > 2 and indexes == list(range(indexes[0], indexes[-1] + 1)):
        days = fill(
            translator.text("common.hours.days", locale),
            {"first": names[indexes[0]], "last": names[indexes[-1]]},
        )
    else:
        days = ", ".join(names[i] for i in indexes)
    return fill(
        translator.text("common.hours.week", locale),
        {
            "days": days,
            "opens": plain_spaces(format_time(hours.opens, "short", locale=where)),
            "closes": plain_spaces(format_time(hours.closes, "short", locale=where)),
        },
    )


def study_params(study: Study, translator: Translator, locale: str) -> dict[str, str]:
    """Placeholders every message may use."""
    return {
        "study_name": study.name,
        "contact_phone": study.contact.phone,
        "contact_hours": format_hours(study.contact.hours, translator, locale),
        "emergency_number": study.emergency.number,
        "crisis_number": study.emergency.crisis_line,
    }


# ---------------------------------------------------------------------------------------------
# Extraction: `pybabel extract -F locales/babel.cfg` calls this for every YAML file.
# ---------------------------------------------------------------------------------------------


def messages_in_yaml(raw: Any) -> list[MessageSpec]:
    """The patient-facing messages of a flow, message book or study file (nothing for other YAML)."""
    if not isinstance(raw, dict):
        return []
    if "states" in raw:
        return FlowSpec.model_validate(raw).messages()
    if "messages" in raw:
        return list(MessageBook.model_validate(raw).messages)
    if "prescreen" in raw:
        return study_messages(Study.model_validate(raw))
    return []


def extract_yaml(
    fileobj: IO[bytes], keywords: Any, comment_tags: Any, options: dict[str, Any]
) -> Iterator[tuple[int, str, tuple[str, str], list[str]]]:
    """A babel extractor: yield each message as pgettext(id, text), with its note as a comment."""
    raw = load_yaml(fileobj.read().decode("utf-8"))
    for message in messages_in_yaml(raw):
        comments = [message.note] if message.note else []
        yield 1, "pgettext", (message.id, message.text), comments
