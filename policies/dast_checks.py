"""The tests behind the dynamic-scan rules, over what a DAST engine (wapiti, OWASP ZAP) reported for
one registered system.

Each engine's alerts are first named in one vocabulary (:data:`DAST_CATEGORIES`: ``xss``, ``sqli``...)
by its adapter in ``scanners/``, so a rule holds whichever engine found the problem. Each check
returns ``(subject, evidence)`` for every violation: the request's method, path and parameter, and
what the engine saw.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str]

#: The kinds of weakness the rules name, whatever engine found them.
DAST_CATEGORIES = frozenset(
    {
        "xss",
        "sqli",
        "open-redirect",
        "command-injection",
        "path-traversal",
        "crlf",
        "csrf",
        "xxe",
        "server-error",
    }
)


@dataclass(frozen=True)
class DastAlert:
    """One weakness an engine reported: where, through which parameter, and its evidence."""

    category: str
    method: str
    path: str
    parameter: str
    #: What the engine says it saw (its own words, cut to a line).
    info: str
    engine: str


@dataclass(frozen=True)
class DastObservation:
    url: str
    engine: str
    alerts: list[DastAlert] = field(default_factory=list)


DastCheck = Callable[[DastObservation, dict[str, Any]], Iterator[Finding]]
DAST_CHECKS: dict[str, DastCheck] = {}


def dast_check(function: DastCheck) -> DastCheck:
    DAST_CHECKS[function.__name__] = function
    return function


@dast_check
def dast_alerts(observation: DastObservation, params: dict[str, Any]) -> Iterator[Finding]:
    """Every alert of the categories the rule names, once per place (method, path, parameter)."""
    wanted = set(params.get("categories") or [])
    seen: set[tuple[str, str, str]] = set()
    for alert in observation.alerts:
        place = (alert.method, alert.path, alert.parameter)
        if alert.category not in wanted or place in seen:
            continue
        seen.add(place)
        where = f"{alert.method} {alert.path}"
        subject = f"{where} ({alert.parameter})" if alert.parameter else where
        yield subject, f"{alert.engine}: {alert.info}"[:300]
