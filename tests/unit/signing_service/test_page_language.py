"""The signing service's pages for people speak one language at a time: Vietnamese, or English
when the ``edu_lang`` cookie chose it (the middleware holds it for the request)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gateway_runtime.language import LanguageMiddleware
from signing_service.approvals import PendingApproval
from signing_service.pages import LANGUAGE_COOKIE, approval_page, gone_page, verify_form_page


def _render(language: str | None, make: Callable[[], str]) -> str:
    made: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        made.append(make())

    async def receive() -> dict[str, Any]:
        return {"type": "http.request"}

    async def send(message: Any) -> None:
        pass

    headers = [(b"cookie", f"{LANGUAGE_COOKIE}={language}".encode())] if language else []
    asyncio.run(
        LanguageMiddleware(app, cookie=LANGUAGE_COOKIE)(
            {"type": "http", "headers": headers}, receive, send
        )
    )
    return made[0]


def _approval() -> PendingApproval:
    return PendingApproval(
        approval_id="a" * 32, owner="u1", owner_name="Nguyễn Văn Hùng", credential_id="c1",
        hash_algorithm="2.16.840.1.101.3.4.2.1", hashes=["AAAA"], requested_by="demo-sign-app",
        description="Học bạ 10A1", expires_at=time.time() + 600, nonce="n",
    )  # fmt: skip


def test_the_verification_form_in_either_language_never_both() -> None:
    vietnamese = _render(None, lambda: verify_form_page("AB12CD34", None, "token"))
    assert '<html lang="vi">' in vietnamese and "Xác minh tài liệu ký số" in vietnamese
    assert "Verify a digitally signed document" not in vietnamese
    assert "/verify/language?to=en&amp;back=/verify%3Fref%3DAB12CD34" in vietnamese
    english = _render("en", lambda: verify_form_page("AB12CD34", None, "token"))
    assert '<html lang="en">' in english and "Verify a digitally signed document" in english
    assert "Xác minh tài liệu ký số" not in english


def test_the_approval_pages_in_either_language_with_their_script_words() -> None:
    vietnamese = _render(None, lambda: approval_page(_approval()))
    assert (
        "Yêu cầu ký số cần bạn phê duyệt" in vietnamese
        and 'data-said-approved="Đã phê duyệt."' in vietnamese
    )
    english = _render("en", lambda: approval_page(_approval()))
    assert (
        "A signature needs your approval" in english and 'data-said-approved="Approved."' in english
    )
    assert "Phê duyệt" not in english
    assert "No longer valid" in _render("en", lambda: gone_page("Hết hạn", "Expired"))
