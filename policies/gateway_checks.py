"""The tests behind the rules on the gateway itself: its seal certificate, its CRL, its key store and its
audit path, as ``scanners/gateway.py`` observes them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

Finding = tuple[str, str]


@dataclass(frozen=True)
class GatewayObservation:
    seal_subject: str
    seal_days_left: int
    crl_hours_left: float | None  # None: no CRL could be fetched
    key_store_up: bool
    audit_up: bool


GatewayCheck = Callable[[GatewayObservation, dict[str, Any]], Iterator[Finding]]
GATEWAY_CHECKS: dict[str, GatewayCheck] = {}


def gateway_check(function: GatewayCheck) -> GatewayCheck:
    GATEWAY_CHECKS[function.__name__] = function
    return function


@gateway_check
def seal_certificate_valid(
    observation: GatewayObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    if observation.seal_days_left < int(params.get("min_days", 30)):
        state = (
            "expired"
            if observation.seal_days_left < 0
            else f"expires in {observation.seal_days_left} days"
        )
        yield "signing: organisation seal", f"{observation.seal_subject}: {state}"


@gateway_check
def revocation_list_fresh(
    observation: GatewayObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    if observation.crl_hours_left is None:
        yield "pki: CRL", "the CRL named in the seal certificate could not be fetched"
    elif observation.crl_hours_left < float(params.get("min_hours", 1)):
        yield (
            "pki: CRL",
            f"the CRL's next update is {observation.crl_hours_left:.1f} h away or past",
        )


@gateway_check
def key_store_reachable(
    observation: GatewayObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    if not observation.key_store_up:
        yield "signing: key store", "the PKCS#11 token (HSM) does not answer the signing service"


@gateway_check
def audit_path_up(observation: GatewayObservation, params: dict[str, Any]) -> Iterator[Finding]:
    if not observation.audit_up:
        yield "audit", "the audit service reports its ingest down: signatures would fail closed"
