"""Keep secrets out of logs (LOG-2): invitation tokens travel in URL paths, which
access logs print. This filter masks them before any handler writes the record."""

from __future__ import annotations

import logging
import re

_SECRET_PATHS = re.compile(r"(/einladung/)[^\s\"'?]+")


def redact(text: str) -> str:
    return _SECRET_PATHS.sub(r"\1…", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, ()
        return True


def install(logger_names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error", "litestar", "")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
