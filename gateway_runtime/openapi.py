"""What the services' OpenAPI documents say about what every route shares: the error envelope, the
statuses it comes with, and the bearer token.

FastAPI describes a route's success and, for a route with parameters, a 422 in its own validation
format; the gateway answers every error with one envelope (``gateway_runtime.errors``) and with the
statuses its routes really use. Routers declare those with :func:`error_responses`, so that a client
generated from the document, and a tool that checks the services against it (schemathesis, in the
tests), find what the services do.
"""

from __future__ import annotations

from typing import Any

from fastapi.security import HTTPBearer
from pydantic import BaseModel, ConfigDict, Field


class ErrorEnvelope(BaseModel):
    """Every error: a stable code, a message in Vietnamese and in English, and sometimes a precision
    (a field, a limit; never what was sent). Some errors add fields of their own (the CSC API's
    OAuth ``error`` and ``error_description``, a batch's id)."""

    model_config = ConfigDict(extra="allow")

    code: str = Field(examples=["invalid-request"])
    message: str = Field(examples=["Yêu cầu không hợp lệ."])
    message_en: str = Field(examples=["The request is not valid."])
    detail: str | None = None


_MEANING = {
    400: "The request is malformed (its reason in `detail`)",
    401: "No valid access token (`WWW-Authenticate` says why)",
    403: "The token's holder may not do this",
    404: "No such resource",
    409: "The resource is not in a state that allows this",
    413: "The body is larger than the service's limit",
    415: "The body is not of a media type this route reads",
    422: "A parameter or the document is not acceptable (which one, in `detail`)",
    429: "Too many requests: try again later",
    502: "A service this one depends on answered wrongly",
    503: "A service this one depends on is unavailable (the audit log, the HSM): nothing was done",
}

#: Statuses every route can answer with (its caller's token, a service it needs).
AUTHENTICATED = (401, 403, 503)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses`` of a route or router for these error statuses, each with the envelope."""
    return {
        status: {"model": ErrorEnvelope, "description": _MEANING[status]}
        for status in sorted(set(statuses))
    }


#: The bearer token (a Keycloak access token) the API routes take: declared in the document only;
#: :func:`gateway_runtime.http.current_principal` verifies it.
BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="keycloak",
    description="An access token of the education realm (Keycloak), as `Authorization: Bearer`.",
)
