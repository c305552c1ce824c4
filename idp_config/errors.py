"""Errors of the realm-as-code tooling. Each names the file and the field at fault.

Keycloak's answers are told apart by what the officer can do about them:

- :class:`KeycloakUnreachable`: Keycloak could not be reached, or failed (a network error, a
  timeout, HTTP 5xx): try again later, or look at Keycloak's own log.
- :class:`KeycloakRefused`: Keycloak answered and refused (HTTP 4xx: the admin account or its
  password is wrong, it lacks a right, an object is refused by Keycloak's own validation, a
  conflict): trying again changes nothing; the detail gives the status and Keycloak's reason.

:func:`keycloak_errors` turns python-keycloak's exceptions into one of the two.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

from keycloak.exceptions import KeycloakError

from gateway_runtime.errors import GatewayError
from gateway_runtime.logs import redact


class IdpConfigError(GatewayError):
    code: ClassVar[str] = "idp-config-error"
    status_code: ClassVar[int] = 400
    message_vi: ClassVar[str] = "Tệp cấu hình realm không hợp lệ."
    message_en: ClassVar[str] = "The realm configuration file is not valid."


class RecordsFileError(IdpConfigError):
    """A staff or student records file that cannot be read as a whole: not UTF-8, too large, a
    wrong header, unreadable CSV. The detail names the file, the row and the field. (A bad row in
    a readable file is not an error: it is a :class:`~idp_config.records.RowProblem`, and the
    other rows are still processed.)"""

    code: ClassVar[str] = "records-file-invalid"
    message_vi: ClassVar[str] = "Tệp hồ sơ không hợp lệ."
    message_en: ClassVar[str] = "The records file is not valid."


class ConnectionSettingsError(IdpConfigError):
    """How to reach Keycloak (or the audit trail) is missing or not valid. The detail names the
    environment variables or the settings file, never a value."""

    code: ClassVar[str] = "connection-settings-invalid"
    message_vi: ClassVar[str] = "Thiếu hoặc sai cấu hình kết nối tới Keycloak."
    message_en: ClassVar[str] = "The settings to reach Keycloak are missing or not valid."


class ToolMissing(IdpConfigError):
    """A program the tooling runs is not on this machine (a JDK, Maven); the detail says how to
    install it."""

    code: ClassVar[str] = "tool-missing"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Thiếu một công cụ cần thiết trên máy này (JDK, Maven)."
    message_en: ClassVar[str] = "A required tool is missing on this machine (a JDK, Maven)."


class ExtensionBuildFailed(IdpConfigError):
    code: ClassVar[str] = "extension-build-failed"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Không dựng được phần mở rộng Keycloak của dự án."
    message_en: ClassVar[str] = "The project's Keycloak extensions could not be built."


class KeycloakUnreachable(IdpConfigError):
    code: ClassVar[str] = "keycloak-unreachable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = "Không kết nối được tới Keycloak, hoặc Keycloak gặp lỗi."
    message_en: ClassVar[str] = "Keycloak cannot be reached, or it failed."


class KeycloakRefused(IdpConfigError):
    code: ClassVar[str] = "keycloak-refused"
    #: Keycloak (upstream of the tooling) answered with a refusal that a retry will not change.
    status_code: ClassVar[int] = 502
    message_vi: ClassVar[str] = (
        "Keycloak từ chối yêu cầu (tài khoản quản trị, quyền, hoặc dữ liệu gửi đi)."
    )
    message_en: ClassVar[str] = (
        "Keycloak refused the request (the admin account, its rights, or what was sent)."
    )


#: The most of Keycloak's reason that is repeated in an error.
_REASON_CHARACTERS = 300


def _reason(exc: KeycloakError) -> str:
    """Keycloak's own words for a refusal: the message fields of its JSON answer, scrubbed of
    anything shaped like a citizen ID or a token (a validation error can echo a value sent)."""
    raw = exc.response_body or (exc.error_message if isinstance(exc.error_message, bytes) else b"")
    text = "" if raw else str(exc.error_message)
    if raw:
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if isinstance(body, dict):
            text = "; ".join(
                str(body[key])
                for key in ("errorMessage", "error_description", "error", "message")
                if isinstance(body.get(key), str)
            )
        elif not text:
            text = raw.decode("utf-8", errors="replace")
    scrubbed = redact(None, "error", {"event": text.strip() or "no reason given"})["event"]
    return str(scrubbed)[:_REASON_CHARACTERS]


def keycloak_error(exc: KeycloakError, doing: str) -> IdpConfigError:
    """The gateway's error for a failed call to Keycloak while ``doing`` something."""
    status = exc.response_code
    if status is not None and 400 <= status < 500:
        return KeycloakRefused(f"{doing}: HTTP {status}: {_reason(exc)}", status=status)
    if status is None:
        return KeycloakUnreachable(f"{doing}: {type(exc).__name__}")
    return KeycloakUnreachable(f"{doing}: HTTP {status}", status=status)


@contextmanager
def keycloak_errors(doing: str) -> Iterator[None]:
    """Raise python-keycloak's errors inside the block as :class:`KeycloakRefused` (4xx) or
    :class:`KeycloakUnreachable` (network, 5xx)."""
    try:
        yield
    except KeycloakError as exc:
        raise keycloak_error(exc, doing) from exc
