"""A study's configuration: a YAML file validated on load, with errors that name the file and the key.

Study teams edit these files, not Python. Everything a patient reads from here (question text, option
labels) is a gettext message too: `bot.i18n.extract_yaml` pulls it into the catalogs.
"""

from __future__ import annotations

import re
from datetime import time
from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bot.engine.spec import MessageSpec
from bot.yaml_files import load_yaml

SUPPORTED_LOCALES = ("en", "es")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_ID = r"^[a-z][a-z0-9_]*$"


class StudyError(Exception):
    """A study file could not be loaded; the message names the file, the key and the problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


def _parse_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    # YAML 1.1 reads an unquoted 17:30 as the sexagesimal number 1050. Booleans are ints in Python,
    # so an unquoted yes/on must not slip through as 00:01.
    if isinstance(value, int) and not isinstance(value, bool):
        if 0 <= value < 24 * 60:
            return time(value // 60, value % 60)
        value = f"{value // 60}:{value % 60:02d}"  # report what was written (25:00), not 1500
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}", value):
        hours, minutes = (int(x) for x in value.split(":"))
        if hours < 24 and minutes < 60:
            return time(hours, minutes)
    raise ValueError(f'must be a time like "09:00" (got {value!r})')


LocalTime = Annotated[time, Field(description="HH:MM, local to the participant")]


class ContactHours(_Strict):
    """When the site answers its phone."""

    days: tuple[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], ...] = (
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
    )
    opens: LocalTime = time(9, 0)
    closes: LocalTime = time(17, 0)

    @field_validator("opens", "closes", mode="before")
    @classmethod
    def _times(cls, value: Any) -> time:
        return _parse_time(value)

    @model_validator(mode="after")
    def _check(self) -> ContactHours:
        if not self.days:
            raise ValueError("days: list at least one day")
        if self.opens >= self.closes:
            raise ValueError("opens must be before closes")
        return self


class Contact(_Strict):
    """How patients reach the site by phone."""

    phone: str = Field(min_length=3, max_length=32)
    hours: ContactHours = ContactHours()

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str) -> str:
        if not re.fullmatch(r"[+0-9 ()-]+", value):
            raise ValueError(f"must be a phone number made of digits, spaces, + ( ) - (got {value!r})")
        return value


class Emergency(_Strict):
    """Numbers to call in an emergency and in a mental-health crisis (SAF-06)."""

    number: str = Field(min_length=2, max_length=16)
    crisis_line: str = Field(min_length=2, max_length=32)


class QuietHours(_Strict):
    """The local window in which scheduled messages may be sent (SMS-13)."""

    send_from: LocalTime = time(9, 0)
    send_until: LocalTime = time(20, 0)

    @field_validator("send_from", "send_until", mode="before")
    @classmethod
    def _times(cls, value: Any) -> time:
        return _parse_time(value)

    @model_validator(mode="after")
    def _check(self) -> QuietHours:
        if self.send_from >= self.send_until:
            raise ValueError("send_from must be before send_until")
        return self


class Range(_Strict):
    """An inclusive numeric range."""

    min: float
    max: float

    @model_validator(mode="after")
    def _check(self) -> Range:
        if self.min > self.max:
            raise ValueError(f"min ({self.min:g}) must not be greater than max ({self.max:g})")
        return self

    def __contains__(self, value: object) -> bool:
        return isinstance(value, int | float) and self.min <= value <= self.max


class DateRule(_Strict):
    """Which dates pass: at least or at most some days before the answer."""

    at_least_days_ago: int | None = Field(default=None, ge=0)
    at_most_days_ago: int | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _check(self) -> DateRule:
        if self.at_least_days_ago is None and self.at_most_days_ago is None:
            raise ValueError("give at_least_days_ago, at_most_days_ago or both")
        return self


class Option(_Strict):
    """One option of a choice question, with what it means for eligibility."""

    id: str = Field(pattern=_ID)
    text: str = Field(min_length=1)
    result: Literal["eligible", "ineligible", "review"] = "eligible"


class Question(_Strict):
    """One prescreen question, tied to one inclusion or exclusion criterion (PS-01)."""

    id: str = Field(pattern=_ID)
    criterion: str = Field(min_length=1, max_length=32)
    type: Literal["yes_no", "number", "choice", "date"]
    text: str = Field(min_length=1)
    eligible_answer: Literal["yes", "no"] | None = None
    accept: Range | None = None
    eligible_range: Range | None = None
    eligible_dates: DateRule | None = None
    options: tuple[Option, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> Question:
        needs: dict[str, tuple[str, ...]] = {
            "yes_no": ("eligible_answer",),
            "number": ("accept", "eligible_range"),
            "choice": ("options",),
            "date": ("eligible_dates",),
        }
        for key in needs[self.type]:
            if not getattr(self, key):
                raise ValueError(f"a {self.type} question needs {key}")
        allowed = set(needs[self.type])
        for key in ("eligible_answer", "accept", "eligible_range", "eligible_dates", "options"):
            if key not in allowed and getattr(self, key):
                raise ValueError(f"{key} does not apply to a {self.type} question")
        if (
            self.type == "number"
            and self.accept
            and self.eligible_range
            and not (self.accept.min <= self.eligible_range.min and self.eligible_range.max <= self.accept.max)
        ):
            raise ValueError("eligible_range must lie inside accept")
        if self.type == "choice":
            ids = [o.id for o in self.options]
            if len(ids) < 2:
                raise ValueError("a choice question needs at least 2 options")
            if len(set(ids)) != len(ids):
                raise ValueError("option ids must be unique")
        return self


class Prescreen(_Strict):
    """The ordered prescreen questions; the most frequent disqualifiers should come first."""

    questions: tuple[Question, ...] = Field(min_length=1)
    recontact_scope: str = Field(default="future_studies_same_team", pattern=_ID)

    @model_validator(mode="after")
    def _check(self) -> Prescreen:
        ids = [q.id for q in self.questions]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise ValueError(f"question ids must be unique (repeated: {', '.join(duplicates)})")
        return self


VISIT_TYPES = ("on_site", "telehealth", "home", "phone")


class Site(_Strict):
    """A place where visits happen; its name is what reminders say (a place, never a condition)."""

    id: str = Field(pattern=_ID)
    name: str = Field(min_length=1, max_length=40)
    phone: str | None = Field(default=None, max_length=32)


class VisitWindow(_Strict):
    """How many days before and after its target day a visit may happen and still count (VIS-01)."""

    before: int = Field(default=0, ge=0, le=365)
    after: int = Field(default=0, ge=0, le=365)


class ScheduledVisit(_Strict):
    """One visit of the protocol's schedule, counted from the anchor (VIS-01)."""

    id: str = Field(pattern=_ID)
    day: int = Field(ge=-365, le=3650, description="target day: day 1 is the anchor date itself")
    window: VisitWindow = VisitWindow()
    type: Literal["on_site", "telehealth", "home", "phone"] = "on_site"
    site: str | None = Field(default=None, pattern=_ID)


