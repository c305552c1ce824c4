"""Errors of the policy layer."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class PolicyError(GatewayError):
    """Base of the policy layer's errors."""


class PolicyFileError(PolicyError):
    code: ClassVar[str] = "policy-file-invalid"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Tệp chính sách không hợp lệ."
    message_en: ClassVar[str] = "A policy file is not valid."


class PolicyViolation(PolicyError):
    """A configuration breaks one or more rules; ``detail`` lists every one."""

    code: ClassVar[str] = "policy-violation"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Cấu hình vi phạm chính sách an toàn thông tin; không áp dụng."
    message_en: ClassVar[str] = (
        "The configuration breaks the security policies; nothing was applied."
    )
