"""Logging for `serve` and `worker`: one handler on the root logger, text or JSON
(PARTNERPORTAL_LOG_FORMAT), secrets masked (LOG-2) on every record that reaches it,
and the scheduler's routine lines ("Running job ...", every few seconds) left out."""

from __future__ import annotations

import json
import logging
from datetime import datetime, timezone

from core.log_redaction import RedactSecrets

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Fields a record may carry (logging's `extra=`) that the JSON line includes.
EXTRA_FIELDS = ("request_id", "method", "path", "status", "duration_ms", "client")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        line.update({name: getattr(record, name) for name in EXTRA_FIELDS if hasattr(record, name)})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if log_format == "json" else logging.Formatter(TEXT_FORMAT))
    handler.addFilter(RedactSecrets())
    handler.set_name("partnerportal")
    root = logging.getLogger()
    for existing in [h for h in root.handlers if h.get_name() == "partnerportal"]:
        root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    # Libraries that install their own handlers would print twice, in another format.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "piccolo", "apscheduler"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
    logging.getLogger("apscheduler").setLevel(logging.WARNING)
    # One line per request comes from web/request_log.py, with its request id.
    logging.getLogger("uvicorn.access").disabled = True
