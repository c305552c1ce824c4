"""The public verification page as a visitor's browser uses it: open the form (its anti-forgery
token comes in the page and in a cookie), then post the PDF with both."""

from __future__ import annotations

import re
from typing import cast

import httpx
from starlette.testclient import TestClient

_TOKEN = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(page: str) -> str:
    match = _TOKEN.search(page)
    assert match, "the verification form carries its anti-forgery token"
    return match.group(1)


def check_on_public_page(
    client: httpx.Client | TestClient,
    document: bytes,
    *,
    name: str = "hoc-ba.pdf",
    reference: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """Open ``/verify`` and upload ``document`` from it, with ``client`` (its base URL: the
    signing service) keeping the form's cookie."""
    form = client.get("/verify", params={"ref": reference} if reference else None)
    token = form_token(form.text)
    # Starlette's test client answers with its own httpx's responses: the same interface.
    return cast(
        httpx.Response,
        client.post(
            "/verify",
            files={"document": (name, document, "application/pdf")},
            data={"csrf_token": token, **({"ref": reference} if reference else {})},
            headers=headers,
        ),
    )
