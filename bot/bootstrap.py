"""The composition root: load the study and flows once, and wire the pipeline to its adapters.

The CLI, the web app and the tests all build trialbot here, swapping in a settable clock or
predictable ids where they need them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bot.channels.rendering import ChoiceStyle, Renderer
from bot.clock import Clock, SystemClock
from bot.conversation import Conversations
from bot.engine import Engine, FlowSet, load_flows
from bot.i18n import Translator, load_catalogs, locales_dir
from bot.ids import IdSource, RandomIds
from bot.planning import Planner
from bot.service import Service
from bot.study import LoadedStudy, demo_study_path, load_study, study_messages
from bot.vocabulary import shipped_vocabulary
from storage.database import Database
from storage.migrate import ensure_current
from storage.repositories import Repositories

if TYPE_CHECKING:
    from bot.config import ChannelSettings
    from bot.scheduler import Scheduler
    from bot.staff_desk import StaffDesk
    from bot.web import Server

CHOICE_STYLES = {
    "sms": ChoiceStyle.NUMBERED,
    "console": ChoiceStyle.NUMBERED,
    "telegram": ChoiceStyle.BUTTONS,
}


@dataclass(frozen=True, slots=True)
class Core:
    """What does not depend on the database: study, flows, catalogs, engine."""

    loaded: LoadedStudy
    flows: FlowSet
    translator: Translator
    renderer: Renderer
    conversations: Conversations


@dataclass(frozen=True, slots=True)
class App:
    """A wired trialbot: the core plus a database, a clock and the pipeline."""

    core: Core
    database: Database
    clock: Clock
    service: Service

    @property
    def planner(self) -> Planner:
        """Plans visits' reminders and check-ins."""
        assert self.service.planner is not None
        return self.service.planner

    @property
    def study(self) -> LoadedStudy:
        """The study this app serves."""
        return self.core.loaded


def build_translator(loaded: LoadedStudy, flows: FlowSet) -> Translator:
    """The message table (flows and the study's own text) with every language's catalogs."""
    messages = flows.messages()
    messages.update((m.id, m) for m in study_messages(loaded.study))
    folders = [locales_dir()]
    if loaded.translations_dir is not None:
        folders.append(loaded.translations_dir)
    catalogs = load_catalogs(tuple(lang for lang in loaded.study.languages if lang != "en"), tuple(folders))
    return Translator(messages, catalogs)


def build_core(study_path: str | Path | None = None) -> Core:
    """Load and check the study and the flows; raise StudyError or FlowError if they are wrong."""
    return core_for(load_study(study_path or demo_study_path()))


def core_for(loaded: LoadedStudy) -> Core:
    """The core for an already loaded study (tests use it for variations of the demo study)."""
    flows = load_flows()
    translator = build_translator(loaded, flows)
    engine = Engine(flows)
    conversations = Conversations(engine, loaded.study, shipped_vocabulary(), translator.texts)
    return Core(loaded, flows, translator, Renderer(loaded.study, translator), conversations)


def build_app(
    database_url: str,
    study_path: str | Path | None = None,
    *,
    clock: Clock | None = None,
    ids: IdSource | None = None,
    migrate: bool = True,
    core: Core | None = None,
) -> App:
    """Wire trialbot on a database, bringing an empty or old schema up to date unless told not to."""
    core = core or build_core(study_path)
    database = Database(database_url)
    if migrate:
        ensure_current(database)
    clock = clock or SystemClock()
    planner = Planner(core.loaded.study, core.conversations, core.renderer, CHOICE_STYLES)
    service = Service(
        database, core.loaded.study, core.conversations, core.renderer, clock, ids or RandomIds(), CHOICE_STYLES,
        planner,
    )  # fmt: skip
    return App(core, database, clock, service)


def build_server(
    app: App, channels: ChannelSettings, *, lease_seconds: float = 60.0, polling: bool = False,
    run_background: bool = True, tick: float = 1.0, sms_timeout: float | None = None,
    telegram_gap: float | None = None, scheduler: bool = True, sweep_every: float = 30.0,
    spool_dir: Path | None = None,
) -> Server:  # fmt: skip
    """The web server's parts: the channels that are configured, a dispatcher for them, and the spool for
    messages the database cannot take (by default next to a SQLite file, else ./trialbot-spool)."""
    from datetime import timedelta

    from bot.channels.sms import TwilioSms
    from bot.channels.telegram import PER_CHAT_GAP, TelegramChannel
    from bot.dispatcher import Dispatcher, Sender
    from bot.escalation import Alerts
    from bot.spool import Spool, default_spool_dir
    from bot.web import Server

    def known_sids(address: str) -> set[str]:
        with app.database.read() as connection:
            return Repositories(connection).outbox.provider_ids("sms", address)

    sms = None
    if channels.twilio is not None:
        sms = (
            TwilioSms(channels.twilio, known_sids)
            if sms_timeout is None
            else TwilioSms(channels.twilio, known_sids, timeout=sms_timeout)
        )
    telegram = None
    if channels.telegram is not None:
        staff_chats = frozenset(str(chat) for chat in Alerts(app.study.study).telegram_chats())
        telegram = TelegramChannel(
            channels.telegram, per_chat_gap=PER_CHAT_GAP if telegram_gap is None else telegram_gap,
            staff_chats=staff_chats,
        )  # fmt: skip
    senders: dict[str, Sender] = {}
    if sms is not None:
        senders[sms.channel] = sms
    if telegram is not None:
        senders[telegram.channel] = telegram
    dispatcher = Dispatcher(app.database, senders, app.clock, lease=timedelta(seconds=lease_seconds))
    return Server(
        app, dispatcher, sms=sms, telegram=telegram, telegram_polling=polling, run_background=run_background, tick=tick,
        scheduler=build_scheduler(app) if scheduler else None, sweep_every=sweep_every, desk=build_desk(app),
        spool=Spool(spool_dir or default_spool_dir(app.database.url)),
    )  # fmt: skip


def build_desk(app: App) -> StaffDesk:
    """Where staff act on escalations."""
    from bot.staff_desk import StaffDesk

    return StaffDesk(app.study.study, app.service, app.database, app.clock)


def build_scheduler(app: App, batch: int | None = None) -> Scheduler:
    """The sweep for an app's database."""
    from bot.scheduler import BATCH, Scheduler

    return Scheduler(app.database, app.study.study, app.planner, app.service, app.clock, batch or BATCH)
