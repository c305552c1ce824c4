"""Why a registered system could not be scanned, in words: from real connection failures on this
machine (a closed loopback port, a name under the reserved ``.invalid`` domain)."""

from __future__ import annotations

import asyncio
import socket

import httpx
import pytest

from scanners.errors import SystemUnreachable, Unreachable, unreachable_reason
from scanners.http_headers import scan_headers
from scanners.targets import TargetRegistry
from scanners.tls import probe_tls, sslyze_python


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_failures_are_told_apart() -> None:
    port = _closed_port()
    for url, reason in (
        (f"http://127.0.0.1:{port}/", Unreachable.CONNECTION_REFUSED),
        ("http://he-thong.invalid/", Unreachable.NAME_NOT_RESOLVED),
    ):
        with pytest.raises(httpx.HTTPError) as caught:
            httpx.get(url, timeout=5)
        assert unreachable_reason(caught.value) is reason, url


def test_header_scan_of_an_unreachable_system_says_why_in_both_languages() -> None:
    url = "http://he-thong.invalid/"
    with pytest.raises(SystemUnreachable) as caught:
        asyncio.run(scan_headers(url, TargetRegistry([url], loopback_allowed=True)))
    assert caught.value.reason is Unreachable.NAME_NOT_RESOLVED
    assert caught.value.reason.words == (
        "không phân giải được tên miền / the name does not resolve"
    )


@pytest.mark.skipif(not sslyze_python().exists(), reason="sslyze is installed by bootstrap.sh")
def test_tls_probe_of_unreachable_systems_says_why_without_a_traceback() -> None:
    port = _closed_port()
    for url, reason in (
        ("https://he-thong.invalid/", Unreachable.NAME_NOT_RESOLVED),
        (f"https://127.0.0.1:{port}/", Unreachable.CONNECTION_REFUSED),
    ):
        with pytest.raises(SystemUnreachable) as caught:
            asyncio.run(probe_tls(url, TargetRegistry([url], loopback_allowed=True)))
        assert caught.value.reason is reason, url
        assert "Traceback" not in str(caught.value) and "line " not in str(caught.value)
