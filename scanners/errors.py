"""Errors of the scanners."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class ScannerError(GatewayError):
    """Base of the scanners' errors."""


class ScanTargetUnreachable(ScannerError):
    code: ClassVar[str] = "scan-target-unreachable"
    status_code: ClassVar[int] = 502
    message_vi: ClassVar[str] = "Không đọc được cấu hình của hệ thống cần quét."
    message_en: ClassVar[str] = "The configuration of the system to scan could not be read."
