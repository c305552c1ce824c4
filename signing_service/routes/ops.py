"""``GET /health``: the token, the audit stream and the document workers, each ``up`` or ``down``.

``GET /health/live``: only this replica's own parts (its token session, its document workers), for a
balancer choosing between replicas. Redis is shared by every replica: while it fails over, each one
still signs (its audit events wait in its spool), and taking them all out would turn a Redis
failover into an outage of signing.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from signing_service.deps import ServicesDep
from signing_service.services import Services

router = APIRouter(tags=["ops"])


async def _own_parts(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(services.keystore.session)
        checks["key_store"] = "up"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        checks["key_store"] = "down"
    checks["document_workers"] = "up" if services.sandbox.healthy else "down"
    return checks


@router.get("/health/live")
async def live(services: ServicesDep) -> JSONResponse:
    checks = await _own_parts(services)
    ok = all(v == "up" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks}, status_code=200 if ok else 503
    )


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    checks = await _own_parts(services)
    try:
        await services.redis.ping()
        checks["audit_stream"] = "up"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        checks["audit_stream"] = "down"
    ok = all(v == "up" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks, "sandbox": services.sandbox.status()},
        status_code=200 if ok else 503,
    )
