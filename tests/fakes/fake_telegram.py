"""FakeTelegram: the slice of the Telegram Bot API that trialbot uses, as a real HTTP server for PTB.

Plus builders of realistic Bot API update JSON (``text_update``, ``callback_update``, ...).
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes._base import FakeService, delivery_url, http_post

DEFAULT_TOKEN = "123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11"
DEFAULT_BOT_ID = 123456
DEFAULT_BOT_USERNAME = "trialbot_fake_bot"

# Form fields whose values are free text: never JSON-decode them (a text of "42" stays "42").
_STRING_FIELDS = frozenset(
    {
        "text", "caption", "url", "secret_token", "callback_query_id", "inline_message_id", "parse_mode",
        "business_connection_id", "message_effect_id", "ip_address", "action", "emoji", "question", "title",
        "description", "short_description", "name", "query", "data", "language_code",
    }
)  # fmt: skip
# Update types Telegram leaves out unless allowed_updates asks for them.
_OPT_IN_UPDATES = frozenset({"chat_member", "message_reaction", "message_reaction_count"})
_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup are exactly "
    "the same as a current content and reply markup of the message"
)
_QUERY_INVALID = "Bad Request: query is too old and response timeout expired or query ID is invalid"

ChatId = int | str


@dataclass(frozen=True)
class TelegramCall:
    """One Bot API call that reached FakeTelegram with the right token, implemented or not (a method the
    fake lacks answers 404 "Not Found", as Telegram does for unknown methods). Form fields JSON-decoded."""

    method: str
    params: dict[str, Any]


@dataclass(frozen=True)
class SentTelegram:
    """One message the fake accepted through ``sendMessage``."""

    chat_id: ChatId
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class WebhookConfig:
    """What the last successful ``setWebhook`` asked for."""

    url: str
    secret_token: str | None
    allowed_updates: list[str] | None
    max_connections: int
    drop_pending_updates: bool = False
    ip_address: str | None = None


@dataclass
class _Fault:
    method: str | None  # lower-case; None: any method
    remaining: int
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    delay: float = 0.0
    accept: bool = True

    def matches(self, method: str) -> bool:
        return self.method is None or method == self.method


def _chat_key(chat_id: Any) -> ChatId:
    if isinstance(chat_id, int):
        return chat_id
    text = str(chat_id)
    return int(text) if re.fullmatch(r"-?\d+", text) else text


def _update_type(update: Mapping[str, Any]) -> str:
    return next((k for k in update if k != "update_id"), "")


def _ok(result: Any, description: str | None = None) -> JSONResponse:
    payload: dict[str, Any] = {"ok": True, "result": result}
    if description:
        payload["description"] = description
    return JSONResponse(payload)


def _fail(status: int, description: str, parameters: dict[str, Any] | None = None) -> JSONResponse:
    payload: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if parameters:
        payload["parameters"] = parameters
    return JSONResponse(payload, status_code=status)


class FakeTelegram(FakeService):
    """A fake Telegram Bot API on 127.0.0.1 for python-telegram-bot.

    ``with FakeTelegram() as tg:`` then ``telegram.Bot(tg.token, base_url=f"{tg.url}/bot",
    base_file_url=f"{tg.url}/file/bot")``. Calls are in ``calls``, sent messages in ``sent``, the
    current state of the bot's messages via ``message(chat_id, message_id)``. Feed updates to polling
    with ``push_update`` or post them to the registered webhook with ``deliver_webhook``.

    Behaviour that mirrors Telegram: a wrong token answers 404 "Not Found" (PTB: ``InvalidToken``);
    sendMessage rejects an empty text, a text over 4096 characters and callback_data over 64 bytes
    (400 BUTTON_DATA_INVALID, which PTB does not check); editing a message the bot never sent is 400
    "message to edit not found"; an edit that changes nothing is 400 "message is not modified"; editing
    the text without ``reply_markup`` removes the inline keyboard; answering a callback query twice is
    400 "query is too old..."; getUpdates while a webhook is set is 409, and a second concurrent
    getUpdates ends the first with 409 "terminated by other getUpdates request"; setWebhook needs an
    https URL (unless ``require_https_webhook`` is False) and a secret of ``[A-Za-z0-9_-]{1,256}``.
    ``parse_mode`` is recorded but the text is not parsed.
    """

    def __init__(self, token: str = DEFAULT_TOKEN, *, username: str = DEFAULT_BOT_USERNAME) -> None:
        super().__init__()
        self.token = token
        prefix = token.partition(":")[0]
        self.bot_id = int(prefix) if prefix.isdigit() else DEFAULT_BOT_ID
        self.username = username
        #: Longest time a getUpdates long poll is held, whatever ``timeout`` the client asks for.
        self.max_long_poll: float = 2.0
        self.require_https_webhook = True
        self.reset()

    def reset(self) -> None:
        """Forget calls, messages, updates, the webhook, faults and blocks."""
        with self._lock:
            self._calls: list[TelegramCall] = []
            self._sent: list[SentTelegram] = []
            self._messages: dict[tuple[ChatId, int], dict[str, Any]] = {}
            self._next_message_id: dict[ChatId, int] = {}
            self._chats: dict[ChatId, dict[str, Any]] = {}
            self._updates: list[dict[str, Any]] = []
            self._allowed_updates: list[str] = []
            self._answered: set[str] = set()
            self._blocked: set[ChatId] = set()
            self._faults: list[_Fault] = []
            self._delays: list[_Fault] = []
            self._poll_generation = 0
            self.webhook: WebhookConfig | None = None

    # -- what happened ---------------------------------------------------------------------------

    @property
    def calls(self) -> list[TelegramCall]:
        """Every call with the right token, oldest first (a copy)."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, method: str) -> list[TelegramCall]:
        """The calls to one method (case-insensitive, as Telegram treats method names)."""
        return [c for c in self.calls if c.method.lower() == method.lower()]

    @property
    def sent(self) -> list[SentTelegram]:
        """Messages accepted by sendMessage, oldest first (a copy)."""
        with self._lock:
            return list(self._sent)

    @property
    def pending_updates(self) -> list[dict[str, Any]]:
        """Updates pushed and not yet confirmed by a getUpdates offset (a copy)."""
        with self._lock:
            return list(self._updates)

    def message(self, chat_id: ChatId, message_id: int) -> dict[str, Any] | None:
        """The bot's message as it is now (after edits), in Bot API JSON, or None."""
        with self._lock:
            found = self._messages.get((_chat_key(chat_id), message_id))
            return json.loads(json.dumps(found)) if found else None

    def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[SentTelegram]:
        """Wait until at least ``count`` messages were sent; returns ``sent``."""
        return self._wait_for(lambda: self.sent, lambda s: len(s) >= count, timeout, f"{count} sent messages")

    def wait_for_calls(self, method: str, count: int, timeout: float = 5.0) -> list[TelegramCall]:
        """Wait until ``method`` was called at least ``count`` times; returns those calls."""
        return self._wait_for(lambda: self.calls_to(method), lambda c: len(c) >= count, timeout, f"{count} {method}")

    # -- driving the bot -------------------------------------------------------------------------

    def push_update(self, update: dict[str, Any]) -> None:
        """Queue an update for getUpdates (in push order; duplicates are kept, as a test may want them)."""
        with self._lock:
            self._remember(update)
            self._updates.append(update)

    def deliver_webhook(self, update: dict[str, Any], deliver_to: str | None = None, timeout: float = 10.0) -> int:
        """POST ``update`` as Telegram would to the URL registered with setWebhook, with the secret in
        ``X-Telegram-Bot-Api-Secret-Token``; sent to ``deliver_to`` (a base: the registered path and query
        are appended; or a full URL) when given. Returns the HTTP status."""
        with self._lock:
            if self.webhook is None:
                raise RuntimeError("no webhook is set (call setWebhook first)")
            webhook = self.webhook
            self._remember(update)
        headers = {"Content-Type": "application/json"}
        if webhook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = webhook.secret_token
        target = delivery_url(webhook.url, deliver_to)
        return http_post(target, json.dumps(update).encode(), headers, timeout).status_code

    def _remember(self, update: Mapping[str, Any]) -> None:
        """Learn chats from an update, and keep the bot's message ids above the ones the user used."""
        body = update.get(_update_type(update))
        if not isinstance(body, dict):
            return
        message = body.get("message") if "chat_instance" in body else body
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            key = _chat_key(message["chat"].get("id"))
            self._chats.setdefault(key, message["chat"])
            if isinstance(message.get("message_id"), int):
                self._next_message_id[key] = max(self._next_message_id.get(key, 1), message["message_id"] + 1)

    # -- fault injection -------------------------------------------------------------------------

    def retry_after_next(self, seconds: int, count: int = 1, *, method: str | None = "sendMessage") -> None:
        """Answer the next ``count`` calls to ``method`` (None: any method, getMe and getUpdates included)
        with 429 "Too Many Requests: retry after N" and ``parameters.retry_after``; PTB raises ``RetryAfter``."""
        self._add_fault(
            _Fault(_lower(method), count, 429, f"Too Many Requests: retry after {seconds}", retry_after=seconds)
        )

    def fail_next(
        self,
        status: int = 502,
        count: int = 1,
        description: str = "Bad Gateway",
        *,
        method: str | None = "sendMessage",
    ) -> None:
        """Answer the next ``count`` calls to ``method`` (None: any method) with ``status`` and
        ``description``. PTB raises 400 ``BadRequest``, 403 ``Forbidden``, 401/404 ``InvalidToken``,
        409 ``Conflict``, anything else ``NetworkError``."""
        self._add_fault(_Fault(_lower(method), count, status, description))

    def delay_next(
        self, seconds: float, count: int = 1, accept: bool = True, *, method: str | None = "sendMessage"
    ) -> None:
        """Hold the answer to the next ``count`` calls to ``method`` (None: any method) for ``seconds``.
        ``accept=True``: the call is carried out (a message is in ``sent``) before the pause, so a client
        timeout loses only the answer; ``accept=False``: nothing is carried out and 502 follows the pause."""
        with self._lock:
            self._delays.append(_Fault(_lower(method), count, delay=seconds, accept=accept))

    def block(self, chat_id: ChatId) -> None:
        """Calls with this ``chat_id`` answer 403 "Forbidden: bot was blocked by the user" until ``unblock``."""
        with self._lock:
            self._blocked.add(_chat_key(chat_id))

    def unblock(self, chat_id: ChatId) -> None:
        """Undo ``block``."""
        with self._lock:
            self._blocked.discard(_chat_key(chat_id))

    def _add_fault(self, fault: _Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    def _take(self, queue: list[_Fault], method: str) -> _Fault | None:
        with self._lock:
            for fault in queue:
                if fault.matches(method):
                    fault.remaining -= 1
                    if fault.remaining <= 0:
                        queue.remove(fault)
                    return fault
        return None

    # -- the API ---------------------------------------------------------------------------------

    def _build_app(self) -> Starlette:
        self._handlers: dict[str, Callable[[dict[str, Any]], Response]] = {
            "getme": lambda _: _ok(self._bot_user(full=True)),
            "sendmessage": self._send_message,
            "answercallbackquery": self._answer_callback_query,
            "editmessagetext": self._edit_message_text,
            "editmessagereplymarkup": self._edit_message_reply_markup,
            "setwebhook": self._set_webhook,
            "deletewebhook": self._delete_webhook,
            "getwebhookinfo": self._get_webhook_info,
            "sendchataction": lambda _: _ok(True),
            "setmycommands": lambda _: _ok(True),
            "close": lambda _: _ok(True),
            "logout": lambda _: _ok(True),
        }
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._call, methods=["GET", "POST"]),
                Route("/{path:path}", lambda _: _fail(404, "Not Found"), methods=["GET", "POST"]),
            ]
        )

    async def _call(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _fail(404, "Not Found")
        method = request.path_params["method"]
        name = method.lower()
        params = await _read_params(request)
        with self._lock:
            self._calls.append(TelegramCall(method, params))  # unknown methods too: shows what is missing
            blocked = "chat_id" in params and _chat_key(params["chat_id"]) in self._blocked
        if name not in self._handlers and name != "getupdates":
            return _fail(404, "Not Found")
        fault = self._take(self._faults, name)
        if fault is not None:
            extra = {"retry_after": fault.retry_after} if fault.retry_after is not None else None
            return _fail(fault.status, fault.description, extra)
        delay = self._take(self._delays, name)
        if delay is not None and not delay.accept:
            await self._pause(delay.delay)
            return _fail(502, "Bad Gateway")
        if blocked:
            response: Response = _fail(403, "Forbidden: bot was blocked by the user")
        elif name == "getupdates":
            response = await self._get_updates(params)
        else:
            response = self._handlers[name](params)
        if delay is not None:
            await self._pause(delay.delay)
        return response

    def _bot_user(self, full: bool = False) -> dict[str, Any]:
        user = {"id": self.bot_id, "is_bot": True, "first_name": "Trialbot", "username": self.username}
        if full:
            user |= {
                "can_join_groups": True,
                "can_read_all_group_messages": False,
                "supports_inline_queries": False,
                "can_connect_to_business": False,
                "has_main_web_app": False,
            }
        return user

    def _chat(self, key: ChatId) -> dict[str, Any]:
        if key in self._chats:
            return self._chats[key]
        if isinstance(key, str):
            return {"id": -1000000000001, "title": key, "username": key.lstrip("@"), "type": "channel"}
        if key > 0:
            return {"id": key, "first_name": "Pat", "type": "private"}
        return {"id": key, "title": "Group", "type": "supergroup" if key < -1000000000000 else "group"}

    def _send_message(self, params: dict[str, Any]) -> Response:
        if params.get("chat_id") in (None, ""):
            return _fail(400, "Bad Request: chat_id is empty")
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        if len(text) > 4096:
            return _fail(400, "Bad Request: message is too long")
        markup = params.get("reply_markup")
        if invalid := _invalid_markup(markup):
            return _fail(400, invalid)
        key = _chat_key(params["chat_id"])
        with self._lock:
            message_id = self._next_message_id.get(key, 1)
            self._next_message_id[key] = message_id + 1
            message: dict[str, Any] = {
                "message_id": message_id,
                "from": self._bot_user(),
                "chat": self._chat(key),
                "date": int(time.time()),
                "text": text,
            }
            if _is_inline(markup):
                message["reply_markup"] = markup
            self._messages[(key, message_id)] = message
            self._sent.append(SentTelegram(key, text, markup if isinstance(markup, dict) else None, message_id, params))
            return _ok(message)

    def _edit(self, params: dict[str, Any], text: str | None) -> Response:
        markup = params.get("reply_markup")
        if invalid := _invalid_markup(markup):
            return _fail(400, invalid)
        if params.get("inline_message_id"):
            return _ok(True)
        key = _chat_key(params.get("chat_id"))
        with self._lock:
            message_id = params.get("message_id")
            message = self._messages.get((key, message_id)) if isinstance(message_id, int) else None
            if message is None:
                return _fail(400, "Bad Request: message to edit not found")
            new_text = message["text"] if text is None else text
            new_markup = markup if _is_inline(markup) else None
            if new_text == message["text"] and new_markup == message.get("reply_markup"):
                return _fail(400, _NOT_MODIFIED)
            message["text"] = new_text
            message.pop("reply_markup", None)
            if new_markup is not None:
                message["reply_markup"] = new_markup
            message["edit_date"] = int(time.time())
            return _ok(json.loads(json.dumps(message)))

    def _edit_message_text(self, params: dict[str, Any]) -> Response:
        text = params.get("text")
        if not isinstance(text, str) or not text.strip():
            return _fail(400, "Bad Request: message text is empty")
        return self._edit(params, text)

    def _edit_message_reply_markup(self, params: dict[str, Any]) -> Response:
        return self._edit(params, None)

    def _answer_callback_query(self, params: dict[str, Any]) -> Response:
        query_id = str(params.get("callback_query_id") or "")
        with self._lock:
            if not query_id or query_id in self._answered:
                return _fail(400, _QUERY_INVALID)
            self._answered.add(query_id)
        return _ok(True)

    def _set_webhook(self, params: dict[str, Any]) -> Response:
        url = str(params.get("url") or "")
        if not url:
            return self._delete_webhook(params)
        if self.require_https_webhook and not url.startswith("https://"):
            return _fail(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        secret = params.get("secret_token")
        if secret is not None and not _SECRET.match(str(secret)):
            return _fail(400, "Bad Request: secret token contains unallowed characters")
        allowed = params.get("allowed_updates")
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            if isinstance(allowed, list):
                self._allowed_updates = [str(a) for a in allowed]
            self.webhook = WebhookConfig(
                url=url,
                secret_token=None if secret is None else str(secret),
                allowed_updates=allowed if isinstance(allowed, list) else None,
                max_connections=int(params.get("max_connections") or 40),
                drop_pending_updates=bool(params.get("drop_pending_updates")),
                ip_address=params.get("ip_address"),
            )
        return _ok(True, "Webhook was set")

    def _delete_webhook(self, params: dict[str, Any]) -> Response:
        with self._lock:
            if params.get("drop_pending_updates"):
                self._updates.clear()
            had, self.webhook = self.webhook, None
        return _ok(True, "Webhook was deleted" if had else "Webhook is already deleted")

    def _get_webhook_info(self, params: dict[str, Any]) -> Response:
        with self._lock:
            info: dict[str, Any] = {
                "url": self.webhook.url if self.webhook else "",
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
            }
            if self.webhook:
                info["max_connections"] = self.webhook.max_connections
                if self._allowed_updates:
                    info["allowed_updates"] = list(self._allowed_updates)
                if self.webhook.ip_address:
                    info["ip_address"] = self.webhook.ip_address
        return _ok(info)

    async def _get_updates(self, params: dict[str, Any]) -> Response:
        offset, limit = int(params.get("offset") or 0), min(max(int(params.get("limit") or 100), 1), 100)
        with self._lock:
            if self.webhook is not None:
                return _fail(
                    409,
                    "Conflict: can't use getUpdates method while webhook is active; "
                    "use deleteWebhook to delete the webhook first",
                )
            self._poll_generation += 1
            generation = self._poll_generation
            if offset > 0:
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            elif offset < 0:
                self._updates = self._updates[offset:]
            if isinstance(params.get("allowed_updates"), list):
                self._allowed_updates = [str(a) for a in params["allowed_updates"]]
        deadline = time.monotonic() + min(float(params.get("timeout") or 0), self.max_long_poll)
        while True:
            with self._lock:
                if generation != self._poll_generation:
                    return _fail(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                # Updates of types not allowed are never delivered.
                self._updates = [u for u in self._updates if _allowed(_update_type(u), self._allowed_updates)]
                batch = self._updates[:limit]
            if batch or time.monotonic() >= deadline or self._stopping.is_set():
                return _ok(batch)
            await asyncio.sleep(0.01)


def _allowed(kind: str, allowed: list[str]) -> bool:
    return kind in allowed if allowed else kind not in _OPT_IN_UPDATES


def _lower(method: str | None) -> str | None:
    return method.lower() if method else None


def _is_inline(markup: Any) -> bool:
    return isinstance(markup, dict) and isinstance(markup.get("inline_keyboard"), list)


def _invalid_markup(markup: Any) -> str | None:
    if not _is_inline(markup):
        return None
    for row in markup["inline_keyboard"]:
        for button in row:
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                return "Bad Request: BUTTON_DATA_INVALID"
            if not button.get("text"):
                return "Bad Request: text buttons are unallowed in the inline keyboard"
    return None


async def _read_params(request: Request) -> dict[str, Any]:
    """The call's parameters as PTB sends them (a urlencoded or multipart form whose nested values are
    JSON strings; query parameters and JSON bodies too, as Telegram accepts them), JSON-decoded."""
    raw: dict[str, Any] = dict(request.query_params)
    if request.headers.get("content-type", "").startswith("application/json"):
        raw |= await request.json()
        return raw
    for key, value in (await request.form()).multi_items():
        if isinstance(value, UploadFile):
            raw[key] = {"filename": value.filename, "content_type": value.content_type, "size": value.size}
        elif key in _STRING_FIELDS:
            raw[key] = value
        else:
            try:
                raw[key] = json.loads(value)
            except ValueError:
                raw[key] = value
    return raw


# -- update builders --------------------------------------------------------------------------------


def _now() -> int:
    return int(time.time())


def _user(user_id: int, first_name: str, language_code: str | None = "en") -> dict[str, Any]:
    user: dict[str, Any] = {"id": user_id, "is_bot": False, "first_name": first_name}
    if language_code:
        user["language_code"] = language_code
    return user


def _private_chat(chat_id: int, first_name: str) -> dict[str, Any]:
    return {"id": chat_id, "first_name": first_name, "type": "private"}


def _message(
    chat_id: int,
    message_id: int,
    user_id: int | None,
    first_name: str,
    date: int | None,
    chat: dict[str, Any] | None = None,
    **content: Any,
) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "from": _user(user_id if user_id is not None else chat_id, first_name),
        "chat": chat or _private_chat(chat_id, first_name),
        "date": date if date is not None else _now(),
        **content,
    }


def _file_ids(kind: str, n: int) -> dict[str, str]:
    return {"file_id": f"{kind}-file-{n}-AgACAgIAAxkBAAIB", "file_unique_id": f"AQAD{kind}{n}"}


def text_update(
    update_id: int,
    chat_id: int,
    text: str,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A private text message. ``user_id`` defaults to ``chat_id`` (as in private chats), ``message_id``
    to ``update_id`` and ``date`` to now."""
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, text=text)
    return {"update_id": update_id, "message": message}


def command_update(
    update_id: int,
    chat_id: int,
    text: str,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A private command such as ``"/start invite42"``, with its ``bot_command`` entity."""
    if not text.startswith("/"):
        raise ValueError("a command starts with '/'")
    command = text.split(maxsplit=1)[0]
    update = text_update(update_id, chat_id, text, user_id, first_name, message_id, date)
    length = len(command.encode("utf-16-le")) // 2  # entity offsets and lengths count UTF-16 code units
    update["message"]["entities"] = [{"offset": 0, "length": length, "type": "bot_command"}]
    return update


def callback_update(
    update_id: int,
    chat_id: int,
    data: str,
    message_id: int,
    callback_id: str | None = None,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_text: str = "Please choose:",
    reply_markup: dict[str, Any] | None = None,
    bot_id: int = DEFAULT_BOT_ID,
) -> dict[str, Any]:
    """A button press on the bot's message ``message_id`` (whose text and keyboard you may give)."""
    user = user_id if user_id is not None else chat_id
    message: dict[str, Any] = {
        "message_id": message_id,
        "from": {"id": bot_id, "is_bot": True, "first_name": "Trialbot", "username": DEFAULT_BOT_USERNAME},
        "chat": _private_chat(chat_id, first_name),
        "date": _now() - 5,
        "text": message_text,
    }
    if reply_markup is not None:
        message["reply_markup"] = reply_markup
    query = {
        "id": callback_id or f"{user}{update_id:010d}",
        "from": _user(user, first_name),
        "message": message,
        "chat_instance": str(-(abs(chat_id) * 7919 % 10**18)),
        "data": data,
    }
    return {"update_id": update_id, "callback_query": query}


def edited_update(
    update_id: int,
    chat_id: int,
    text: str,
    message_id: int,
    user_id: int | None = None,
    first_name: str = "Pat",
    date: int | None = None,
    edit_date: int | None = None,
) -> dict[str, Any]:
    """The user edited their earlier message ``message_id`` to ``text``."""
    sent = date if date is not None else _now() - 60
    message = _message(chat_id, message_id, user_id, first_name, sent, text=text, edit_date=edit_date or _now())
    return {"update_id": update_id, "edited_message": message}


def photo_update(
    update_id: int,
    chat_id: int,
    caption: str | None = None,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A photo (two sizes, as Telegram sends them), with an optional caption."""
    sizes = [
        {**_file_ids("photo", 1), "file_size": 1180, "width": 90, "height": 67},
        {**_file_ids("photo", 2), "file_size": 52004, "width": 800, "height": 600},
    ]
    content: dict[str, Any] = {"photo": sizes}
    if caption is not None:
        content["caption"] = caption
    return {
        "update_id": update_id,
        "message": _message(chat_id, message_id or update_id, user_id, first_name, date, **content),
    }


def sticker_update(
    update_id: int,
    chat_id: int,
    emoji: str = "👍",
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A regular (static) sticker."""
    sticker = {
        **_file_ids("sticker", 1),
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        "emoji": emoji,
        "set_name": "FakeStickers",
        "file_size": 24510,
    }
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, sticker=sticker)
    return {"update_id": update_id, "message": message}


def voice_update(
    update_id: int,
    chat_id: int,
    duration: int = 3,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A voice note (OGG/Opus)."""
    voice = {**_file_ids("voice", 1), "duration": duration, "mime_type": "audio/ogg", "file_size": 9824}
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, voice=voice)
    return {"update_id": update_id, "message": message}


def location_update(
    update_id: int,
    chat_id: int,
    latitude: float = 40.7128,
    longitude: float = -74.006,
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A shared location."""
    location = {"latitude": latitude, "longitude": longitude}
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, location=location)
    return {"update_id": update_id, "message": message}


def contact_update(
    update_id: int,
    chat_id: int,
    phone_number: str = "+15551234567",
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A shared contact: by default the user's own (``contact.user_id`` = the sender), as the phone button does."""
    sender = user_id if user_id is not None else chat_id
    contact = {"phone_number": phone_number, "first_name": first_name, "user_id": sender}
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, contact=contact)
    return {"update_id": update_id, "message": message}


def group_text_update(
    update_id: int,
    chat_id: int,
    text: str,
    user_id: int = 777000001,
    first_name: str = "Sam",
    message_id: int | None = None,
    date: int | None = None,
    title: str = "Study staff",
) -> dict[str, Any]:
    """A text message in a basic group (``chat_id`` < 0, chat type "group") from ``user_id``."""
    if chat_id >= 0:
        raise ValueError("group chat ids are negative")
    chat = {"id": chat_id, "title": title, "type": "group", "all_members_are_administrators": True}
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, chat=chat, text=text)
    return {"update_id": update_id, "message": message}


def forwarded_update(
    update_id: int,
    chat_id: int,
    text: str,
    origin_user_id: int | None = None,
    origin_name: str = "Alex",
    user_id: int | None = None,
    first_name: str = "Pat",
    message_id: int | None = None,
    date: int | None = None,
) -> dict[str, Any]:
    """A message the user forwarded: ``forward_origin`` of type "user" when ``origin_user_id`` is given,
    else "hidden_user" (the original sender hides their account)."""
    origin_date = (date if date is not None else _now()) - 3600
    origin: dict[str, Any]
    if origin_user_id is not None:
        origin = {"type": "user", "date": origin_date, "sender_user": _user(origin_user_id, origin_name, None)}
    else:
        origin = {"type": "hidden_user", "date": origin_date, "sender_user_name": origin_name}
    message = _message(chat_id, message_id or update_id, user_id, first_name, date, text=text, forward_origin=origin)
    return {"update_id": update_id, "message": message}


def my_chat_member_update(
    update_id: int,
    chat_id: int,
    old_status: str,
    new_status: str,
    user_id: int | None = None,
    first_name: str = "Pat",
    date: int | None = None,
    bot_id: int = DEFAULT_BOT_ID,
) -> dict[str, Any]:
    """The bot's membership changed in a chat. In a private chat "member" → "kicked" means the user
    blocked the bot, "kicked" → "member" that they unblocked it. Statuses: member, kicked, left,
    administrator."""
    bot = {"id": bot_id, "is_bot": True, "first_name": "Trialbot", "username": DEFAULT_BOT_USERNAME}
    chat = (
        _private_chat(chat_id, first_name) if chat_id > 0 else {"id": chat_id, "title": "Study staff", "type": "group"}
    )
    return {
        "update_id": update_id,
        "my_chat_member": {
            "chat": chat,
            "from": _user(user_id if user_id is not None else chat_id if chat_id > 0 else 777000001, first_name),
            "date": date if date is not None else _now(),
            "old_chat_member": _chat_member(bot, old_status),
            "new_chat_member": _chat_member(bot, new_status),
        },
    }


def _chat_member(user: dict[str, Any], status: str) -> dict[str, Any]:
    member: dict[str, Any] = {"user": user, "status": status}
    if status == "kicked":
        member["until_date"] = 0
    elif status == "administrator":
        rights = (
            "is_anonymous can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
            "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
            "can_delete_stories"
        )
        member |= {"can_be_edited": False} | dict.fromkeys(rights.split(), False) | {"can_manage_chat": True}
    elif status not in ("member", "left"):
        raise ValueError(f"unsupported chat member status {status!r}")
    return member
