"""``GET /health``: whether the stream is being ingested (``up``) or not (``down``, 503)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from audit.deps import ServicesDep

router = APIRouter(tags=["ops"])


@router.get("/health")
async def health(services: ServicesDep) -> JSONResponse:
    ok = services.ingestor.healthy
    return JSONResponse(
        {"status": "ok" if ok else "degraded", "ingest": "up" if ok else "down"},
        status_code=200 if ok else 503,
    )
