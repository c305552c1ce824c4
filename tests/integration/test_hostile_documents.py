"""Hostile and broken PDFs get a clear 4xx in bounded memory and time, never a 500, and the service
keeps serving afterwards."""

from __future__ import annotations

import http.client
import time
from collections.abc import Iterator
from io import BytesIO
from urllib.parse import urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.reader import PdfFileReader

from devstack import Stack, StackInfo
from signing_service import create_app
from tests import pdf_attacks as attack
from tests.conftest import TokenFactory
from tests.hostile_pdfs import broken_xref, many_objects, xref_stream_bomb
from tests.signing_app import app_settings

pytestmark = [pytest.mark.keycloak, pytest.mark.redis, pytest.mark.softhsm]


@pytest.fixture(scope="module")
def strict_client(stack: Stack, stack_info: StackInfo) -> Iterator[TestClient]:
    """The signing app with small limits: 64 MiB per document, 1,000 objects, 10 s."""
    settings = app_settings(
        stack,
        stack_info,
        document_memory_budget_bytes=64 * 1024 * 1024,
        document_timeout_seconds=10,
        max_pdf_objects=1000,
        document_workers=1,
    )
    with TestClient(create_app(settings)) as client:
        yield client


def _headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}


@pytest.mark.parametrize("endpoint", ["sign", "verify"])
def test_decompression_bomb_is_a_422_within_the_memory_budget(
    strict_client: TestClient, client_token: TokenFactory, endpoint: str
) -> None:
    bomb = xref_stream_bomb(400 * 1024 * 1024)
    assert len(bomb) < 1024 * 1024  # under a megabyte on the wire
    started = time.monotonic()
    response = strict_client.post(
        f"/v1/documents:{endpoint}", content=bomb, headers=_headers(client_token("demo-eoffice"))
    )
    assert response.status_code == 422, response.text
    assert response.json()["code"] in {"document-too-complex", "invalid-pdf"}
    assert time.monotonic() - started < 15


def test_too_many_objects_is_a_422_naming_the_limit(
    strict_client: TestClient, client_token: TokenFactory
) -> None:
    response = strict_client.post(
        "/v1/documents:sign",
        content=many_objects(5000),
        headers=_headers(client_token("demo-eoffice")),
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "document-too-complex"
    assert "1000" in body["detail"]


def test_service_still_signs_after_hostile_documents(
    strict_client: TestClient, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    token = client_token("demo-eoffice")
    strict_client.post(
        "/v1/documents:verify", content=xref_stream_bomb(400 << 20), headers=_headers(token)
    )
    response = strict_client.post("/v1/documents:sign", content=demo_pdf, headers=_headers(token))
    assert response.status_code == 200


def test_thousands_of_objects_sign_in_bounded_time(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    started = time.monotonic()
    response = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=many_objects(20_000),
        headers=_headers(client_token("demo-eoffice")),
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < 30


def test_broken_cross_reference_is_never_a_500(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    for endpoint in ("sign", "verify"):
        response = httpx.post(
            f"{stack_info.signing_url}/v1/documents:{endpoint}",
            content=broken_xref(demo_pdf),
            headers=_headers(client_token("demo-eoffice")),
            timeout=60,
        )
        # pyHanko may rebuild the table (then the document is fine) or give up (then 422).
        assert response.status_code in {200, 422}, response.text


def test_500_megabyte_upload_is_refused_before_it_is_read(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    address = urlsplit(stack_info.signing_url)
    connection = http.client.HTTPConnection(address.hostname or "", address.port, timeout=10)
    connection.putrequest("POST", "/v1/documents:sign")
    for name, value in _headers(client_token("demo-eoffice")).items():
        connection.putheader(name, value)
    connection.putheader("Content-Length", str(500 * 1024 * 1024))
    connection.endheaders()
    connection.send(b"%PDF-1.7\n")
    response = connection.getresponse()
    assert response.status == 413
    assert b"document-too-large" in response.read()
    connection.close()


@pytest.mark.parametrize(
    ("where", "object_stream"),
    [("page", False), ("page", True), ("resources", False), ("resources", True)],
    ids=["page", "page-in-object-stream", "resources", "resources-in-object-stream"],
)
def test_a_document_that_two_viewers_read_differently_is_not_signed(
    strict_client: TestClient,
    client_token: TokenFactory,
    demo_pdf: bytes,
    where: str,
    object_stream: bool,
) -> None:
    """Attack class: parser differential brought to the signer. The transcript's page names
    ``/Contents`` twice, or its resources name the form it draws twice: pyHanko (and so every
    check before signing) reads the first, poppler and MuPDF the last — "Diem Toan: 10" over the 7
    the signer approved. Signing refuses it and names the object and the key; nothing is signed."""
    document = (
        attack.ambiguous_page_for_signing(demo_pdf, object_stream=object_stream)
        if where == "page"
        else attack.ambiguous_resources_pdf(object_stream=object_stream)
    )
    response = strict_client.post(
        "/v1/documents:sign", content=document, headers=_headers(client_token("demo-eoffice"))
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "document-not-signable"
    key = "/Contents" if where == "page" else "/G1"
    assert key in body["detail"] and "twice" in body["detail"]


@pytest.mark.parametrize(
    "where", ["after-the-listed-objects", "inside-a-stream", "beside-an-unused-xref-stream"]
)
def test_a_document_that_a_rebuilding_viewer_reads_differently_is_not_signed(
    strict_client: TestClient, client_token: TokenFactory, demo_pdf: bytes, where: str
) -> None:
    """Attack class: forced repair, prepared before signing. The document holds, listed by no
    cross-reference section, a second definition of its page content ("Diem Toan: 10"): after the
    listed objects, at a line start inside an attachment's data, or beside a cross-reference stream
    that no trailer names yet (the hybrid-section shadow). Every reader that follows the
    sections (and so every check before signing) sees the page as listed; once a small damage is
    added after signing, viewers rebuild the table and show the other (``object-zero-in-use`` in
    the verifier's suite). Signing refuses it and names the object; nothing is signed."""
    document = {
        "after-the-listed-objects": attack.repair_prepared_pdf,
        "inside-a-stream": lambda: attack.definition_hidden_in_stream(demo_pdf),
        "beside-an-unused-xref-stream": attack.hybrid_prepared_pdf,
    }[where]()
    page = PdfFileReader(BytesIO(document), strict=False).root["/Pages"]["/Kids"][0]
    contents = page.raw_get("/Contents")
    # The overlay transcript draws two streams; its second (the box showing "7") is redefined.
    if isinstance(contents, generic.ArrayObject):
        contents = contents.raw_get(len(contents) - 1)
    content = contents.idnum
    response = strict_client.post(
        "/v1/documents:sign", content=document, headers=_headers(client_token("demo-eoffice"))
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["code"] == "document-not-signable"
    assert f"object {content} is also defined" in body["detail"], body["detail"]
    assert "rebuilds the cross-reference table" in body["detail"]
