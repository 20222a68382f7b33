"""The baseline: the same prescreen as a minimal python-telegram-bot bot, written the way the PTB docs
show it (ConversationHandler + PicklePersistence, a custom Starlette webhook as in PTB's
`customwebhookbot/starlettebot.py`), run on the same uvicorn as trialbot.

It sends the same texts, in the same number of messages, with the same inline keyboards as trialbot
does over Telegram, and tells the staff group when someone finishes, as trialbot does. What it does
not do (and trialbot does): store the update before answering 200, deduplicate update_ids, keep state
transactionally, serve SMS. Its conversation state reaches disk only when PicklePersistence flushes
(every `update_interval`=60 s), so a crash loses up to a minute of conversations.

`python -m benchmarks.baseline_ptb --port P --api-url URL --token T --secret S --pickle FILE`;
`POST /bench/flush` times one `Application.update_persistence()` (what the 60 s timer runs).
"""

from __future__ import annotations

import argparse
import contextlib
import hmac
import os
import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

os.environ.setdefault("PTB_TIMEDELTA", "true")

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    ContextTypes,
    ConversationHandler,
    MessageHandler,
    PicklePersistence,
    filters,
)

STAFF_CHAT = -1001234567890
DISCLOSURE, START, AGE, DIABETES, INSULIN, DIAGNOSED, TRAVEL, BEST_TIME, RECONTACT, CONSENT = range(10)

INTRO = (
    "Hi! This is the Sunrise Study team. We would like to text you about our study: questions, reminders and "
    "check-ins, a few times a week. Msg & data rates may apply."
)
PRIVACY = "Texts are not fully private. Others who see your phone may read them."
AGREE = "Do you agree to get texts from us?"
THANKS = (
    "Thank you! You will get texts about the study from Sunrise Study, a few times a week. Msg & data rates may "
    "apply. Reply HELP for help or STOP to stop."
)
NOT_WATCHED = "This number is not watched all the time. In an emergency, call 911."
NEXT = (
    "Next, 5 short questions to see if our study may be a fit for you. We keep your answers private, and a study "
    "coordinator makes the final decision."
)
WANT_START = "Would you like to start?"
AGE_Q = "How old are you?"
DIABETES_Q = "Has a doctor ever told you that you have type 2 diabetes?"
INSULIN_Q = "Do you use insulin now?"
DIAGNOSED_Q = "When did a doctor first tell you that you have diabetes? A month and year is fine, like 3/2024."
TRAVEL_Q = "How long would it take you to get to our clinic in Riverside?"
MATCH = (
    "Thank you! You may be a match for this study. A study coordinator will call you to check. The final decision "
    "is made at the clinic."
)
BEST_TIME_Q = "What is the best time for us to call you?"
RECONTACT_Q = "May the Sunrise Study team contact you about other studies in the future?"
CONSENT_INTRO = (
    "Before you talk with the study team about joining, I will check some key points of the study with you. It "
    "takes a few minutes. Reply AGENT at any time to talk to a person."
)
READY_Q = "Are you ready to start?"
NOT_NOW = "No problem. The study team will go over the consent form with you and answer your questions."
BYE = "OK. We will not text you. Reply START if you change your mind."

YES_NO = ["Yes", "No"]
YES_NO_UNSURE = ["Yes", "No", "Not sure"]
TRAVEL_CHOICES = ["Less than 30 minutes", "30 to 60 minutes", "More than 1 hour", "Not sure"]
TIMES = ["Morning", "Afternoon", "Evening", "Any time"]


def keyboard(labels: list[str]) -> InlineKeyboardMarkup:
    """One button a row, as trialbot shows choices."""
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(label, callback_data=f"c{i}")] for i, label in enumerate(labels, start=1)]
    )


def choice(text: str, labels: list[str]) -> int | None:
    """The 1-based choice a typed answer means (its number or its label), or None."""
    answer = text.strip().lower()
    if answer.isdigit() and 1 <= int(answer) <= len(labels):
        return int(answer)
    for number, label in enumerate(labels, start=1):
        if answer == label.lower():
            return number
    return None


async def ask(update: Update, text: str, labels: list[str] | None = None) -> None:
    """Send one message, with buttons if there are choices."""
    assert update.effective_message is not None
    await update.effective_message.reply_text(text, reply_markup=keyboard(labels) if labels else None)


async def first_contact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Anything from someone new: the disclosure."""
    await ask(update, INTRO)
    await ask(update, PRIVACY)
    await ask(update, AGREE, YES_NO)
    return DISCLOSURE


async def disclosure(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Yes: opted in, offer the prescreen."""
    answer = choice(update.effective_message.text or "", YES_NO)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, AGREE, YES_NO)
        return DISCLOSURE
    if answer == 2:
        await ask(update, BYE)
        return ConversationHandler.END
    context.user_data["opted_in_at"] = time.time()  # type: ignore[index]
    await ask(update, THANKS)
    await ask(update, NOT_WATCHED)
    await ask(update, NEXT)
    await ask(update, WANT_START, YES_NO)
    return START


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Yes to starting the prescreen."""
    if choice(update.effective_message.text or "", YES_NO) != 1:  # type: ignore[union-attr]
        await ask(update, WANT_START, YES_NO)
        return START
    await ask(update, AGE_Q)
    return AGE


async def age(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A number from 1 to 120."""
    text = (update.effective_message.text or "").strip()  # type: ignore[union-attr]
    if not text.isdigit() or not 1 <= int(text) <= 120:
        await ask(update, AGE_Q)
        return AGE
    context.user_data["age"] = int(text)  # type: ignore[index]
    await ask(update, DIABETES_Q, YES_NO_UNSURE)
    return DIABETES


