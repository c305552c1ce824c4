"""Who may sign what: the signing policy applied to a caller and their documents, and, for a person,
their approval on their phone (SCAL2). Knows nothing of HTTP: it takes the verified principal, the
policy, the approvals and the credentials, and records refusals through the caller's auditor.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass

from audit import EventTag, Outcome
from audit.auditor import Auditor
from gateway_runtime.tokens import Forbidden, Principal
from policies.signing import SEAL, SigningPolicy, SigningRefused
from signing_service.approvals import Approvals, approval_reference
from signing_service.credentials import Credential, CredentialStore
from signing_service.csc import CscDialect
from signing_service.errors import InvalidCscRequest
from signing_service.preparation import FieldLock

SIGN_ROLE = "sign"
SHA256_OID = "2.16.840.1.101.3.4.2.1"


@dataclass(frozen=True)
class SigningAuthorisation:
    """What the policy and the signer's approval allow for one request (a document or a batch)."""

    certify: bool
    credential: Credential | None
    #: Audit fields: document type, step, rule, credential and approval ids.
    target: dict[str, str]
    #: What the signature locks, and whether active content may be signed (the step's policy).
    lock: FieldLock = FieldLock.FIELDS
    allow_active_content: bool = False
    #: The locks of the document type's steps after this one (places a certification leaves).
    later_locks: tuple[FieldLock, ...] = ()


async def refuse(auditor: Auditor, operation: str, refusal: SigningRefused) -> None:
    """Record a refusal under the signing policy (the caller re-raises it)."""
    await auditor.record(
        EventTag.SIGNING_REQUEST_REFUSED,
        target={"operation": operation, "rule": refusal.rule},
        outcome=Outcome.FAILURE,
        reason=refusal.rule,
    )


async def check_signer(
    principal: Principal, policy: SigningPolicy, auditor: Auditor, operation: str
) -> None:
    """SIGN-001: only people in signer roles hold and use personal keys (audited refusal)."""
    try:
        policy.check_enrolment(principal.realm_roles)
    except SigningRefused as refusal:
        await refuse(auditor, operation, refusal)
        raise


async def check_caller(principal: Principal, policy: SigningPolicy, auditor: Auditor) -> None:
    """Before anything is read: may this caller sign at all? An app needs the service's ``sign``
    role (the organisation seal), a person a signer role. Refusals are audited."""
    if principal.is_person:
        await check_signer(principal, policy, auditor, "sign")
        return
    try:
        principal.require(SIGN_ROLE)
    except Forbidden:
        await auditor.record(
            EventTag.SIGNING_REQUEST_REFUSED,
            target={"operation": "sign"},
            outcome=Outcome.FAILURE,
            reason=f"missing role {SIGN_ROLE}",
        )
        raise


def require_person_request(
    principal: Principal, document_type: str | None, credential_id: str | None
) -> None:
    """A person signs with their own key and says what they sign."""
    if principal.is_person and (document_type is None or credential_id is None):
        raise Forbidden("a person signs with their own key: give document_type and credential")


def level_of_assurance(principal: Principal) -> int:
    """Keycloak's ACR as a level of assurance (``"1"`` password, ``"2"`` second factor)."""
    return int(principal.acr) if principal.acr and principal.acr.isdigit() else 0


