"""Scanner: the gateway itself — its seal certificate, the CRL it names, its key store, its audit path."""

from __future__ import annotations

import datetime as dt

import httpx
from cryptography import x509

from policies import Violation, evaluate_gateway
from policies.gateway_checks import GatewayObservation


async def _up(client: httpx.AsyncClient, url: str, field: str) -> bool:
    try:
        response = await client.get(url)
        return bool(response.status_code == 200 and response.json().get(field) == "up")
    except (httpx.HTTPError, ValueError):
        return False


async def scan_gateway(
    *, signing_url: str, audit_url: str, seal_certificate_pem: bytes
) -> list[Violation]:
    """Every rule on the gateway itself that the running services break."""
    cert = x509.load_pem_x509_certificate(seal_certificate_pem)
    now = dt.datetime.now(dt.UTC)
    crl_hours: float | None = None
    async with httpx.AsyncClient(timeout=10) as client:
        try:
            points = cert.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
            url = next(
                n.value
                for p in points
                for n in (p.full_name or [])
                if isinstance(n, x509.UniformResourceIdentifier)
            )
            crl = x509.load_der_x509_crl((await client.get(url)).content)
            if crl.next_update_utc is not None:
                crl_hours = (crl.next_update_utc - now).total_seconds() / 3600
        except (x509.ExtensionNotFound, StopIteration, httpx.HTTPError, ValueError):
            crl_hours = None
        observation = GatewayObservation(
            seal_subject=cert.subject.rfc4514_string(),
            seal_days_left=(cert.not_valid_after_utc - now).days,
            crl_hours_left=crl_hours,
            key_store_up=await _up(client, f"{signing_url.rstrip('/')}/health", "key_store"),
            audit_up=await _up(client, f"{audit_url.rstrip('/')}/health", "ingest"),
        )
    return evaluate_gateway(observation)
