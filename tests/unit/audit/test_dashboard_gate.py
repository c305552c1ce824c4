"""Every page of the dashboard passes the one gate, :data:`audit.deps.CurrentOfficer`, and no page
can read the session on its own (the behaviour against the running service:
``tests/integration/test_audit_dashboard_gate.py``)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from starlette.requests import Request

from audit.deps import current_officer
from audit.routes.dashboard import ROUTERS, language, session

#: The pages that come before the gate: logging in and out.
#: The language switch is a preference cookie: it reads and shows nothing of the log.
UNGATED = {"/dashboard/login", "/dashboard/callback", "/dashboard/logout", "/dashboard/language"}


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for dependency in dependant.dependencies:
        if dependency.call is not None:
            yield dependency.call
        yield from _calls(dependency)


def _routes() -> list[APIRoute]:
    return [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]


def test_every_dashboard_page_but_login_and_logout_depends_on_the_gate() -> None:
    gated = [route for route in _routes() if route.path not in UNGATED]
    assert len(gated) >= 11  # overview, events, export, timeline, alerts, triage, reports...
    for route in gated:
        assert current_officer in set(_calls(route.dependant)), route.path


def test_no_gated_page_touches_the_request_itself() -> None:
    """A handler without the request cannot read the session: a copied login check is impossible."""
    for route in _routes():
        if route.path in UNGATED:
            continue
        parameters = inspect.signature(route.endpoint).parameters.values()
        assert not any(p.annotation in (Request, "Request") for p in parameters), route.path


def test_the_ungated_router_holds_only_login_and_logout() -> None:
    paths = {route.path for route in session.router.routes if isinstance(route, APIRoute)}
    switch = {route.path for route in language.router.routes if isinstance(route, APIRoute)}
    assert paths | switch == UNGATED
