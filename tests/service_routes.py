"""Every route the signing and audit services answer, read from the applications themselves (no
service started), for the tests that check what reaches a log."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

#: Path parameters that name a thing its reader must still be allowed to see; every other one is
#: a capability (whoever holds it may act: a phone's pairing code, an approval's id) and must never
#: reach a log.
NOT_SECRET = frozenset({"batch_id", "index", "event_id", "alert_id"})


def service_apps() -> list[FastAPI]:
    """The two services' applications, the dashboard's routes included, their lifespans not run."""
    from audit.app import create_app as audit_app
    from audit.routes.dashboard import ROUTERS
    from audit.settings import AuditSettings
    from signing_service.app import create_app as signing_app
    from signing_service.settings import SigningSettings

    audit = audit_app(AuditSettings.model_construct())
    for router in ROUTERS:  # installed only with a dashboard client and session key
        audit.include_router(router)
    return [signing_app(SigningSettings.model_construct()), audit]


def route_paths(app: FastAPI) -> list[str]:
    """The paths (``/approve/{approval_id}``) of ``app``'s routes, included routers' too."""

    def paths(routes: list[Any]) -> list[str]:
        found: list[str] = []
        for route in routes:
            inner = getattr(route, "original_router", None)  # an included router
            if inner is not None:
                found += paths(inner.routes)
            elif isinstance(route, APIRoute):
                found.append(route.path)
        return found

    return sorted(set(paths(app.routes)))
