"""The tests behind the TLS rules, over what sslyze found on one registered endpoint.

The reference is Mozilla's "intermediate" server-side TLS configuration, as sslyze's own checker applies
it (``scanners/tls_probe.py``): each of its deviations lands in exactly one rule here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Finding = tuple[str, str]

#: Deviations reported by sslyze's Mozilla checker, by the rule that owns them.
_OWNED = {
    "tls_versions": "protocols",
    "certificate_path_validation": "certificate",
    "ciphers": "ciphers",
    "tls_curves": "ciphers",
    "dh_parameter_size": "ciphers",
    "tls_vulnerability_robot": "vulnerabilities",
    "tls_vulnerability_heartbleed": "vulnerabilities",
    "tls_vulnerability_ccs_injection": "vulnerabilities",
    "tls_vulnerability_renegotiation": "vulnerabilities",
    "tls_vulnerability_compression": "vulnerabilities",
}


@dataclass(frozen=True)
class TlsObservation:
    endpoint: str
    protocols: list[str]
    certificate: dict[str, Any]
    mozilla_intermediate_issues: dict[str, str] = field(default_factory=dict)

    def issues_of(self, owner: str) -> Iterator[tuple[str, str]]:
        for key, text in sorted(self.mozilla_intermediate_issues.items()):
            if _OWNED.get(key, "other") == owner:
                yield key, text


TlsCheck = Callable[[TlsObservation, dict[str, Any]], Iterator[Finding]]
TLS_CHECKS: dict[str, TlsCheck] = {}


def tls_check(function: TlsCheck) -> TlsCheck:
    TLS_CHECKS[function.__name__] = function
    return function


@tls_check
def modern_protocols_only(observation: TlsObservation, params: dict[str, Any]) -> Iterator[Finding]:
    allowed = set(params.get("allowed", ["TLSv1.2", "TLSv1.3"]))
    old = [p for p in observation.protocols if p not in allowed]
    if old:
        yield observation.endpoint, f"accepts {', '.join(old)}"


@tls_check
def mozilla_intermediate_ciphers(
    observation: TlsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    for key, text in observation.issues_of("ciphers"):
        yield observation.endpoint, f"{key}: {text[:300]}"


@tls_check
def certificate_trusted(observation: TlsObservation, params: dict[str, Any]) -> Iterator[Finding]:
    certificate = observation.certificate
    if not certificate:
        yield observation.endpoint, "no certificate could be read"
        return
    if not certificate.get("trusted"):
        yield (
            observation.endpoint,
            f"{certificate.get('subject')}: does not chain to a trusted root",
        )
    if int(certificate.get("days_left", 0)) < 0:
        yield (
            observation.endpoint,
            f"{certificate.get('subject')}: expired {certificate.get('not_after')}",
        )


@tls_check
def certificate_not_expiring(
    observation: TlsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    days = (
        int(observation.certificate.get("days_left", 10**6)) if observation.certificate else 10**6
    )
    if 0 <= days < int(params.get("min_days", 30)):
        yield (
            observation.endpoint,
            f"certificate expires in {days} days ({observation.certificate.get('not_after')})",
        )


@tls_check
def no_known_tls_vulnerability(
    observation: TlsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    for key, text in observation.issues_of("vulnerabilities"):
        yield observation.endpoint, f"{key}: {text[:300]}"


@tls_check
def mozilla_intermediate_other(
    observation: TlsObservation, params: dict[str, Any]
) -> Iterator[Finding]:
    for key, text in observation.issues_of("other"):
        yield observation.endpoint, f"{key}: {text[:300]}"
