"""Errors of the realm-as-code tooling. Each names the file and the field at fault."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class IdpConfigError(GatewayError):
    code: ClassVar[str] = "idp-config-error"
    status_code: ClassVar[int] = 400
    message_vi: ClassVar[str] = "Tệp cấu hình realm không hợp lệ."
    message_en: ClassVar[str] = "The realm configuration file is not valid."


class KeycloakUnreachable(IdpConfigError):
    code: ClassVar[str] = "keycloak-unreachable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = (
        "Không kết nối được tới Keycloak hoặc tài khoản quản trị bị từ chối."
    )
    message_en: ClassVar[str] = "Keycloak cannot be reached, or the admin account was refused."
