"""Errors of the signing service; each maps to a 4xx or 5xx with a stable code."""

from __future__ import annotations

from typing import ClassVar

from gateway_runtime.errors import GatewayError


class SigningError(GatewayError):
    """Base of the signing service's errors."""


class InvalidDocument(SigningError):
    code: ClassVar[str] = "invalid-pdf"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Tệp gửi lên không phải là tài liệu PDF hợp lệ."
    message_en: ClassVar[str] = "The uploaded file is not a valid PDF document."


class EncryptedDocument(SigningError):
    code: ClassVar[str] = "encrypted-pdf"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Tài liệu PDF đã được mã hoá; hãy gửi bản không đặt mật khẩu."
    message_en: ClassVar[str] = "The PDF is encrypted; send a copy without a password."


class DocumentTooLarge(SigningError):
    code: ClassVar[str] = "document-too-large"
    status_code: ClassVar[int] = 413
    message_vi: ClassVar[str] = "Tài liệu vượt quá dung lượng cho phép."
    message_en: ClassVar[str] = "The document is larger than the allowed size."


class UnsupportedMediaType(SigningError):
    code: ClassVar[str] = "unsupported-media-type"
    status_code: ClassVar[int] = 415
    message_vi: ClassVar[str] = "Chỉ nhận tài liệu PDF (Content-Type: application/pdf)."
    message_en: ClassVar[str] = "Only PDF documents are accepted (Content-Type: application/pdf)."


class SigningFailed(SigningError):
    code: ClassVar[str] = "signing-failed"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Ký tài liệu không thành công."
    message_en: ClassVar[str] = "The document could not be signed."


class TimestampUnavailable(SigningError):
    code: ClassVar[str] = "timestamp-unavailable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = "Không lấy được dấu thời gian từ máy chủ cấp dấu thời gian (TSA)."
    message_en: ClassVar[str] = "The timestamp authority (TSA) did not answer."


class StampTextTooLong(SigningError):
    code: ClassVar[str] = "stamp-text-too-long"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Nội dung hiển thị trên dấu chữ ký quá dài."
    message_en: ClassVar[str] = "The text of the visible stamp is too long."


class StampTitleNotAccepted(SigningError):
    code: ClassVar[str] = "stamp-title-not-accepted"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = (
        "Không nhận chức vụ tự nhập: dấu cơ quan không có chức vụ, còn chức vụ của người ký "
        "lấy từ chứng thư số của họ."
    )
    message_en: ClassVar[str] = (
        "A free-text title is not accepted: an organisation seal has no title, and a person's "
        "title comes from their certificate."
    )


class StampUnitNotAccepted(SigningError):
    code: ClassVar[str] = "stamp-unit-not-accepted"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = (
        "Không nhận đơn vị tự nhập: đơn vị trên dấu là đơn vị của tài khoản người ký (mã đơn vị "
        "trong hệ thống đăng nhập), theo danh mục trường của Sở."
    )
    message_en: ClassVar[str] = (
        "A free-text unit is not accepted: the stamp shows the unit of the signer's account (its "
        "unit code in the realm), named from the department's schools list."
    )


class DocumentWorkerLost(SigningError):
    code: ClassVar[str] = "document-worker-lost"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = "Tiến trình đọc tài liệu bị dừng giữa chừng; vui lòng gửi lại."
    message_en: ClassVar[str] = "The process reading the document stopped; please send it again."


class BatchNotFound(SigningError):
    code: ClassVar[str] = "batch-not-found"
    status_code: ClassVar[int] = 404
    message_vi: ClassVar[str] = (
        "Không tìm thấy lô ký hoặc tài liệu (hoặc không thuộc quyền của bạn)."
    )
    message_en: ClassVar[str] = "No such batch or document (or it is not yours)."


class InvalidBatch(SigningError):
    code: ClassVar[str] = "invalid-batch"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = "Yêu cầu ký theo lô không hợp lệ."
    message_en: ClassVar[str] = "The batch request is not valid."


class IdempotencyKeyRequired(SigningError):
    code: ClassVar[str] = "idempotency-key-required"
    status_code: ClassVar[int] = 400
    message_vi: ClassVar[str] = (
        "Cần tiêu đề Idempotency-Key (8 đến 128 ký tự) để gửi lại lô ký mà không ký hai lần."
    )
    message_en: ClassVar[str] = (
        "An Idempotency-Key header (8 to 128 characters) is required, so that a batch can be "
        "sent again without being signed twice."
    )


class IdempotencyKeyReused(SigningError):
    code: ClassVar[str] = "idempotency-key-reused"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = (
        "Idempotency-Key này đã dùng cho một lô ký khác (tài liệu hoặc tuỳ chọn khác); "
        "hãy dùng khoá mới cho lô mới."
    )
    message_en: ClassVar[str] = (
        "This Idempotency-Key was used for a different batch (other documents or options); "
        "use a new key for a new batch."
    )


class BatchDocumentNotReady(SigningError):
    code: ClassVar[str] = "batch-document-not-ready"
    status_code: ClassVar[int] = 409
    message_vi: ClassVar[str] = "Tài liệu này của lô chưa được ký (đang chờ hoặc không ký được)."
    message_en: ClassVar[str] = "This document of the batch is not signed (pending, or it failed)."


