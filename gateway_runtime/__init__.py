"""What every HTTP service of the gateway shares, and nothing else.

One logging configuration (structlog, with a redaction processor that runs before any renderer), one
error envelope on the wire, request ids, and local verification of Keycloak access tokens. Each service
(``signing_service``, ``audit``) builds its FastAPI app from these pieces so that all of them behave alike.
"""

from gateway_runtime.errors import GatewayError
from gateway_runtime.http import install_http_runtime
from gateway_runtime.logs import configure_logging, redact
from gateway_runtime.tokens import (
    AccessTokenVerifier,
    Principal,
    TokenRejected,
)

__all__ = [
    "AccessTokenVerifier",
    "GatewayError",
    "Principal",
    "TokenRejected",
    "configure_logging",
    "install_http_runtime",
    "redact",
]