class VisitSchedule(_Strict):
    """The visit schedule: what day 1 is, and the visits counted from it."""

    anchor: Literal["day_1", "randomisation", "first_dose"] = "day_1"
    visits: tuple[ScheduledVisit, ...] = ()

    @model_validator(mode="after")
    def _check(self) -> VisitSchedule:
        ids = [v.id for v in self.visits]
        repeated = sorted({i for i in ids if ids.count(i) > 1})
        if repeated:
            raise ValueError(f"visit ids must be unique (repeated: {', '.join(repeated)})")
        return self


class Caps(_Strict):
    """At most this many reminders and check-ins per participant per day and per week (SMS-15)."""

    per_day: int = Field(default=1, ge=1, le=10)
    per_week: int = Field(default=3, ge=1, le=50)


class Reminders(_Strict):
    """When visit reminders go out (REM-02): at booking, then so many days before, at a local time."""

    at_booking: bool = True
    days_before: tuple[int, ...] = (7, 2, 1)
    send_at: LocalTime = time(10, 0)
    caps: Caps = Caps()

    @field_validator("send_at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> time:
        return _parse_time(value)

    @field_validator("days_before")
    @classmethod
    def _days(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(d < 1 or d > 60 for d in value):
            raise ValueError("days_before must be whole days from 1 to 60")
        return tuple(sorted(set(value), reverse=True))


class CheckinSchedule(_Strict):
    """A recurring check-in: every week on a day, or some days after each attended or booked visit."""

    id: str = Field(pattern=_ID)
    every_week_on: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"] | None = None
    days_after_visit: int | None = Field(default=None, ge=1, le=60)
    at: LocalTime = time(10, 0)
    weeks: int = Field(default=12, ge=1, le=104, description="how many weekly check-ins to plan ahead")

    @field_validator("at", mode="before")
    @classmethod
    def _time(cls, value: Any) -> time:
        return _parse_time(value)

    @model_validator(mode="after")
    def _check(self) -> CheckinSchedule:
        if (self.every_week_on is None) == (self.days_after_visit is None):
            raise ValueError("give exactly one of every_week_on or days_after_visit")
        return self


SEVERITIES = ("urgent", "high", "normal")
_PHONE = r"^\+[1-9][0-9]{6,14}$"


class StaffMember(_Strict):
    """Someone allowed to act on escalations: by Telegram user id, and/or from a phone by SMS."""

    name: str = Field(min_length=1, max_length=64)
    telegram_user_id: int | None = Field(default=None, gt=0)
    phone: str | None = Field(default=None, pattern=_PHONE)


class AlertLevel(_Strict):
    """One step of the alert chain: who is alerted, and how long after the escalation (per severity)."""

    name: str = Field(min_length=1, max_length=64)
    telegram_chat: int | None = Field(default=None, description="a staff group's chat id (negative)")
    sms: tuple[str, ...] = ()
    after_minutes: dict[Literal["urgent", "high", "normal"], float] = {}

    @field_validator("sms")
    @classmethod
    def _phones(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for phone in value:
            if not re.fullmatch(_PHONE, phone):
                raise ValueError(f"{phone!r} is not an E.164 phone number like +15550100199")
        return value


class EscalationSettings(_Strict):
    """How fast staff must acknowledge, how often alerts repeat, and who is next in the chain (SAF-02)."""

    ack_minutes: dict[str, float] = Field(default_factory=lambda: {"urgent": 15.0, "high": 120.0})
    realert_minutes: dict[str, float] = Field(
        default_factory=lambda: {"urgent": 5.0, "high": 30.0, "normal": 24 * 60.0}
    )
    chain: tuple[AlertLevel, ...] = ()
    staff: tuple[StaffMember, ...] = ()
    # Alerts and the staff group's /list say what the worry is ("crisis", "pregnancy") only when the study
    # says so: SMS and Telegram are not private channels and lock screens show them (PRIV-02, PRIV-07).
    # Off, they give the severity, the number and the participant code; `trialbot escalation show` has the rest.
    alerts_name_category: bool = False

    @model_validator(mode="after")
    def _check(self) -> EscalationSettings:
        if self.chain and self.chain[0].after_minutes:
            raise ValueError("chain: the first level is alerted at once; give it no after_minutes")
        for minutes in (*self.ack_minutes.values(), *self.realert_minutes.values()):
            if minutes <= 0:
                raise ValueError("minutes must be more than 0")
        unknown = (set(self.ack_minutes) | set(self.realert_minutes)) - set(SEVERITIES)
        if unknown:
            raise ValueError(f"unknown severities {sorted(unknown)} (use urgent, high, normal)")
        return self


class Pacing(_Strict):
    """How fast one person may write before replies pause, and how often the same reply may go to them
    (RELIABILITY §3.4). Unset, trialbot's defaults hold (bot/flood.py): 20 messages a minute, and the same
    reply 5 times in 30 minutes. A study whose patients often resend may raise them. The pause itself stays
    10 minutes: the note that starts it says so in every language."""

    messages_per_minute: int | None = Field(default=None, ge=5, le=600)
    same_reply_times: int | None = Field(default=None, ge=1, le=100)
    same_reply_minutes: float | None = Field(default=None, gt=0, le=24 * 60)


class CheckinThresholds(_Strict):
    """Check-in answers that need a person (SAF-03): low wellbeing, and any ER or hospital visit."""

    wellbeing_at_most: int = Field(default=2, ge=1, le=5)


class Keyword(_Strict):
    """Where a keyword was advertised, and the language of that advertisement (if it had one)."""

    source: str = Field(pattern=_ID)
    language: Literal["en", "es"] | None = None


class Onboarding(_Strict):
    """First contact: the disclosure people agree to before any study text (SMS-08/09, SMS-16)."""

    disclosure_version: str = Field(default="1", min_length=1, max_length=40)
    # Keywords from advertisements, texted to the study number: keyword → where the person saw it,
    # either just the source (`SUNRISE: flyer`) or with the ad's language (`SOL: {source: radio_es, language: es}`).
    keywords: dict[str, Keyword] = {}

    @field_validator("keywords", mode="before")
    @classmethod
    def _keywords(cls, value: object) -> object:
        if not isinstance(value, dict):
            return value
        for keyword in value:
            if not isinstance(keyword, str) or not re.fullmatch(r"[A-Za-z0-9]{2,20}", keyword):
                raise ValueError(f"keyword {keyword!r}: use 2-20 letters or digits")
        return {k.lower(): {"source": v} if isinstance(v, str) else v for k, v in value.items()}

    def keyword(self, text: str) -> Keyword | None:
        """The advertised keyword this first message is, if it is one (case and spaces do not matter)."""
        return self.keywords.get("".join(text.split()).lower()[:40])


class ConsentChoice(_Strict):
    """An option of a multiple-choice check question."""

    id: str = Field(pattern=_ID)
    text: str = Field(min_length=1)


class ConsentPoint(_Strict):
    """One key point of the consent form, checked by teach-back (PL-05, CON-04/05)."""

    id: str = Field(pattern=_ID)
    summary: str = Field(min_length=1, description="the point in one plain sentence")
    question: str = Field(min_length=1, description="one check question")
    choices: tuple[ConsentChoice, ...] = Field(default=(), description="none: a yes/no question")
    answer: str = Field(description="the right answer: yes, no, or a choice id")
    explain: str = Field(min_length=1, description="said again, more simply, after a wrong answer")

    @model_validator(mode="after")
    def _check(self) -> ConsentPoint:
        allowed = {c.id for c in self.choices} if self.choices else {"yes", "no"}
        if self.answer not in allowed:
            raise ValueError(f"answer {self.answer!r} must be one of {', '.join(sorted(allowed))}")
        if self.choices and len(self.choices) < 2:
            raise ValueError("a choice question needs at least 2 choices")
        return self


class Consent(_Strict):
    """The consent form's version and its key points; the bot checks understanding, never consent."""

    form_version: str = Field(min_length=1, max_length=40)
    points: tuple[ConsentPoint, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> Consent:
        ids = [p.id for p in self.points]
        if len(set(ids)) != len(ids):
            raise ValueError("consent point ids must be unique")
        return self


class Study(_Strict):
    """A whole study configuration."""

    id: str = Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)
    name: str = Field(min_length=1, max_length=40)
    languages: tuple[Literal["en", "es"], ...] = ("en",)
    default_locale: Literal["en", "es"] = "en"
    timezone: str = "America/New_York"
    contact: Contact
    emergency: Emergency
    quiet_hours: QuietHours = QuietHours()
    entry_flow: str = Field(default="prescreen", pattern=_ID)
    prescreen: Prescreen
    sites: tuple[Site, ...] = ()
    schedule: VisitSchedule = VisitSchedule()
    reminders: Reminders = Reminders()
    checkins: tuple[CheckinSchedule, ...] = ()
    nudge_after_hours: float = Field(default=24, gt=0, le=24 * 14, description="one nudge for an unanswered question")
    escalation: EscalationSettings = EscalationSettings()
    onboarding: Onboarding = Onboarding()
    consent: Consent | None = None
    checkin_thresholds: CheckinThresholds = CheckinThresholds()
    pacing: Pacing = Pacing()
    translations: str | None = Field(default=None, description="folder of <lang>/LC_MESSAGES/*.po for this study")

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (use an IANA name like America/New_York)") from None
        return value

    @model_validator(mode="after")
    def _check(self) -> Study:
        if not self.languages:
            raise ValueError("languages: list at least one language")
        if self.default_locale not in self.languages:
            raise ValueError(f"default_locale {self.default_locale!r} is not in languages")
        for word, keyword in self.onboarding.keywords.items():
            if keyword.language is not None and keyword.language not in self.languages:
                raise ValueError(f"onboarding: keyword {word.upper()!r} is in {keyword.language!r}, not in languages")
        site_ids = {s.id for s in self.sites}
        if len(site_ids) != len(self.sites):
            raise ValueError("sites: site ids must be unique")
        for visit in self.schedule.visits:
            if visit.site is not None and visit.site not in site_ids:
                raise ValueError(f"schedule: visit {visit.id!r} names site {visit.site!r}, which is not in sites")
            if visit.type == "on_site" and visit.site is None:
                raise ValueError(f"schedule: on-site visit {visit.id!r} needs a site")
        checkin_ids = [c.id for c in self.checkins]
        if len(set(checkin_ids)) != len(checkin_ids):
            raise ValueError("checkins: check-in ids must be unique")
        return self

    @cached_property
    def zone(self) -> ZoneInfo:
        """The study's default time zone."""
        return ZoneInfo(self.timezone)

    def visit(self, visit_id: str) -> ScheduledVisit:
        """A visit of the schedule by id; KeyError if there is none."""
        for visit in self.schedule.visits:
            if visit.id == visit_id:
                return visit
        raise KeyError(visit_id)

    def site(self, site_id: str) -> Site:
        """A site by id; KeyError if there is none."""
        for site in self.sites:
            if site.id == site_id:
                return site
        raise KeyError(site_id)

    def question(self, question_id: str) -> Question:
        """Return a prescreen question by id."""
        for question in self.prescreen.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)


class LoadedStudy(BaseModel):
    """A study together with the file it came from."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    study: Study
    path: Path

    @property
    def translations_dir(self) -> Path | None:
        """The study's own catalog folder, if it has one."""
        if self.study.translations is None:
            return None
        return (self.path.parent / self.study.translations).resolve()


def study_messages(study: Study) -> list[MessageSpec]:
    """The study's own patient-facing text as messages: each question and option label."""
    found: list[MessageSpec] = []
    for question in study.prescreen.questions:
        found.append(MessageSpec(id=f"study.{question.id}", text=question.text, note=f"Criterion {question.criterion}"))
        found.extend(MessageSpec(id=f"study.{question.id}.{o.id}", text=o.text) for o in question.options)
    for site in study.sites:
        found.append(
            MessageSpec(id=f"study.site.{site.id}", text=site.name, note="The name of a place, as reminders say it")
        )
    if study.consent is not None:
        version = study.consent.form_version
        for point in study.consent.points:
            key = f"study.consent.{point.id}"
            note = f"Consent form {version}, key point {point.id!r}"
            found.append(MessageSpec(id=f"{key}.summary", text=point.summary, note=note))
            found.append(MessageSpec(id=f"{key}.question", text=point.question, note=note))
            found.extend(MessageSpec(id=f"{key}.{c.id}", text=c.text, note=note) for c in point.choices)
            found.append(MessageSpec(id=f"{key}.explain", text=point.explain, note=note))
    return found


def demo_study_path() -> Path:
    """Return the path of the fictional demo study shipped with trialbot."""
    return Path(str(resources.files("flows") / "studies" / "demo" / "study.yaml"))


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in error["loc"]).replace(".[", "[")
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling)"
    elif error["type"] == "missing":
        message = "required key is missing"
    return f"{location or '(top level)'}: {message}"


def load_study(path: str | Path) -> LoadedStudy:
    """Load and validate a study file, raising StudyError with every problem found."""
    file = Path(path)
    try:
        raw = load_yaml(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StudyError(f"{file}: no such study file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise StudyError(f"{file}: cannot read it ({exc})") from None
    except yaml.YAMLError as exc:
        raise StudyError(f"{file}: not valid YAML ({exc})") from None
    if not isinstance(raw, dict):
        raise StudyError(f"{file}: expected a mapping of keys at the top level")
    try:
        study = Study.model_validate(raw)
    except ValidationError as exc:
        problems = "\n".join(f"  {_describe(dict(e))}" for e in exc.errors())
        raise StudyError(f"{file}: the study configuration has problems:\n{problems}") from None
    loaded = LoadedStudy(study=study, path=file.resolve())
    if loaded.translations_dir is not None and not loaded.translations_dir.is_dir():
        raise StudyError(f"{file}: translations: folder {study.translations!r} does not exist")
    return loaded
