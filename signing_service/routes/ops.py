"""``GET /health``: the token, the audit stream and the document workers, each ``up`` or ``down``."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from signing_service.deps import ServicesDep

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    checks: dict[str, str] = {}
    try:
        await asyncio.to_thread(services.keystore.session)
        checks["key_store"] = "up"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        checks["key_store"] = "down"
    try:
        await services.redis.ping()
        checks["audit_stream"] = "up"
    except Exception:  # noqa: BLE001 - a health probe reports, it does not raise
        checks["audit_stream"] = "down"
    checks["document_workers"] = "up" if services.sandbox.healthy else "down"
    ok = all(v == "up" for v in checks.values())
    return JSONResponse(
        {"status": "ok" if ok else "degraded", **checks, "sandbox": services.sandbox.status()},
        status_code=200 if ok else 503,
    )
