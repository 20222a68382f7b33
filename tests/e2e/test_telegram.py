"""Telegram end to end: updates posted to the real app's webhook, replies observed at the fake Bot API."""

from __future__ import annotations

import threading
from itertools import count
from typing import Any

import pytest
from sqlalchemy import func, select

from storage.repositories import audit_t, inbound_t
from tests.e2e.conftest import Stack, wait_until
from tests.fakes import (
    callback_update,
    command_update,
    contact_update,
    edited_update,
    forwarded_update,
    group_text_update,
    location_update,
    my_chat_member_update,
    photo_update,
    sticker_update,
    text_update,
    voice_update,
)

CHAT = 700100


class Chat:
    """One Telegram user talking to the bot."""

    def __init__(self, stack: Stack, chat_id: int = CHAT) -> None:
        self.stack = stack
        self.chat_id = chat_id
        self.ids = count(chat_id * 100 + 1)

    def sent(self) -> list[Any]:
        return [s for s in self.stack.telegram.sent if int(s.chat_id) == self.chat_id]

    def post(self, update: dict[str, Any]) -> None:
        before = len(self.stack.telegram.sent)
        response = self.stack.update(update)
        assert response.status_code == 200, response.text
        self.stack.settle()
        del before

    def say(self, text: str) -> list[str]:
        before = len(self.sent())
        self.post(text_update(next(self.ids), self.chat_id, text))
        return [s.text for s in self.sent()[before:]]

    def command(self, text: str) -> list[str]:
        before = len(self.sent())
        self.post(command_update(next(self.ids), self.chat_id, text))
        return [s.text for s in self.sent()[before:]]

    def buttons(self, index: int = -1) -> list[tuple[str, str]]:
        markup = self.sent()[index].reply_markup or {}
        return [(b["text"], b["callback_data"]) for row in markup.get("inline_keyboard", []) for b in row]

    def press(self, label: str, index: int = -1) -> list[str]:
        message = self.sent()[index]
        data = dict(self.buttons(index))[label]
        before = len(self.sent())
        self.post(
            callback_update(next(self.ids), self.chat_id, data, message.message_id, reply_markup=message.reply_markup)
        )
        return [s.text for s in self.sent()[before:]]


def _inbound_count(stack: Stack) -> int:
    with stack.app.database.read() as connection:
        return int(connection.execute(select(func.count()).select_from(inbound_t)).scalar_one())


def test_a_full_prescreen_over_telegram_with_buttons(stack: Stack) -> None:
    chat = Chat(stack)
    replies = chat.command("/start flyer-3")
    assert replies[0].startswith("Hi! This is the Sunrise Study team.")
    assert replies[-1] == "Do you agree to get texts from us?", "no reply instructions on Telegram: buttons instead"
    assert [label for label, _ in chat.buttons()] == ["Yes", "No"]
    assert chat.press("Yes")[-1] == "Would you like to start?"
    assert chat.press("Yes") == ["How old are you?"]
    assert chat.say("52") == ["Has a doctor ever told you that you have type 2 diabetes?"]
    assert [label for label, _ in chat.buttons()] == ["Yes", "No", "Not sure"]
    chat.press("Yes")
    chat.say("no")  # typed answers work too
    chat.say("3/2019")
    assert [label for label, _ in chat.buttons()] == [
        "Less than 30 minutes",
        "30 to 60 minutes",
        "More than 1 hour",
        "Not sure",
    ]
    replies = chat.press("30 to 60 minutes")
    assert replies[0].startswith("Thank you! You may be a match for this study.")
    chat.press("Morning")
    assert chat.press("No")[-1] == "Are you ready to start?", "the consent check follows an eligible prescreen"
    not_now = "No problem. The study team will go over the consent form with you and answer your questions."
    assert chat.press("No") == [not_now]
    assert len(stack.telegram.calls_to("answerCallbackQuery")) == 7, "every press is answered"
    with stack.app.database.read() as connection:
        details = connection.execute(select(audit_t.c.new).where(audit_t.c.action == "channel_details")).scalars().all()
        [agreed] = connection.execute(select(audit_t.c.new).where(audit_t.c.action == "texts_agreed")).scalars().all()
    assert details == [{"start_payload": "flyer-3"}]
    assert (agreed["agreed"], agreed["source"], agreed["channel"]) == (True, "telegram:flyer-3", "telegram")


