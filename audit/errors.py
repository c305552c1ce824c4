"""Errors of the audit layer."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class AuditError(GatewayError):
    """Base of the audit layer's errors."""


class AuditUnavailable(AuditError):
    """No audit path can record the event: the operation that needed it must not go ahead."""

    code: ClassVar[str] = "audit-unavailable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = (
        "Không ghi được nhật ký kiểm toán; thao tác đã bị dừng để bảo đảm an toàn. Vui lòng thử lại sau."
    )
    message_en: ClassVar[str] = (
        "The audit log cannot record this operation, so it was stopped. Try again later."
    )


class ChainBroken(AuditError):
    """The stored hash chain does not verify."""

    code: ClassVar[str] = "audit-chain-broken"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = (
        "Chuỗi băm của nhật ký kiểm toán không khớp: nhật ký có thể đã bị sửa."
    )
    message_en: ClassVar[str] = (
        "The audit log hash chain does not verify: the log may have been altered."
    )


class ProofInvalid(AuditError):
    """An inclusion proof or a signed checkpoint does not verify."""

    code: ClassVar[str] = "audit-proof-invalid"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Bằng chứng nhật ký kiểm toán không hợp lệ."
    message_en: ClassVar[str] = "The audit log proof does not verify."


class NotCheckpointed(AuditError):
    code: ClassVar[str] = "not-checkpointed"
    status_code: ClassVar[int] = 409
    message_vi: ClassVar[str] = (
        "Sự kiện chưa được đưa vào điểm kiểm tra đã ký; hãy thử lại sau ít phút."
    )
    message_en: ClassVar[str] = (
        "The event is not yet covered by a signed checkpoint; try again shortly."
    )


class InvalidQuery(AuditError):
    code: ClassVar[str] = "invalid-query"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Điều kiện tìm kiếm không hợp lệ."
    message_en: ClassVar[str] = "The search condition is not valid."
