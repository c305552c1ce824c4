"""Scanner: HTTP security headers and cookies of a registered system, against the web policies."""

from __future__ import annotations

import httpx

from policies import Violation, evaluate_response
from policies.web_checks import HttpObservation
from scanners.errors import SystemUnreachable, unreachable_reason
from scanners.targets import PinnedTarget, TargetRegistry


async def scan_headers(
    url: str, registry: TargetRegistry, *, http: httpx.AsyncClient | None = None
) -> list[Violation]:
    pinned = registry.pin(url)
    target = pinned.url
    client = http or httpx.AsyncClient(timeout=10, follow_redirects=False)
    try:
        response = await _get_pinned(client, pinned)
    except httpx.HTTPError as exc:
        raise SystemUnreachable(unreachable_reason(exc), type(exc).__name__) from exc
    finally:
        if http is None:
            await client.aclose()
    observation = HttpObservation(
        url=target,
        status=response.status_code,
        headers={k.lower(): v for k, v in response.headers.items()},
        set_cookies=response.headers.get_list("set-cookie"),
    )
    return evaluate_response(observation)


async def _get_pinned(client: httpx.AsyncClient, pinned: PinnedTarget) -> httpx.Response:
    """``GET pinned.url`` at the addresses checked, in turn (the name's ``Host`` and TLS server
    name, the certificate checked against the name), never at what the name resolves to later.
    A name that resolved to nothing is asked as it is (the scan then says it does not resolve)."""
    if not pinned.addresses:
        return await client.get(pinned.url)
    default = 443 if pinned.url.startswith("https:") else 80
    host = pinned.host if pinned.port == default else f"{pinned.host}:{pinned.port}"
    for address in pinned.addresses[:-1]:
        try:
            return await _get_at(client, pinned, address, host)
        except httpx.ConnectError:
            continue
    return await _get_at(client, pinned, pinned.addresses[-1], host)


async def _get_at(
    client: httpx.AsyncClient, pinned: PinnedTarget, address: str, host: str
) -> httpx.Response:
    return await client.get(
        pinned.url_at(address),
        headers={"Host": host},
        extensions={"sni_hostname": pinned.host},
    )
