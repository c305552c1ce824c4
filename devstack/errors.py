"""Errors of the local stack: each tells the IT officer what failed and where to look."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class StackError(GatewayError):
    code: ClassVar[str] = "stack-error"
    message_vi: ClassVar[str] = "Không khởi động được một thành phần của cổng."
    message_en: ClassVar[str] = "A component of the gateway could not be started."


class InstallFailed(StackError):
    code: ClassVar[str] = "install-failed"
    message_vi: ClassVar[str] = "Không cài đặt được một thành phần cần thiết."
    message_en: ClassVar[str] = "A required component could not be installed."


class ServiceDidNotStart(StackError):
    code: ClassVar[str] = "service-did-not-start"
    message_vi: ClassVar[str] = "Một dịch vụ không sẵn sàng trong thời gian cho phép."
    message_en: ClassVar[str] = "A service did not become ready in time."