class DocumentNotSignable(SigningError):
    code: ClassVar[str] = "document-not-signable"
    status_code: ClassVar[int] = 409
    message_vi: ClassVar[str] = (
        "Tài liệu ở trạng thái không cho phép ký thêm (ví dụ đã được chứng thực khoá nội dung)."
    )
    message_en: ClassVar[str] = (
        "The document's state does not allow this signature (for example, it is already certified)."
    )


class RevocationUnavailable(SigningError):
    code: ClassVar[str] = "revocation-unavailable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = (
        "Không lấy được thông tin thu hồi chứng thư số (OCSP/CRL) để ký mức B-LT/B-LTA."
    )
    message_en: ClassVar[str] = (
        "Revocation data (OCSP/CRL) for a B-LT/B-LTA signature could not be obtained."
    )


class DocumentTooComplex(SigningError):
    code: ClassVar[str] = "document-too-complex"
    status_code: ClassVar[int] = 422
    message_vi: ClassVar[str] = (
        "Tài liệu quá phức tạp hoặc có cấu trúc bất thường (vượt giới hạn bộ nhớ, thời gian hoặc số đối tượng)."
    )
    message_en: ClassVar[str] = (
        "The document is too complex or malformed (it exceeds the memory, time or object limits)."
    )


# -- personal credentials, remote signing (CSC) and approvals ---------------------------------
class CertificateAuthorityUnavailable(SigningError):
    code: ClassVar[str] = "ca-unavailable"
    status_code: ClassVar[int] = 503
    message_vi: ClassVar[str] = "Không nhận được chứng thư số từ tổ chức chứng thực (CA)."
    message_en: ClassVar[str] = "No certificate could be obtained from the certification authority."


class CredentialLimitReached(SigningError):
    code: ClassVar[str] = "credential-limit"
    status_code: ClassVar[int] = 409
    message_vi: ClassVar[str] = "Tài khoản đã có đủ số khoá ký cá nhân cho phép."
    message_en: ClassVar[str] = "The account already holds the allowed number of signing keys."


class CredentialNotFound(SigningError):
    code: ClassVar[str] = "credential-not-found"
    status_code: ClassVar[int] = 404
    oauth_error: ClassVar[str] = "invalid_request"
    message_vi: ClassVar[str] = "Không tìm thấy khoá ký (hoặc không thuộc quyền của bạn)."
    message_en: ClassVar[str] = "No such signing credential (or it is not yours)."


class InvalidCscRequest(SigningError):
    code: ClassVar[str] = "invalid-request"
    status_code: ClassVar[int] = 400
    oauth_error: ClassVar[str] = "invalid_request"
    message_vi: ClassVar[str] = "Yêu cầu ký từ xa không hợp lệ."
    message_en: ClassVar[str] = "The remote signing request is not valid."


class NoApprovalDevice(SigningError):
    code: ClassVar[str] = "no-approval-device"
    status_code: ClassVar[int] = 409
    oauth_error: ClassVar[str] = "access_denied"
    message_vi: ClassVar[str] = (
        "Chưa đăng ký thiết bị phê duyệt; hãy ghép điện thoại trước khi ký từ xa."
    )
    message_en: ClassVar[str] = (
        "No approval device is registered; pair a phone before signing remotely."
    )


class ApprovalNotFound(SigningError):
    code: ClassVar[str] = "approval-not-found"
    status_code: ClassVar[int] = 404
    message_vi: ClassVar[str] = "Yêu cầu phê duyệt không tồn tại hoặc đã hết hạn."
    message_en: ClassVar[str] = "No such approval request, or it has expired."


class PairingNotConfirmed(SigningError):
    code: ClassVar[str] = "pairing-not-confirmed"
    status_code: ClassVar[int] = 409
    message_vi: ClassVar[str] = (
        "Việc ghép thiết bị này chưa được xác nhận: hãy phê duyệt trên điện thoại đã đăng ký "
        "(so mã đối chiếu), hoặc đăng nhập lại với mã OTP rồi tạo liên kết mới."
    )
    message_en: ClassVar[str] = (
        "This pairing is not confirmed yet: approve it on a phone already registered (compare "
        "the check code), or log in again with a one-time code and make a new link."
    )


class ApprovalRefused(SigningError):
    code: ClassVar[str] = "approval-refused"
    status_code: ClassVar[int] = 403
    oauth_error: ClassVar[str] = "access_denied"
    message_vi: ClassVar[str] = "Người ký không phê duyệt (từ chối hoặc hết thời gian chờ)."
    message_en: ClassVar[str] = "The signer did not approve (refused, or the time ran out)."


class ApprovalFailed(SigningError):
    code: ClassVar[str] = "approval-failed"
    status_code: ClassVar[int] = 400
    message_vi: ClassVar[str] = "Xác nhận trên thiết bị không hợp lệ."
    message_en: ClassVar[str] = "The confirmation from the device is not valid."


class InvalidActivationData(SigningError):
    code: ClassVar[str] = "invalid-sad"
    status_code: ClassVar[int] = 400
    oauth_error: ClassVar[str] = "invalid_request"
    message_vi: ClassVar[str] = (
        "Dữ liệu kích hoạt chữ ký (SAD) không hợp lệ, đã dùng hoặc không bao gồm giá trị băm này."
    )
    message_en: ClassVar[str] = (
        "The signature activation data (SAD) is invalid, used, or does not cover this hash."
    )
