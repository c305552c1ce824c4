"""The signing service's pages for people: the public verification page and the phone pages.

Rendered from Jinja2 templates (``signing_service/templates/``) with autoescaping: nothing a caller
sends reaches a page unescaped. Vietnamese first, English by the public page's switch
(:mod:`gateway_runtime.language`), readable on a phone. The pages load nothing; their
one style block and (approval pages) one script are allowed by their hashes in the
Content-Security-Policy, not by ``'unsafe-inline'``. The phone pages' script is the WebAuthn
ceremony and talks only to this origin; nothing on them is a secret: they show what the signer is
asked to approve, and only their passkey can approve it.
"""

from __future__ import annotations

import base64
import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from gateway_runtime.language import Text, current, t
from gateway_runtime.local_time import for_people
from signing_service.approvals import PendingApproval
from signing_service.document_records import DocumentRecord, RecordStatus
from signing_service.reports import Indication, SignatureReport, VerificationReport

_STATIC = Path(__file__).resolve().parent / "static"
_ENVIRONMENT = Environment(
    loader=PackageLoader("signing_service", "templates"),
    autoescape=select_autoescape(default=True, default_for_string=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENVIRONMENT.globals["t"] = t
_ENVIRONMENT.globals["language"] = current
#: The public pages' language switch and its cookie (Vietnamese unless English was chosen).
LANGUAGE_COOKIE = "edu_lang"
_HASH_LABEL = "SHA-256"


def _hash(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


@dataclass(frozen=True)
class _Asset:
    text: Markup
    digest: str

    @classmethod
    def load(cls, name: str) -> _Asset:
        text = (_STATIC / name).read_text(encoding="utf-8")
        # Our own static file, not user input: inserted as is, and allowed by its hash.
        return cls(Markup(text), _hash(text))  # noqa: S704


_VERIFY_STYLE = _Asset.load("verify.css")
_APPROVE_STYLE = _Asset.load("approve.css")
_APPROVE_SCRIPT = _Asset.load("approve.js")

#: Headers of the public verification pages: no script, post only to themselves.
VERIFY_PAGE_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; style-src 'sha256-{_VERIFY_STYLE.digest}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
}
#: Headers of the phone pages: the WebAuthn script, talking to this origin only.
APPROVAL_PAGE_HEADERS = {
    "content-security-policy": (
        f"default-src 'none'; script-src 'sha256-{_APPROVE_SCRIPT.digest}'; "
        f"style-src 'sha256-{_APPROVE_STYLE.digest}'; connect-src 'self'; form-action 'none'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
    "referrer-policy": "no-referrer",
}


def _render(template: str, **context: Any) -> str:
    return _ENVIRONMENT.get_template(template).render(**context)


# -- the public verification page ---------------------------------------------------------------


@dataclass(frozen=True)
class _Verdict:
    css: str
    title: Text
    explanation: Text


_VERDICTS = {
    Indication.TOTAL_PASSED: _Verdict(
        "ok",
        Text("Chữ ký hợp lệ", "Valid signature"),
        Text(
            "Tài liệu còn nguyên vẹn từ khi ký và người ký được tin cậy.",
            "The document is unchanged since it was signed, by a trusted signer.",
        ),
    ),
    Indication.INDETERMINATE: _Verdict(
        "warn",
        Text("Chưa xác định được", "Indeterminate"),
        Text(
            "Không đủ căn cứ để khẳng định chữ ký hợp lệ (ví dụ chứng thư chưa kiểm tra được).",
            "The signature could not be confirmed (for example, the certificate).",
        ),
    ),
    Indication.TOTAL_FAILED: _Verdict(
        "bad",
        Text("Chữ ký KHÔNG hợp lệ", "The signature is NOT valid"),
        Text(
            "Tài liệu đã bị thay đổi sau khi ký hoặc chữ ký không đúng. Không sử dụng tài liệu này.",
            "The document was changed after signing or the signature is wrong. Do not rely on it.",
        ),
    ),
}

#: What a failed or undetermined signature's sub-indication means, in words (ETSI code kept beside).
_REASONS = {
    "MODIFIED_AFTER_SIGNING": Text(
        "Tài liệu đã bị sửa đổi sau khi ký", "The document was changed after signing"
    ),
    "HASH_FAILURE": Text("Nội dung không khớp với chữ ký", "The content does not match"),
    "SIG_CRYPTO_FAILURE": Text(
        "Chữ ký không đúng về mặt mật mã", "The signature is cryptographically wrong"
    ),
    "FORMAT_FAILURE": Text(
        "Chữ ký sai định dạng hoặc không đọc được", "The signature is malformed or unreadable"
    ),
    "SIG_CONSTRAINTS_FAILURE": Text(
        "Dấu thời gian của chữ ký không hợp lệ", "The signature's timestamp is not valid"
    ),
    "REVOKED": Text(
        "Chứng thư số của người ký đã bị thu hồi", "The signer's certificate is revoked"
    ),
    "REVOKED_NO_POE": Text(
        "Chứng thư số đã bị thu hồi, không chứng minh được chữ ký có trước đó",
        "The certificate is revoked and nothing proves the signature came before",
    ),
    "NO_CERTIFICATE_CHAIN_FOUND": Text(
        "Người ký không thuộc hệ thống chứng thư được tin cậy", "The signer is not trusted here"
    ),
    "TRY_LATER": Text(
        "Chưa kiểm tra được tình trạng chứng thư; thử lại sau",
        "The certificate's status could not be checked yet; try later",
    ),
}


_UNSIGNED = _Verdict(
    "warn",
    Text("Tài liệu không có chữ ký số", "The document carries no digital signature"),
    Text(
        "Tệp này không mang chữ ký số nào, nên không có gì để xác minh.",
        "This file carries no digital signature: there is nothing to verify.",
    ),
)

_STATUS_WORDS = {
    RecordStatus.CURRENT: ("ok", Text("Còn hiệu lực", "Current")),
    RecordStatus.SUPERSEDED: (
        "warn",
        Text(
            "Đã có bản ký tiếp theo (bản này vẫn nguyên vẹn; bản mới hơn là bản cần dùng)",
            "Superseded by a later signature on this document (this copy is unchanged)",
        ),
    ),
    RecordStatus.CREDENTIAL_REVOKED: (
        "bad",
        Text(
            "Khoá ký của người ký đã bị thu hồi sau đó",
            "The signer's signing credential has since been revoked",
        ),
    ),
}


@dataclass(frozen=True)
class RecordView:
    """The record of a signed document, as the public page shows it (never its content)."""

    record: DocumentRecord
    status: RecordStatus

    @property
    def rows(self) -> list[tuple[str, str]]:
        record = self.record
        seal = t("dấu cơ quan", "organisation seal")
        signer = f"{record.signer} ({seal})" if record.seal else record.signer
        rows = [
            (t("Tài liệu", "Document"), record.title),
            (t("Loại", "Type"), record.document_type_title or record.document_type),
            (t("Người ký", "Signed by"), signer),
            (t("Đơn vị", "Unit"), record.unit),
            (t("Thời điểm ký", "Signed at"), for_people(record.signed_at)),
            (t("Mức chữ ký", "Level"), f"PAdES {record.level}"),
            (_HASH_LABEL, record.sha256),
        ]
        return [(label, value) for label, value in rows if value]

    @property
    def hash_label(self) -> str:
        return _HASH_LABEL

    @property
    def status_words(self) -> tuple[str, Text]:
        return _STATUS_WORDS[self.status]


def _signature_row(signature: SignatureReport) -> dict[str, str]:
    code = signature.subindication or ""
    return {
        "signer": signature.signer_name or signature.signer or "-",
        "time": for_people(signature.signing_time),
        "words": str(_REASONS.get(code, "")) if code else t("Hợp lệ", "Valid"),
        "indication": signature.indication.value,
        "code": code,
    }


def _page_of(reference: str | None) -> str:
    """Where the language switch comes back to: the form, for this document if any."""
    return f"/verify?{urlencode({'ref': reference})}" if reference else "/verify"


def verify_form_page(reference: str | None, record: RecordView | None, form_token: str) -> str:
    return _render(
        "verify_form.html",
        style=_VERIFY_STYLE.text,
        here=_page_of(reference),
        reference=reference,
        record=record,
        form_token=form_token,
    )


def verify_result_page(
    report: VerificationReport,
    record: RecordView | None,
    is_that_document: bool | None,
    *,
    unknown_reference: bool = False,
) -> str:
    """The verdict on an uploaded PDF; with a QR code's reference, first whether the PDF is the
    document of that reference at all (or that no document has that reference: a forged paper
    copy's QR code, sent with some other genuinely signed PDF)."""
    return _render(
        "verify_result.html",
        style=_VERIFY_STYLE.text,
        here=_page_of(record.record.reference if record else None),
        record=record,
        is_that_document=is_that_document,
        unknown_reference=unknown_reference,
        verdict=_VERDICTS[report.indication] if report.signatures else _UNSIGNED,
        signatures=[_signature_row(s) for s in report.signatures],
        warnings=report.warnings,
    )


def verify_error_page(message_vi: str, message_en: str) -> str:
    return _render(
        "verify_error.html",
        style=_VERIFY_STYLE.text,
        here=None,
        message=t(message_vi, message_en),
    )


# -- the phone pages ----------------------------------------------------------------------------


def _approval_page(template: str, **context: Any) -> str:
    return _render(template, style=_APPROVE_STYLE.text, script=_APPROVE_SCRIPT.text, **context)


def pairing_page(code: str, pairing: dict[str, Any]) -> str:
    """The new phone's page; until a registered device confirms the pairing (when it must), it
    says so and shows the check code that device shows."""
    base = f"/approve/pair/{code}"
    return _approval_page(
        "approve_pair.html", mode="pair", base=base, here=base, deny=False, pairing=pairing
    )


def approval_page(approval: PendingApproval) -> str:
    return _approval_page(
        "approve_request.html",
        mode="approve",
        base=f"/approve/{approval.approval_id}",
        here=f"/approve/{approval.approval_id}",
        deny=True,
        approval=approval,
        minutes_left=max(int((approval.expires_at - time.time()) // 60), 0),
    )


def gone_page(message_vi: str, message_en: str) -> str:
    return _approval_page(
        "approve_gone.html",
        mode="none",
        base=None,
        here=None,
        deny=False,
        message=t(message_vi, message_en),
    )