async def diabetes(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Yes, no or not sure."""
    answer = choice(update.effective_message.text or "", YES_NO_UNSURE)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, DIABETES_Q, YES_NO_UNSURE)
        return DIABETES
    context.user_data["diabetes"] = answer  # type: ignore[index]
    await ask(update, INSULIN_Q, YES_NO_UNSURE)
    return INSULIN


async def insulin(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Yes, no or not sure."""
    answer = choice(update.effective_message.text or "", YES_NO_UNSURE)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, INSULIN_Q, YES_NO_UNSURE)
        return INSULIN
    context.user_data["insulin"] = answer  # type: ignore[index]
    await ask(update, DIAGNOSED_Q)
    return DIAGNOSED


async def diagnosed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """A month and year like 3/2019."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/\s*(\d{4})\s*", update.effective_message.text or "")  # type: ignore[union-attr]
    if match is None or not 1 <= int(match[1]) <= 12:
        await ask(update, DIAGNOSED_Q)
        return DIAGNOSED
    context.user_data["diagnosed"] = f"{int(match[2]):04d}-{int(match[1]):02d}"  # type: ignore[index]
    await ask(update, TRAVEL_Q, TRAVEL_CHOICES)
    return TRAVEL


async def travel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """How far; then the result."""
    answer = choice(update.effective_message.text or "", TRAVEL_CHOICES)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, TRAVEL_Q, TRAVEL_CHOICES)
        return TRAVEL
    context.user_data["travel"] = answer  # type: ignore[index]
    await ask(update, MATCH)
    await ask(update, BEST_TIME_Q, TIMES)
    return BEST_TIME


async def best_time(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """When to call."""
    answer = choice(update.effective_message.text or "", TIMES)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, BEST_TIME_Q, TIMES)
        return BEST_TIME
    context.user_data["best_time"] = TIMES[answer - 1]  # type: ignore[index]
    await ask(update, RECONTACT_Q, YES_NO)
    return RECONTACT


async def recontact(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Future studies; then offer the consent check."""
    answer = choice(update.effective_message.text or "", YES_NO)  # type: ignore[union-attr]
    if answer is None:
        await ask(update, RECONTACT_Q, YES_NO)
        return RECONTACT
    context.user_data["recontact"] = answer == 1  # type: ignore[index]
    await ask(update, CONSENT_INTRO)
    await ask(update, READY_Q, YES_NO)
    return CONSENT


async def consent(update: Update, context: ContextTypes.DEFAULT_TYPE) -> int:
    """Not now: the team will go over it; tell the staff group."""
    await ask(update, NOT_NOW)
    await context.bot.send_message(STAFF_CHAT, f"consent ready - chat {update.effective_chat.id}")  # type: ignore[union-attr]
    return ConversationHandler.END


def build_application(token: str, api_url: str, pickle: Path) -> Application:  # type: ignore[type-arg]
    """The bot: one persistent ConversationHandler, PicklePersistence flushed every 60 s, no Updater."""
    text = filters.TEXT & ~filters.COMMAND
    conversation = ConversationHandler(
        entry_points=[MessageHandler(filters.TEXT, first_contact)],
        states={
            DISCLOSURE: [MessageHandler(text, disclosure)],
            START: [MessageHandler(text, start)],
            AGE: [MessageHandler(text, age)],
            DIABETES: [MessageHandler(text, diabetes)],
            INSULIN: [MessageHandler(text, insulin)],
            DIAGNOSED: [MessageHandler(text, diagnosed)],
            TRAVEL: [MessageHandler(text, travel)],
            BEST_TIME: [MessageHandler(text, best_time)],
            RECONTACT: [MessageHandler(text, recontact)],
            CONSENT: [MessageHandler(text, consent)],
        },
        fallbacks=[],
        name="prescreen",
        persistent=True,
    )
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{api_url}/bot")
        .base_file_url(f"{api_url}/file/bot")
        .persistence(PicklePersistence(filepath=pickle, update_interval=60))
        .updater(None)
        .build()
    )
    application.add_handler(conversation)
    return application


def build_web(application: Application, secret: str, pickle: Path) -> Starlette:  # type: ignore[type-arg]
    """The webhook (as in PTB's starlettebot example, plus the secret check), a health check, a flush timer."""

    async def webhook(request: Request) -> Response:
        given = request.headers.get("X-Telegram-Bot-Api-Secret-Token", "")
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        await application.update_queue.put(Update.de_json(await request.json(), application.bot))
        return Response()

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"ok": True})

    async def flush(_request: Request) -> Response:
        conversations = sum(1 for states in application._conversation_handler_conversations.values() for _ in states)
        started = time.perf_counter()
        await application.update_persistence()
        seconds = time.perf_counter() - started
        size = pickle.stat().st_size if pickle.exists() else 0
        return JSONResponse({"seconds": seconds, "conversations": conversations, "pickle_bytes": size})

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        async with application:
            await application.start()
            yield
            await application.stop()

    return Starlette(
        routes=[
            Route("/telegram/webhook", webhook, methods=["POST"]),
            Route("/healthz", healthz, methods=["GET"]),
            Route("/bench/flush", flush, methods=["POST"]),
        ],
        lifespan=lifespan,
    )


def main() -> None:
    """Run the baseline bot on uvicorn."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-url", required=True, help="the Bot API root (PTB appends /bot<token>/<method>)")
    parser.add_argument("--token", required=True)
    parser.add_argument("--secret", required=True)
    parser.add_argument("--pickle", type=Path, required=True)
    args = parser.parse_args()
    application = build_application(args.token, args.api_url, args.pickle)
    web = build_web(application, args.secret, args.pickle)
    uvicorn.run(web, host="127.0.0.1", port=args.port, log_level="warning", lifespan="on", proxy_headers=False)


if __name__ == "__main__":
    main()