def test_stale_double_tapped_and_forged_buttons_change_nothing(stack: Stack) -> None:
    chat = Chat(stack)
    chat.command("/start")
    chat.press("Yes")
    intro = len(chat.sent()) - 1
    assert chat.press("Yes", intro) == ["How old are you?"]
    note = "That button is from an earlier question. Please use the newest one."
    assert chat.press("Yes", intro) == [note, "How old are you?"], "a double tap is stale"
    forged = callback_update(next(chat.ids), CHAT, "not-a-real-token", chat.sent()[-1].message_id)
    chat.post(forged)
    assert chat.sent()[-2].text == note
    other = Chat(stack, chat_id=CHAT + 1)
    other.command("/start")
    other.press("Yes")
    stolen = dict(other.buttons())["Yes"]
    chat.post(callback_update(next(chat.ids), CHAT, stolen, chat.sent()[-1].message_id))
    assert chat.sent()[-2].text == note, "another chat's button is refused"
    assert stack.participant("telegram", str(CHAT)) is not None
    assert chat.say("45")[0].startswith("Has a doctor"), "the conversation is where it was"


def test_the_same_update_three_times_concurrently_is_one_row_and_one_reply(stack: Stack) -> None:
    update = text_update(5001, CHAT, "HELP")

    def deliver() -> None:
        assert stack.update(update).status_code == 200

    threads = [threading.Thread(target=deliver) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stack.settle()
    assert _inbound_count(stack) == 1
    assert len(stack.telegram.sent) == 1


@pytest.mark.parametrize("secret", [None, "", "wrong", "s3cret_Token-for-tests_012345678"])
def test_the_webhook_secret_is_required(stack: Stack, secret: str | None) -> None:
    response = stack.update(text_update(6001, CHAT, "Hi"), secret=secret)
    assert response.status_code == 403
    assert _inbound_count(stack) == 0


def test_malformed_and_oversized_updates_are_refused(stack: Stack) -> None:
    import httpx

    headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret_Token-for-tests_0123456789"}
    url = f"{stack.web.url}/telegram/webhook"
    assert httpx.post(url, content=b"{not json", headers=headers).status_code == 400
    assert httpx.post(url, json={"no": "update_id"}, headers=headers).status_code == 400
    assert httpx.post(url, json=[1, 2, 3], headers=headers).status_code == 400
    assert httpx.post(url, json={"update_id": 1, "message": {"bad": True}}, headers=headers).status_code in (200, 400)
    assert httpx.post(url, content=b"x" * (70 * 1024), headers=headers).status_code == 413
    assert _inbound_count(stack) == 0


def test_stickers_photos_voice_places_and_contacts_get_a_request_for_words(stack: Stack) -> None:
    chat = Chat(stack)
    chat.command("/start")
    media = "Thank you. I can only read words, not pictures or files. Please reply in words."
    for update in (
        sticker_update(next(chat.ids), CHAT),
        voice_update(next(chat.ids), CHAT),
        location_update(next(chat.ids), CHAT),
        contact_update(next(chat.ids), CHAT),
        photo_update(next(chat.ids), CHAT),
    ):
        chat.post(update)
        assert chat.sent()[-1].text.startswith(media)
    with stack.app.database.read() as connection:
        texts = connection.execute(select(inbound_t.c.text).order_by(inbound_t.c.id)).scalars().all()
    assert texts[1:] == ["", "", "", "", ""], "no coordinates or phone numbers are kept"
    chat.post(photo_update(next(chat.ids), CHAT, caption="yes"))
    assert chat.sent()[-1].text == "Would you like to start?", "a caption is read as words: YES to texts"


def test_edits_forwards_and_groups(stack: Stack) -> None:
    chat = Chat(stack)
    chat.command("/start")
    chat.press("Yes")  # to texts
    chat.press("Yes")  # to the prescreen
    chat.post(edited_update(next(chat.ids), CHAT, "45", message_id=1))
    assert [s.text for s in chat.sent()[-2:]] == [
        "I can only read new messages, not changes to old ones. Please send it again as a new message.",
        "How old are you?",
    ]
    chat.post(forwarded_update(next(chat.ids), CHAT, "45"))
    assert chat.sent()[-2].text == "Please type your answer yourself. I can't use forwarded messages."
    sent = len(stack.telegram.sent)
    assert stack.update(group_text_update(next(chat.ids), -100123, "STOP")).status_code == 200
    stack.settle()
    assert len(stack.telegram.sent) == sent, "group messages are not a participant's"


def test_commands_map_to_the_keywords(stack: Stack) -> None:
    chat = Chat(stack)
    chat.command("/start")
    assert chat.command("/help")[0].startswith("Sunrise Study: For help, call")
    assert chat.command("/language")[0] == "Which language would you like?"
    assert [label for label, _ in chat.buttons()] == ["English", "Español"]
    assert chat.press("Español")[0] == "Está bien. Le escribiré en español."
    assert chat.command("/stop") == [
        "Ya no recibirá mensajes de Sunrise Study. Responda START para recibirlos de nuevo."
    ]
    assert chat.say("hola") == []
    assert chat.command("/start")[0].startswith("¡Hola de nuevo!")


def test_blocking_the_bot_is_an_opt_out(stack: Stack) -> None:
    chat = Chat(stack)
    chat.command("/start")
    chat.post(my_chat_member_update(next(chat.ids), CHAT, "member", "kicked"))
    assert stack.participant("telegram", str(CHAT)).opted_out
    assert chat.say("hello") == []


def test_a_429_is_retried_after_the_time_telegram_asks(stack: Stack) -> None:
    stack.telegram.retry_after_next(7)
    chat = Chat(stack)
    chat.say("HELP")
    assert chat.sent() == []
    row = stack.outbox()[0]
    assert row.status == "pending"
    assert (row.next_attempt_at - row.updated_at).total_seconds() == pytest.approx(7, abs=0.01)
    stack.advance(7)
    wait_until(lambda: len(chat.sent()) == 1)


def test_messages_to_one_chat_keep_their_order_through_a_429(stack: Stack) -> None:
    stack.telegram.retry_after_next(3)
    chat = Chat(stack)
    chat.command("/start")  # three messages: the first hits the 429
    assert chat.sent() == []
    stack.advance(3)
    wait_until(lambda: len(chat.sent()) == 3, timeout=10)
    assert chat.sent()[0].text.startswith("Hi! This is")
    assert chat.sent()[2].text == "Do you agree to get texts from us?"


def test_a_blocked_bot_on_send_is_an_opt_out_and_never_retried(stack: Stack) -> None:
    stack.telegram.block(CHAT)
    chat = Chat(stack)
    chat.say("HELP")
    stack.advance(600)
    stack.settle()
    assert len(stack.telegram.calls_to("sendMessage")) == 1
    assert stack.participant("telegram", str(CHAT)).opted_out
    assert stack.outbox()[0].status == "failed"


def test_telegram_5xx_is_retried(stack: Stack) -> None:
    stack.telegram.fail_next(502, count=2)
    chat = Chat(stack)
    chat.say("HELP")
    for _ in range(3):
        stack.advance(60)
        stack.settle()
    assert len(chat.sent()) == 1
