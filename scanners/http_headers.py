"""Scanner: HTTP security headers and cookies of a registered system, against the web policies."""

from __future__ import annotations

import httpx

from policies import Violation, evaluate_response
from policies.web_checks import HttpObservation
from scanners.errors import SystemUnreachable, unreachable_reason
from scanners.targets import TargetRegistry


async def scan_headers(
    url: str, registry: TargetRegistry, *, http: httpx.AsyncClient | None = None
) -> list[Violation]:
    target = registry.require(url)
    client = http or httpx.AsyncClient(timeout=10, follow_redirects=False)
    try:
        response = await client.get(target)
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
