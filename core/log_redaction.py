"""Keep secrets out of logs (LOG-2): invitation tokens travel in URL paths, which
access logs print. This filter masks them before any handler writes the record."""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_SECRET_PATHS = re.compile(r"(/einladung/)[^\s\"'?]+")


def redact(text: str) -> str:
    return _SECRET_PATHS.sub(r"\1…", text)


class RedactSecrets(logging.Filter):
    """Masks the message and each argument, keeping the arguments' shape: formatters such
    as uvicorn's access log unpack `record.args` themselves (a tuple of five), so
    replacing them by the formatted text broke every access line that needed masking."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_redact_value(value) for value in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {key: _redact_value(value) for key, value in record.args.items()}
        return True


def _redact_value(value: object) -> object:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, (int, float)) or value is None:
        return value  # keeps %d and friends working
    text = str(value)  # a URL or request object printed with %s
    cleaned = redact(text)
    return value if cleaned == text else cleaned


def install(logger_names: tuple[str, ...] = ("uvicorn.access", "uvicorn.error", "litestar", "")) -> None:
    for name in logger_names:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
