"""What the log's machine values mean, in words an officer reads (Vietnamese, or English by choice).

Event tags become what happened ("Đăng nhập thất bại"), outcomes say what they mean for the kind of
event (a verification whose verdict is ``TOTAL_FAILED`` is "không hợp lệ", in red, although the
verification itself ran: its outcome field says ``success``), severities and alert rules have names,
alert summaries (English in the log, as :mod:`audit.detection` writes them) are said again in
Vietnamese, and a target's fields are named. Values nobody has named yet are shown as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from audit.routes.dashboard.language import Text, t

__all__ = [
    "KNOWN_RULES",
    "Outcome",
    "alert_summary",
    "event_name",
    "outcome_of",
    "rule_name",
    "severity_name",
    "target_words",
]

_EVENTS: dict[str, Text] = {
    "signing:document:sign": Text("Ký số tài liệu", "Document signed"),
    "signing:document:verify": Text("Xác minh chữ ký", "Signature verified"),
    "signing:request:refused": Text("Từ chối yêu cầu ký/xác minh", "Signing request refused"),
    "signing:batch:create": Text("Tạo lô ký", "Signing batch created"),
    "signing:batch:complete": Text("Hoàn tất lô ký", "Signing batch completed"),
    "signing:credential:enrol": Text("Cấp khoá ký cá nhân", "Signing credential enrolled"),
    "signing:device:register": Text("Đăng ký điện thoại phê duyệt", "Approval phone registered"),
    "signing:approval:request": Text("Yêu cầu phê duyệt ký", "Signing approval requested"),
    "signing:approval:decide": Text("Phê duyệt/từ chối ký", "Signing approval decided"),
    "signing:hash:sign": Text("Ký từ xa (CSC)", "Remote signature (CSC)"),
    "audit:events:query": Text("Tra cứu nhật ký", "Audit log searched"),
    "idp:login:success": Text("Đăng nhập", "Login"),
    "idp:login:failure": Text("Đăng nhập thất bại", "Failed login"),
    "idp:token:issue": Text("Cấp mã truy cập cho ứng dụng", "Token issued to an application"),
    "idp:user:event": Text("Thao tác tài khoản", "Account activity"),
    "idp:admin:change": Text("Thay đổi quản trị", "Administrative change"),
    "idp:account:issue": Text("Cấp tài khoản", "Account issued"),
    "audit:alert:raise": Text("Cảnh báo an ninh", "Security alert"),
    "audit:alert:triage": Text("Xử lý cảnh báo", "Alert triage"),
    "audit:dashboard:login": Text("Đăng nhập trang kiểm toán", "Audit dashboard login"),
    "audit:report:export": Text("Xuất báo cáo", "Report exported"),
    "audit:log:archive": Text("Lưu trữ nhật ký hết hạn", "Expired log archived"),
    "scan:finding:open": Text("Phát hiện mới khi quét", "Scan finding opened"),
    "scan:finding:fixed": Text("Phát hiện đã khắc phục", "Scan finding fixed"),
    "scan:finding:accepted": Text("Phát hiện được chấp nhận", "Scan finding accepted"),
    "scan:run:complete": Text("Hoàn tất lượt quét", "Scan completed"),
    "audit:scan:request": Text("Yêu cầu quét", "Scan requested"),
}

_SEVERITIES: dict[str, Text] = {
    "critical": Text("Nghiêm trọng", "Critical"),
    "high": Text("Cao", "High"),
    "medium": Text("Trung bình", "Medium"),
    "low": Text("Thấp", "Low"),
    "info": Text("Thông tin", "Information"),
}
#: Most urgent first (for sorting).
SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")

_RULES: dict[str, Text] = {
    "brute_force_account": Text("Dò mật khẩu một tài khoản", "Password guessing on one account"),
    "password_spraying": Text(
        "Dò mật khẩu nhiều tài khoản từ một địa chỉ", "Password spraying from one address"
    ),
    "unusual_hour_login": Text("Đăng nhập ngoài giờ", "Login at an unusual hour"),
    "signing_burst": Text("Ký số dồn dập", "Burst of signatures"),
    "verification_failures": Text(
        "Một tài liệu nhiều lần xác minh không hợp lệ", "Repeated failed verifications"
    ),
    "admin_privilege_grant": Text("Cấp quyền qua API quản trị", "Role granted by an administrator"),
    "event_time_skew": Text("Thời điểm sự kiện bất thường", "Event time far from arrival"),
    "unauthenticated_event": Text("Sự kiện không xác thực bị cách ly", "Unauthenticated events"),
}

#: The rules the detector raises alerts by (the alerts page's filter offers each of them).
KNOWN_RULES = tuple(_RULES)

#: The summaries :mod:`audit.detection` writes, said again in Vietnamese (numbers kept).
_SUMMARIES: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"^(\d+) failed logins in (\d+) s$"), r"\1 lần đăng nhập sai trong \2 giây"),
    (re.compile(r"^(\d+) accounts failed from one address$"), r"\1 tài khoản đăng nhập sai từ một địa chỉ"),
    (re.compile(r"^login at (\d\d:\d\d) local time$"), r"đăng nhập lúc \1 (giờ Việt Nam)"),
    (re.compile(r"^(\d+) signatures in (\d+) s$"), r"\1 chữ ký trong \2 giây"),
    (re.compile(r"^(\d+) failed verifications of one document$"), r"\1 lần xác minh không hợp lệ cùng một tài liệu"),
    (re.compile(r"^role granted through the admin API$"), "cấp vai trò qua API quản trị"),
    (re.compile(r"^event dated (\S+) received (\S+)$"), r"sự kiện ghi thời điểm \1, nhận lúc \2"),
    (re.compile(r"^(\d+) stream entries quarantined \((.+)\)$"), r"\1 bản ghi bị cách ly (\2)"),
)  # fmt: skip

_FIELDS: dict[str, Text] = {
    "indication": Text("kết quả", "verdict"),
    "document_sha256": Text("tài liệu", "document"),
    "signed_sha256": Text("bản đã ký", "signed copy"),
    "reason": Text("lý do", "reason"),
    "client_id": Text("ứng dụng", "application"),
    "rule": Text("quy tắc", "rule"),
    "severity": Text("mức độ", "severity"),
    "summary": Text("mô tả", "summary"),
    "channel": Text("kênh", "channel"),
    "results": Text("số kết quả", "results"),
    "operation": Text("thao tác", "operation"),
    "resource_type": Text("loại đối tượng", "resource"),
    "resource_path": Text("đối tượng", "path"),
    "level": Text("mức chữ ký", "signature level"),
    "documents": Text("số tài liệu", "documents"),
    "batch_id": Text("lô", "batch"),
    "action": Text("hành động", "action"),
    "note": Text("ghi chú", "note"),
}

_VERDICTS: dict[str, tuple[Text, str]] = {
    "TOTAL_PASSED": (Text("hợp lệ", "valid"), "success"),
    "TOTAL_FAILED": (Text("không hợp lệ", "not valid"), "failure"),
    "INDETERMINATE": (Text("chưa xác định được", "indeterminate"), "warning"),
}


@dataclass(frozen=True)
class Outcome:
    """What an event's outcome means, and how it is coloured (``success``, ``failure``, ``warning``)."""

    words: str
    css: str


