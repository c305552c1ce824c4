"""One structlog configuration for every process of the gateway.

JSON lines in production (and whenever stdout is not a terminal), a readable console renderer for a
person at a terminal. The request id, actor and client are bound through contextvars by the HTTP
middleware, so every line of a request carries them.

Contract: :func:`redact` runs before any renderer and removes secrets (passwords, PINs, tokens, keys,
client secrets, ``Authorization`` headers), JWT-shaped strings and 12-digit citizen ID numbers from every
value, however deeply nested. Nothing the gateway logs may carry them in plain text.

Redaction goes by field, then by token: a field named for a secret or a citizen ID is removed whole;
a field named for an identifier (``event_id``, ``request_id``, a ``*_sha256``, a hash) whose value has an
identifier's shape (hexadecimal, a UUID) is kept whole, so that a log line can be matched to the stored
event; in any other text, a citizen ID is a run of exactly 12 digits standing alone as a token (not
inside a longer run of letters and digits, such as a hexadecimal id).
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "[redacted]"

_SECRET_KEY = re.compile(
    r"(pass(word|wd|phrase)?|pin|secret|token|authorization|api[_-]?key|private[_-]?key|"
    r"cookie|credential|citizen[_-]?id|cccd|so_pin|user_pin)",
    re.IGNORECASE,
)
# A JWT (three base64url segments, the first starting with '{"' encoded) or a bearer credential.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*")
_BEARER = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}")
# Vietnamese citizen ID (CCCD): exactly 12 digits standing alone as a token (not within a longer run
# of letters and digits: a hexadecimal event id holds 12-digit runs by chance).
_CITIZEN_ID = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
# Fields that carry identifiers by design, and the shapes their values take.
_IDENTIFIER_KEY = re.compile(
    r"(^|_)(id|uid|sha256|digest|hash|fingerprint|event)$|^(trigger_event|correlation_id|subject)$",
    re.IGNORECASE,
)
_IDENTIFIER_VALUE = re.compile(
    r"[0-9a-fA-F]{16,128}|[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}|\d{13}-\d{1,20}"
)


def _scrub_text(text: str) -> str:
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _CITIZEN_ID.sub(REDACTED, text)


def _scrub_field(key: object, value: Any, depth: int) -> Any:
    """One field, judged by its name first."""
    if isinstance(key, str):
        if _SECRET_KEY.search(key):
            return REDACTED
        if (
            isinstance(value, str)
            and _IDENTIFIER_KEY.search(key)
            and _IDENTIFIER_VALUE.fullmatch(value)
        ):
            return value  # an identifier, whole: log lines stay matched to stored events
    return _scrub(value, depth + 1)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return REDACTED
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {k: _scrub_field(k, v, depth) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: remove secrets and citizen IDs from every key and value."""
    for key in list(event_dict):
        value = event_dict[key]
        if key in {"event", "level", "timestamp", "logger"}:
            event_dict[key] = _scrub(value)  # the message itself: token by token
        else:
            event_dict[key] = _scrub_field(key, value, -1)
    return event_dict


def configure_logging(
    *, json: bool | None = None, level: str = "INFO", stream: TextIO | None = None
) -> None:
    """Configure structlog and the standard library's logging (uvicorn, httpx) the same way,
    writing to ``stream`` (standard output by default).

    ``json=None`` chooses JSON unless the stream is a terminal.
    """
    stream = stream or sys.stdout
    use_json = (not stream.isatty()) if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        redact,
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if use_json
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The access log repeats what the request middleware logs, with the raw query string.
    logging.getLogger("uvicorn.access").disabled = True
