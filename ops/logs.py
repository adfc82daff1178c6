"""Log formatting: one JSON object per line in production, readable text in development.

A log call may pass structured fields as `extra={"fields": {...}}`; both formats print them, and any line written
while a request is served carries that request's id (set by ops.middleware). Callers never put a secret or token
in a message or a field (tests/test_log_secrets.py checks the OAuth flows).
"""

import json
import logging
import time
from contextvars import ContextVar

current_request_id: ContextVar[str | None] = ContextVar("current_request_id", default=None)

_encoder = json.JSONEncoder(default=str)  # one encoder for every line: json.dumps(default=...) makes one per call


def _timestamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class JsonFormatter(logging.Formatter):
    """{"time", "level", "logger", "message", ...fields} on one line."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        fields = getattr(record, "fields", None)
        if fields:
            entry.update(fields)
        if "request_id" not in entry:
            request_id = current_request_id.get()
            if request_id is not None:
                entry["request_id"] = request_id
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return _encoder.encode(entry)


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message key=value ...` for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{key}={value}" for key, value in fields.items())
        elif (request_id := current_request_id.get()) is not None:
            line += f" request_id={request_id}"
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


class OneLine(logging.Filter):
    """A refused Host header (django.security.DisallowedHost) as one warning line: Django logs it at error level
    with a traceback, though the caller's mistake or probe is neither an error nor news about our code."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.levelno, record.levelname = logging.WARNING, "WARNING"
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True
