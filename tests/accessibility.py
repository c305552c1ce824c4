"""axe-core (Deque's accessibility engine, bundled by ``axe-playwright-python``) run on a page that
Chromium shows, as an assistive technology would meet it.

:func:`serious_violations` lists what axe rates ``serious`` or ``critical`` under WCAG 2.1 A and AA
(and axe's best practices), one line each with the rule, its help text and the first offending
elements: the tests assert the list is empty, so a failure says what to fix.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Page

_AXE = Axe()
_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
}


def serious_violations(page: Page) -> list[str]:
    """axe's serious and critical violations on ``page`` as it is now."""
    results = _AXE.run(page, options=_OPTIONS)
    found: list[str] = []
    for violation in results.response["violations"]:
        if violation.get("impact") not in {"serious", "critical"}:
            continue
        nodes: list[dict[str, Any]] = violation.get("nodes", [])
        targets = ", ".join(" ".join(map(str, n.get("target", []))) for n in nodes[:3])
        found.append(f"{violation['id']} ({violation['impact']}): {violation['help']} — {targets}")
    return found
