"""``GET /health``: the token (its seal key found), the audit stream and the document workers, each ``up`` or ``down``.

``GET /health/live``: only this replica's own parts (its token session, its document workers), for a
balancer choosing between replicas. Redis is shared by every replica: while it fails over, each one
still signs (its audit events wait in its spool), and taking them all out would turn a Redis
failover into an outage of signing.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from signing_service.deps import ServicesDep
from signing_service.services import Services

router = APIRouter(tags=["ops"])


async def _own_parts(services: Services) -> dict[str, str]:
    checks: dict[str, str] = {}
    try:
        # Asks the token itself (a session kept from before an HSM restart says nothing), in turn
        # with the signatures; a session the token ended is replaced on the way.
        found = await services.gate.run(services.keystore.has_key, services.settings.key_label)
        checks["key_store"] = "up" if found else "down"
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
