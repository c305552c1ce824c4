"""Errors of the scanners."""

from __future__ import annotations

import socket
from enum import StrEnum
from typing import ClassVar

from gateway_runtime.errors import GatewayError


class ScannerError(GatewayError):
    """Base of the scanners' errors."""


class ScanTargetUnreachable(ScannerError):
    code: ClassVar[str] = "scan-target-unreachable"
    status_code: ClassVar[int] = 502
    message_vi: ClassVar[str] = "Không đọc được cấu hình của hệ thống cần quét."
    message_en: ClassVar[str] = "The configuration of the system to scan could not be read."


class Unreachable(StrEnum):
    """Why a registered system could not be scanned, as a person needs to know it."""

    NAME_NOT_RESOLVED = "name-not-resolved"
    CONNECTION_REFUSED = "connection-refused"
    TIMED_OUT = "timed-out"
    TLS_HANDSHAKE_FAILED = "tls-handshake-failed"
    OTHER = "other"

    @property
    def words(self) -> str:
        return _UNREACHABLE_WORDS[self]


_UNREACHABLE_WORDS = {
    Unreachable.NAME_NOT_RESOLVED: "không phân giải được tên miền / the name does not resolve",
    Unreachable.CONNECTION_REFUSED: "máy chủ từ chối kết nối / the connection was refused",
    Unreachable.TIMED_OUT: "hết thời gian chờ / timed out",
    Unreachable.TLS_HANDSHAKE_FAILED: "bắt tay TLS thất bại / the TLS handshake failed",
    Unreachable.OTHER: "không kết nối được / could not connect",
}


class SystemUnreachable(ScanTargetUnreachable):
    """A registered system that could not be reached: one line for a person, the rest for the log."""

    code: ClassVar[str] = "scan-system-unreachable"
    message_vi: ClassVar[str] = "Không kết nối được tới hệ thống cần quét."
    message_en: ClassVar[str] = "The system to scan could not be reached."

    def __init__(self, reason: Unreachable, detail: str | None = None) -> None:
        super().__init__(detail)
        self.reason = reason


def unreachable_reason(exc: BaseException) -> Unreachable:
    """Why a connection failed, from the exception and what caused it."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, socket.gaierror):
            return Unreachable.NAME_NOT_RESOLVED
        if isinstance(seen, ConnectionRefusedError):
            return Unreachable.CONNECTION_REFUSED
        if isinstance(seen, TimeoutError) or "Timeout" in type(seen).__name__:
            return Unreachable.TIMED_OUT
        text = str(seen).lower()
        if "name or service not known" in text or "nodename nor servname" in text:
            return Unreachable.NAME_NOT_RESOLVED
        if "connection refused" in text:
            return Unreachable.CONNECTION_REFUSED
        seen = seen.__cause__ or seen.__context__
    return Unreachable.OTHER