async def _apply_policy(
    principal: Principal,
    policy: SigningPolicy,
    auditor: Auditor,
    document_type: str,
    prior_signatures: list[int],
) -> tuple[bool, FieldLock, tuple[FieldLock, ...], bool, dict[str, str]]:
    roles = principal.realm_roles if principal.is_person else frozenset({SEAL})
    # A person approves on a registered device with user verification: a second factor for the
    # signature act itself (SCAL2). An app counts at its token's ACR.
    loa = 2 if principal.is_person else level_of_assurance(principal)
    steps: set[int] = set()
    certify = False
    lock = FieldLock.FIELDS
    later: tuple[FieldLock, ...] = ()
    for index, prior in enumerate(prior_signatures):
        try:
            step = policy.check_signature(
                document_type, roles=roles, loa=loa, prior_signatures=prior
            )
        except SigningRefused as refusal:
            await refuse(auditor, "sign", refusal)
            if len(prior_signatures) > 1:
                raise SigningRefused(refusal.rule, f"document {index}: {refusal.detail}") from None
            raise
        steps.add(prior)
        certify = certify or step.certify
        lock = FieldLock(step.lock)
        later = tuple(
            FieldLock(s.lock) for s in policy.document_type(document_type).steps[prior + 1 :]
        )
    if len(steps) > 1:
        raise InvalidCscRequest("the documents of one batch must all be at the same step")
    target = {
        "document_type": document_type,
        "step": str(steps.pop() + 1) if steps else "1",
        "rule": "SIGN-003",
    }
    allow_active = policy.document_type(document_type).active_content == "allow"
    return certify, lock, later, allow_active, target


@dataclass(frozen=True)
class Gatekeeper:
    """The signing policy, the approvals and the credentials, for :func:`authorise_signing`."""

    policy: SigningPolicy
    approvals: Approvals
    credentials: CredentialStore

    async def authorise(
        self,
        principal: Principal,
        auditor: Auditor,
        *,
        document_type: str | None,
        credential_id: str | None,
        prior_signatures: list[int],
        digests: list[bytes],
        description: str,
        certify: bool,
    ) -> SigningAuthorisation:
        return await authorise_signing(
            principal,
            policy=self.policy,
            approvals=self.approvals,
            credentials=self.credentials,
            auditor=auditor,
            document_type=document_type,
            credential_id=credential_id,
            prior_signatures=prior_signatures,
            digests=digests,
            description=description,
            certify=certify,
        )


async def authorise_signing(
    principal: Principal,
    *,
    policy: SigningPolicy,
    approvals: Approvals,
    credentials: CredentialStore,
    auditor: Auditor,
    document_type: str | None,
    credential_id: str | None,
    prior_signatures: list[int],
    digests: list[bytes],
    description: str,
    certify: bool,
) -> SigningAuthorisation:
    """Apply the signing policy to every document, then, for a person, get their approval.

    Apps sign with the organisation seal; people sign with their own key (``credential_id``) and
    must say what they sign (``document_type``). With a document type, each document's next step is
    counted from the signatures it already holds; one request fills one step. A person's approval on
    their phone covers the SHA-256 of every document, and is spent at once (SCAL2, sole control).
    """
    target: dict[str, str] = {}
    lock = FieldLock.FIELDS
    later: tuple[FieldLock, ...] = ()
    allow_active_content = False
    if document_type is not None:
        by_step, lock, later, allow_active_content, target = await _apply_policy(
            principal, policy, auditor, document_type, prior_signatures
        )
        certify = certify or by_step
    if not principal.is_person:
        return SigningAuthorisation(certify, None, target, lock, allow_active_content, later)
    if credential_id is None:
        raise Forbidden("a person signs with their own key: give document_type and credential")
    credential = await credentials.owned(principal, credential_id)
    hashes = [base64.b64encode(d).decode() for d in digests]
    pending = await approvals.request(
        principal,
        credential_id=credential.credential_id,
        hash_algorithm=SHA256_OID,
        hashes=hashes,
        description=description,
    )
    await auditor.record(
        EventTag.SIGNING_APPROVAL_REQUEST,
        target={
            "approval": approval_reference(pending.approval_id),
            "credential_id": credential.credential_id,
            "documents": str(len(hashes)),
            "hashes_sha256": CscDialect.hashes_digest(hashes),
        },
    )
    sad = await approvals.wait(pending)
    await approvals.consume(
        sad,
        credential_id=credential.credential_id,
        owner=principal.subject,
        client_id=principal.client_id,
        hash_algorithm=SHA256_OID,
        hashes=hashes,
    )
    target |= {
        "credential_id": credential.credential_id,
        "approval": approval_reference(pending.approval_id),
    }
    return SigningAuthorisation(certify, credential, target, lock, allow_active_content, later)
