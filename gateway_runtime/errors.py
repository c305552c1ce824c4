"""The base error of the gateway and its wire form.

Every package derives its own errors from :class:`GatewayError`. Each carries a stable machine-readable
``code``, the HTTP status it maps to, and a message in Vietnamese (first) and English that a school IT
officer can act on. Messages never contain secrets, tokens or citizen ID numbers: they are written once,
here and in the subclasses, not assembled from user input.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GatewayError(Exception):
    """Base of every error the gateway reports to a client or an operator."""

    code: ClassVar[str] = "internal-error"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Lỗi nội bộ của hệ thống."
    message_en: ClassVar[str] = "Internal error."
    #: The OAuth 2.0 error code (RFC 6749 §5.2) for APIs that speak it (the CSC API does).
    oauth_error: ClassVar[str] = "server_error"

    def __init__(self, detail: str | None = None, **fields: Any) -> None:
        # ``detail`` is an operator-facing precision (a field name, a limit); never user data.
        super().__init__(detail or self.message_en)
        self.detail = detail
        self.fields = fields

    def __reduce__(self) -> tuple[Any, ...]:
        # Errors cross process boundaries (the document sandbox): rebuild them with their detail.
        return (_rebuild, (type(self), self.detail, self.fields))

    def envelope(self) -> dict[str, Any]:
        """The JSON body sent to clients: ``{"code", "message", "message_en", "detail"?}``."""
        body: dict[str, Any] = {
            "code": self.code,
            "message": self.message_vi,
            "message_en": self.message_en,
        }
        if self.detail:
            body["detail"] = self.detail
        body.update(self.fields)
        return body

    def authentication_challenge(self) -> str:
        """The ``WWW-Authenticate`` value sent with this error when it is a 401 (RFC 6750 §3)."""
        return 'Bearer error="invalid_token"'

    def diagnostics(self) -> str:
        """A multi-line explanation for a terminal, in the manner of sigstore's ``Error.diagnostics``."""
        lines = [f"{self.message_vi}", f"({self.message_en})"]
        if self.detail:
            lines.append(f"  {self.detail}")
        return "\n".join(lines)


def _rebuild(cls: type[GatewayError], detail: str | None, fields: dict[str, Any]) -> GatewayError:
    error = cls.__new__(cls)
    GatewayError.__init__(error, detail, **fields)
    return error
