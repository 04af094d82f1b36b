"""Structured logs: one JSON object per line, to stdout and to a rotating file (`LOG_FILE`).

stdlib `logging` with a JSON formatter, not structlog: every library here (uvicorn, SQLAlchemy, aiohttp, alembic)
already logs through stdlib loggers, and one formatter on the root logger makes all of them structured with no
second logging system to configure. Context travels in a `ContextVar` (`log_context`): the API sets the request id
for each request, the trading code adds an order's ids while it works on that order, and every line written
meanwhile carries them. A redaction filter replaces API keys and the OKX credentials wherever they would appear.
"""

from __future__ import annotations

import contextlib
import json
import logging
import logging.handlers
import re
import sys
from collections.abc import Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

__all__ = ["LOG_CONTEXT", "JSONFormatter", "RedactSecrets", "configure_logging", "log_context"]

LOG_CONTEXT: ContextVar[dict[str, Any]] = ContextVar("log_context", default={})  # noqa: B039 (never mutated)
API_KEY_PATTERN = re.compile(r"tes_[A-Za-z0-9_\-]{20,}")
MAX_FILE_BYTES = 10 * 1024 * 1024
FILE_BACKUPS = 5


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields (None ones are left out) to every log line written inside the block, in this task."""
    token = LOG_CONTEXT.set({**LOG_CONTEXT.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        LOG_CONTEXT.reset(token)


class RedactSecrets(logging.Filter):
    """Replaces API keys (any `tes_…` token) and the given secrets in the message and its arguments."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = [secret for secret in secrets if secret and len(secret) >= 4]

    def _clean(self, text: str) -> str:
        text = API_KEY_PATTERN.sub("tes_***", text)
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = self._clean(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_text is None:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self._clean(record.exc_text)
        return True


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            **LOG_CONTEXT.get(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str, ensure_ascii=False)


def configure_logging(level: str, log_file: str | None, secrets: list[str], *, max_bytes: int = MAX_FILE_BYTES) -> None:
    """JSON lines on stdout and, unless `log_file` is empty, in a rotating file (10 MB × 5 by default)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
        handler.close()
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stdout)]
    if log_file:
        path = Path(log_file)
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=FILE_BACKUPS, encoding="utf-8")
        )
    redact = RedactSecrets(secrets)
    for handler in handlers:
        handler.setFormatter(JSONFormatter())
        handler.addFilter(redact)
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):  # through the root's handlers, as JSON
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
