"""Certification paths validated at the current time, remembered by a worker as long as the
revocation data they were checked with.

A verification worker sees the same few paths over and over: the department's seal or a teacher's
certificate under the provincial CA, the TSA under the test or national root. pyHanko validates each
path afresh for every document (RFC 5280 processing, then every certificate's revocation: the OCSP
response's signature, its responder's own path, the CRL's signature), about a third of a B-LT
verification, always with the same inputs.

A :class:`PathMemo` remembers a path that **passed** when validated at the current time, keyed by the
DER of every certificate in it (trust anchor included), and answers "passed" again for exactly that
path — not for a path that merely shares the leaf — until the first of:

- the revocation data it was checked with is renewed: the memo belongs to one generation of the
  worker's :class:`~signing_service.revocation.RevocationCache` and is dropped with it, so a revoked
  certificate is seen no later than it would be without the memo (pyHanko's fetchers would answer
  from the same cached OCSP responses and CRLs);
- a certificate expires — of the path, or any the context knows: the OCSP responders' (carried in
  their responses) and the CRL issuers' included, whose validity pyHanko checks too —, or an OCSP
  response or CRL is due for renewal (``nextUpdate``): then it is validated again, and fails or passes
  as pyHanko decides.

Failures are never remembered, and the memo is used only by the contexts the verifier makes for the
current time (:class:`MemoisedContext`), never for validation at a past time (proof of existence),
never with PKIX parameters (policies, permitted names). A path enters only by passing pyHanko's own
validation, so an uploaded document can add nothing to it that it could not have made pass itself.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pyhanko_certvalidator
from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath
from pyhanko_certvalidator.validate import async_validate_path as _validate_path

#: Paths kept at most per worker: a province has a few CAs and TSAs; anything beyond is an attack.
MAX_PATHS = 256


@dataclass
class PathMemo:
    """Paths that passed at the current time, with the moment each stops being trusted here."""

    paths: dict[tuple[bytes, ...], datetime] = field(default_factory=dict)
    hits: int = 0

    def valid_until(self, key: tuple[bytes, ...], moment: datetime) -> bool:
        until = self.paths.get(key)
        if until is None:
            return False
        if moment >= until:
            del self.paths[key]
            return False
        self.hits += 1
        return True

    def remember(self, key: tuple[bytes, ...], until: datetime) -> None:
        if len(self.paths) >= MAX_PATHS:
            self.paths.clear()
        self.paths[key] = until


class MemoisedContext(ValidationContext):
    """A validation context at the current time whose passed paths go to (and come from) ``memo``."""

    def __init__(self, *, memo: PathMemo, **kwargs: Any) -> None:
        if kwargs.get("moment") is not None:
            raise ValueError("a memoised context validates at the current time only")
        super().__init__(**kwargs)
        self.path_memo = memo


def path_key(path: ValidationPath) -> tuple[bytes, ...]:
    anchor = path.trust_anchor.authority
    anchor_der = anchor.certificate.dump() if hasattr(anchor, "certificate") else b""
    return (anchor_der, *(cert.dump() for cert in path.iter_certs(include_root=False)))


def first_renewal(
    certificates: Iterable[asn1_x509.Certificate],
    ocsps: Iterable[asn1_ocsp.OCSPResponse],
    crls: Iterable[asn1_crl.CertificateList],
) -> datetime | None:
    moments: list[datetime] = [cert.not_valid_after for cert in certificates]
    try:
        for response in ocsps:
            if response["response_status"].native != "successful":
                continue  # no answer: used for nothing that passed
            basic = response.basic_ocsp_response
            for single in basic["tbs_response_data"]["responses"]:
                moments.append(single["next_update"].native)
            if not isinstance(basic["certs"], core.Void):
                # A delegated responder's certificate: pyHanko checks it is valid now.
                moments.extend(cert.not_valid_after for cert in basic["certs"])
        moments.extend(c["tbs_cert_list"]["next_update"].native for c in crls)
    except (ValueError, TypeError, KeyError):
        return None  # unreadable revocation data: do not remember
    if not moments or any(moment is None for moment in moments):
        return None  # no stated renewal: do not remember
    return min(moments)


async def _memoised_validate_path(
    validation_context: ValidationContext,
    path: ValidationPath,
    parameters: Any = None,
) -> Any:
    memo = getattr(validation_context, "path_memo", None)
    if (
        memo is None
        or parameters is not None
        or validation_context.timing_params.point_in_time_validation
    ):
        return await _validate_path(validation_context, path, parameters)
    key = path_key(path)
    if memo.valid_until(key, validation_context.moment):
        return path.leaf
    result = await _validate_path(validation_context, path, parameters)
    # The path's certificates and every other the context knows (responders, CRL issuers).
    certificates = [
        cert
        for cert in (*path.iter_certs(include_root=True), *validation_context.certificate_registry)
        if isinstance(cert, asn1_x509.Certificate)
    ]
    until = first_renewal(certificates, validation_context.ocsps, validation_context.crls)
    if until is not None and until > validation_context.moment:
        memo.remember(key, until)
    return result


def install() -> None:
    """Route pyHanko's path search through the memo (idempotent; only contexts that carry a memo use it)."""
    setattr(pyhanko_certvalidator, "async_validate_path", _memoised_validate_path)  # noqa: B010
