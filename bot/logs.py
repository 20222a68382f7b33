"""Logging that cannot leak: secrets and phone numbers are masked in every record (RELIABILITY §3.5).

Library loggers that print URLs with the bot token or request parameters (httpx, twilio) are kept
at WARNING, and a filter masks what still gets through: Telegram bot tokens, Twilio account ids,
phone numbers and the configured secrets themselves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

NOISY = (
    "httpx",
    "aiohttp",
    "httpcore",
    "telegram",
    "twilio",
    "twilio.http_client",
    "sqlalchemy.engine",
    "sqlalchemy.pool",
    "alembic",
)
_PATTERNS = [
    (re.compile(r"bot\d{3,12}:[A-Za-z0-9_-]{20,}"), "bot<token>"),
    (re.compile(r"\b\d{3,12}:[A-Za-z0-9_-]{30,}"), "<token>"),
    (re.compile(r"\bAC[0-9a-fA-F]{32}\b"), "AC<account>"),
    (re.compile(r"(?<![\w.])\+?\d[\d ().-]{7,}\d(?![\w.])"), "<phone>"),
]


class RedactingFilter(logging.Filter):
    """Rewrites each record's message with secrets and phone numbers masked."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        """Also mask these exact strings (tokens from the settings)."""
        super().__init__()
        self.secrets = sorted({s for s in secrets if s and len(s) >= 8}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        """The text with everything sensitive masked."""
        for secret in self.secrets:
            text = text.replace(secret, "<secret>")
        for pattern, mask in _PATTERNS:
            text = pattern.sub(mask, text)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the formatted message and any exception text; never drop the record."""
        record.msg = self.redact(record.getMessage())
        record.args = ()
        if record.exc_info:
            formatter = logging.Formatter()
            record.exc_text = self.redact(formatter.formatException(record.exc_info))
            record.exc_info = None
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactingFilter:
    """Log to stderr at `level`, through the redacting filter; quiet the chatty libraries."""
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s", force=True)
    redactor = RedactingFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(redactor)
    for name in NOISY:
        logging.getLogger(name).setLevel(logging.WARNING)
    return redactor