def event_name(tag: object) -> str:
    known = _EVENTS.get(str(tag))
    return str(known) if known is not None else str(tag)


def severity_name(severity: object) -> str:
    known = _SEVERITIES.get(str(severity))
    return str(known) if known is not None else str(severity or "")


def rule_name(rule: object) -> str:
    known = _RULES.get(str(rule))
    return str(known) if known is not None else str(rule or "")


def alert_summary(summary: object) -> str:
    text = str(summary or "")
    if t("vi", "en") == "en":
        return text
    for pattern, vietnamese in _SUMMARIES:
        if pattern.match(text):
            return pattern.sub(vietnamese, text)
    return text


def outcome_of(tag: object, outcome: object, target: Mapping[str, Any]) -> Outcome:
    """The outcome as it matters: a verification by its verdict, an alert as raised, a refusal as
    refused, anything else as success or failure."""
    if str(tag) == "signing:document:verify":
        verdict = _VERDICTS.get(str(target.get("indication")))
        if verdict is not None:
            return Outcome(str(verdict[0]), verdict[1])
    if str(tag) == "audit:alert:raise":
        return Outcome(t("đã cảnh báo", "raised"), "failure")
    if str(tag) == "signing:request:refused":
        return Outcome(t("bị từ chối", "refused"), "failure")
    if str(outcome) == "success":
        return Outcome(t("thành công", "success"), "success")
    if str(outcome) == "failure":
        return Outcome(t("thất bại", "failure"), "failure")
    return Outcome(str(outcome), "")


def target_words(target: Mapping[str, Any], *, limit: int = 200) -> str:
    """A target's fields as "name: value" in words, long values cut (hashes to 12 characters)."""
    parts = []
    for key, value in sorted(target.items()):
        label = _FIELDS.get(key)
        shown = str(value)
        if key.endswith("sha256") or key == "trigger_event":
            shown = shown[:12] + "…"
        elif key == "severity":
            shown = severity_name(value)
        elif key == "rule":
            shown = rule_name(value)
        elif key == "indication" and str(value) in _VERDICTS:
            shown = str(_VERDICTS[str(value)][0])
        parts.append(f"{label if label is not None else key}: {shown[:40]}")
    return "; ".join(parts)[:limit]
