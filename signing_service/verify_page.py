"""The public verification page: anyone with a signed document (or its QR code) can check it.

Vietnamese first, readable on a phone, no script. The QR code on a stamp opens ``/verify?ref=...``; the
page asks for the file and answers with the verdict in words. Uploads go through the same limits and
sandbox as the API, requests are rate-limited per address, and every check is audited (the actor is
``anonymous``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import re

from signing_service.reports import Indication, SignatureReport, VerificationReport

_VERDICT = {
    Indication.TOTAL_PASSED: (
        "ok",
        "Chữ ký hợp lệ",
        "Tài liệu còn nguyên vẹn từ khi ký và người ký được tin cậy.",
        "Valid: the document is unchanged since it was signed, by a trusted signer.",
    ),
    Indication.INDETERMINATE: (
        "warn",
        "Chưa xác định được",
        "Không đủ căn cứ để khẳng định chữ ký hợp lệ (ví dụ chứng thư chưa kiểm tra được).",
        "Indeterminate: the signature could not be confirmed (for example, the certificate).",
    ),
    Indication.TOTAL_FAILED: (
        "bad",
        "Chữ ký KHÔNG hợp lệ",
        "Tài liệu đã bị thay đổi sau khi ký hoặc chữ ký không đúng. Không sử dụng tài liệu này.",
        "Failed: the document was changed after signing or the signature is wrong. Do not rely on it.",
    ),
}

_STYLE = """
body{font-family:system-ui,sans-serif;max-width:40rem;margin:auto;padding:1rem;line-height:1.5}
h1{font-size:1.4rem}.ok{background:#e6f4ea}.warn{background:#fef7e0}.bad{background:#fce8e6}
.verdict{padding:1rem;border-radius:.5rem;margin:1rem 0}small{color:#555}
input,button{font-size:1rem;margin:.5rem 0}table{border-collapse:collapse}td{padding:.2rem .5rem}
"""

_REF = re.compile(r"^[0-9a-f]{32}$")

#: The pages run no script, load nothing, and post only to themselves; their one style block is
#: allowed by its hash rather than by 'unsafe-inline'.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; style-src "
        f"'sha256-{base64.b64encode(hashlib.sha256(_STYLE.encode()).digest()).decode()}'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "cache-control": "no-store",
}


def _page(title: str, body: str) -> str:
    return (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body>{body}</body></html>"
    )


def form_page(reference: str | None) -> str:
    ref = reference if reference and _REF.match(reference) else None
    ref_line = (
        f"<p>Mã tài liệu / Document reference: <code>{ref}</code></p>" if ref is not None else ""
    )
    hidden = f'<input type="hidden" name="ref" value="{ref}">' if ref is not None else ""
    return _page(
        "Xác minh chữ ký số",
        "<h1>Xác minh tài liệu ký số</h1>"
        "<p><small>Verify a digitally signed document</small></p>"
        f"{ref_line}"
        '<form method="post" action="/verify" enctype="multipart/form-data">'
        f"{hidden}"
        "<label>Chọn tệp PDF / Choose the PDF file<br>"
        '<input type="file" name="document" accept="application/pdf" required></label><br>'
        '<button type="submit">Xác minh / Verify</button></form>',
    )


#: What a failed or undetermined signature's sub-indication means, in words (ETSI code kept beside).
_REASONS_VI = {
    "MODIFIED_AFTER_SIGNING": "Tài liệu đã bị sửa đổi sau khi ký",
    "HASH_FAILURE": "Nội dung không khớp với chữ ký",
    "SIG_CRYPTO_FAILURE": "Chữ ký không đúng về mặt mật mã",
    "FORMAT_FAILURE": "Chữ ký sai định dạng hoặc không đọc được",
    "SIG_CONSTRAINTS_FAILURE": "Dấu thời gian của chữ ký không hợp lệ",
    "REVOKED": "Chứng thư số của người ký đã bị thu hồi",
    "REVOKED_NO_POE": "Chứng thư số đã bị thu hồi, không chứng minh được chữ ký có trước đó",
    "NO_CERTIFICATE_CHAIN_FOUND": "Người ký không thuộc hệ thống chứng thư được tin cậy",
    "TRY_LATER": "Chưa kiểm tra được tình trạng chứng thư; thử lại sau",
}


def _result(signature: SignatureReport) -> str:
    code = signature.subindication
    words = _REASONS_VI.get(code or "", "") if code else "Hợp lệ"
    detail = f" <small>({html.escape(signature.indication.value)}"
    detail += f" / {html.escape(code)})</small>" if code else ")</small>"
    return f"{html.escape(words)}{detail}"


def _warnings(report: VerificationReport) -> str:
    if not report.warnings:
        return ""
    items = "".join(
        f"<li>{html.escape(w.message_vi)}<br><small>{html.escape(w.message_en)}</small></li>"
        for w in report.warnings
    )
    return f"<h2>Lưu ý / Notes</h2><ul>{items}</ul>"


def result_page(report: VerificationReport) -> str:
    css, verdict, explanation, english = _VERDICT[report.indication]
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(s.signer or '-')}</td>"
        f"<td>{html.escape(s.signing_time or '-')}</td>"
        f"<td>{_result(s)}</td>"
        "</tr>"
        for s in report.signatures
    )
    table = (
        "<table><tr><th>Người ký / Signer</th><th>Thời điểm / Time</th><th>Kết quả / Result</th>"
        f"</tr>{rows}</table>"
        if rows
        else "<p>Tài liệu không có chữ ký số. / The document has no signature.</p>"
    )
    return _page(
        verdict,
        f'<div class="verdict {css}"><h1>{verdict}</h1><p>{explanation}</p>'
        f"<p><small>{english}</small></p></div>{table}{_warnings(report)}"
        '<p><a href="/verify">Xác minh tài liệu khác / Verify another</a></p>',
    )


def error_page(message_vi: str, message_en: str) -> str:
    return _page(
        "Không xác minh được",
        f'<div class="verdict bad"><h1>Không xác minh được</h1><p>{html.escape(message_vi)}</p>'
        f"<p><small>{html.escape(message_en)}</small></p></div>"
        '<p><a href="/verify">Thử lại / Try again</a></p>',
    )
