"""Errors of the organisation package."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class SchoolsListInvalid(GatewayError):
    code: ClassVar[str] = "schools-list-invalid"
    status_code: ClassVar[int] = 400
    message_vi: ClassVar[str] = "Danh sách trường không hợp lệ."
    message_en: ClassVar[str] = "The schools list is not valid."
