"""One structlog configuration for every process of the gateway.

JSON lines in production (and whenever stdout is not a terminal), a readable console renderer for a
person at a terminal. The request id, actor and client are bound through contextvars by the HTTP
middleware, so every line of a request carries them.

Contract: :func:`redact` runs before any renderer and removes secrets (passwords, PINs, tokens, keys,
client secrets, ``Authorization`` headers), JWT-shaped strings and 12-digit citizen ID numbers from every
value, however deeply nested. Nothing the gateway logs may carry them in plain text.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

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
# Vietnamese citizen ID (CCCD): exactly 12 digits, not part of a longer number.
_CITIZEN_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")


def _scrub_text(text: str) -> str:
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: f"{m.group(1)} {REDACTED}", text)
    return _CITIZEN_ID.sub(REDACTED, text)


def _scrub(value: Any, depth: int = 0) -> Any:
    if depth > 8:
        return REDACTED
    if isinstance(value, str):
        return _scrub_text(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, Mapping):
        return {
            k: (REDACTED if isinstance(k, str) and _SECRET_KEY.search(k) else _scrub(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    return value


def redact(
    _logger: Any, _method: str, event_dict: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """structlog processor: remove secrets and citizen IDs from every key and value."""
    for key in list(event_dict):
        value = event_dict[key]
        if key not in {"event", "level", "timestamp", "logger"} and _SECRET_KEY.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _scrub(value)
    return event_dict


def configure_logging(*, json: bool | None = None, level: str = "INFO") -> None:
    """Configure structlog and the standard library's logging (uvicorn, httpx) the same way.

    ``json=None`` chooses JSON unless stdout is a terminal.
    """
    use_json = (not sys.stdout.isatty()) if json is None else json
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
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The access log repeats what the request middleware logs, with the raw query string.
    logging.getLogger("uvicorn.access").disabled = True
