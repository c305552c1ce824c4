"""The phone pages: pairing a device (passkey) and approving or refusing one signing request.

Nothing on them is a secret: the links are unguessable but not credentials (whoever holds one can
see the request and refuse it, never approve it: that takes the signer's passkey). Every pairing
and decision is an audit event.
"""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Request
from fastapi import Path as FastApiPath
from fastapi.responses import HTMLResponse, JSONResponse, Response

from audit import Actor, EventTag, Outcome
from gateway_runtime.errors import GatewayError
from signing_service.approvals import PAIRING, approval_reference
from signing_service.csc import CscDialect
from signing_service.deps import AnonymousAuditorDep, ServicesDep
from signing_service.errors import ApprovalNotFound, InvalidCscRequest
from signing_service.pages import APPROVAL_PAGE_HEADERS, approval_page, gone_page, pairing_page
from signing_service.routes.bodies import read_json

router = APIRouter(include_in_schema=False)

ApprovalId = Annotated[str, FastApiPath(pattern=r"^[A-Za-z0-9_-]{16,64}$")]
#: The pages a person opens take any link and answer a malformed one with a page, not JSON.
AnyLink = Annotated[str, FastApiPath(max_length=256)]
_LINK = re.compile(r"[A-Za-z0-9_-]{16,64}")


def _gone(error: GatewayError) -> HTMLResponse:
    return HTMLResponse(
        gone_page(error.message_vi, error.message_en),
        status_code=error.status_code,
        headers=APPROVAL_PAGE_HEADERS,
    )


@router.get("/approve/pair/{code}", response_class=HTMLResponse)
async def pairing(services: ServicesDep, code: AnyLink) -> HTMLResponse:
    try:
        if not _LINK.fullmatch(code):
            raise ApprovalNotFound("malformed link")
        pending = await services.approvals.pairing(code)
    except ApprovalNotFound as exc:
        return _gone(exc)
    return HTMLResponse(pairing_page(code, pending), headers=APPROVAL_PAGE_HEADERS)


@router.post("/approve/pair/{code}/options")
async def pairing_options(services: ServicesDep, code: ApprovalId) -> Response:
    options = await services.approvals.pairing_options(code)
    return Response(options, media_type="application/json", headers=APPROVAL_PAGE_HEADERS)


@router.post("/approve/pair/{code}", status_code=201)
async def pairing_finish(
    request: Request, services: ServicesDep, auditor: AnonymousAuditorDep, code: ApprovalId
) -> JSONResponse:
    body = await read_json(request, 64 * 1024)
    credential = body.get("credential")
    if not isinstance(credential, dict):
        raise InvalidCscRequest("missing credential")
    device = await services.approvals.finish_pairing(code, credential, str(body.get("label") or ""))
    await auditor.acting_as(Actor(name="device", subject=device.owner)).record(
        EventTag.SIGNING_DEVICE_REGISTER, target={"device_id": device.device_id[:64]}
    )
    return JSONResponse({"status": "paired"}, status_code=201, headers=APPROVAL_PAGE_HEADERS)


@router.get("/approve/{approval_id}", response_class=HTMLResponse)
async def approval(services: ServicesDep, approval_id: AnyLink) -> HTMLResponse:
    try:
        if not _LINK.fullmatch(approval_id):
            raise ApprovalNotFound("malformed link")
        pending = await services.approvals.pending(approval_id)
    except ApprovalNotFound as exc:
        return _gone(exc)
    return HTMLResponse(approval_page(pending), headers=APPROVAL_PAGE_HEADERS)


@router.post("/approve/{approval_id}/options")
async def approval_options(services: ServicesDep, approval_id: ApprovalId) -> Response:
    options = await services.approvals.approval_options(approval_id)
    return Response(options, media_type="application/json", headers=APPROVAL_PAGE_HEADERS)


async def _decided(
    request: Request,
    services: ServicesDep,
    auditor: AnonymousAuditorDep,
    approval_id: str,
    approved: bool,
) -> JSONResponse:
    approvals = services.approvals
    if approved:
        decided = await approvals.approve(approval_id, await read_json(request, 64 * 1024))
    else:
        decided = await approvals.deny(approval_id)
    verdict = "approved" if approved else "refused"
    what = (
        {"kind": PAIRING}
        if decided.kind == PAIRING
        else {
            "credential_id": decided.credential_id,
            "hashes_sha256": CscDialect.hashes_digest(decided.hashes),
        }
    )
    await auditor.acting_as(Actor(name="device", subject=decided.owner)).record(
        EventTag.SIGNING_APPROVAL_DECIDE,
        target={"approval": approval_reference(decided.approval_id), "decision": verdict, **what},
        outcome=Outcome.SUCCESS if approved else Outcome.FAILURE,
    )
    return JSONResponse({"status": verdict}, headers=APPROVAL_PAGE_HEADERS)


@router.post("/approve/{approval_id}")
async def approve(
    request: Request, services: ServicesDep, auditor: AnonymousAuditorDep, approval_id: ApprovalId
) -> JSONResponse:
    return await _decided(request, services, auditor, approval_id, approved=True)


@router.post("/approve/{approval_id}/deny")
async def deny(
    request: Request, services: ServicesDep, auditor: AnonymousAuditorDep, approval_id: ApprovalId
) -> JSONResponse:
    return await _decided(request, services, auditor, approval_id, approved=False)
