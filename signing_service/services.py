"""Everything the signing service's routes use, built once at start-up and closed at shutdown.

:func:`running_services` is the lifespan's one job: open the token, the connections and the document
sandbox in the right order, and give the routes one typed :class:`Services` (through
:mod:`signing_service.deps`), so that nothing reads untyped application state.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis.asyncio as redis_async
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509

from audit import RedisAuditTrail, trail_client
from audit.producers import ProducerKeyError
from audit.spool import SpoolingAuditTrail
from gateway_runtime import AccessTokenVerifier
from gateway_runtime.keystore import TokenKeystore
from gateway_runtime.redis_connection import RedisAddress
from organisation import load_schools
from policies.signing import SigningPolicy, default_signing_policy
from signing_service.approval_notices import LogNotifier, WebhookNotifier
from signing_service.approvals import Approvals
from signing_service.authorisation import Gatekeeper
from signing_service.batches import BatchRunner, BatchStore
from signing_service.credentials import (
    CertificateAuthority,
    Credential,
    CredentialStore,
    HttpEnrolmentCa,
)
from signing_service.csc import CscDialect
from signing_service.document_records import DocumentRecords
from signing_service.documents import DocumentFacts, UntrustedDocument, inspect_document
from signing_service.keystore import (
    TokenEventSealer,
    TokenGate,
    token_key_signer,
    token_pdf_signer,
)
from signing_service.revocation import load_trust_store
from signing_service.sandbox import DocumentSandbox
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner

SERVICE = "signing"
#: Personal document signers kept (one per credential in use).
_PERSON_SIGNERS = 256


def load_certificate(path: Path) -> asn1_x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return asn1_x509.Certificate.load(data)


@dataclass
class Services:
    settings: SigningSettings
    keystore: TokenKeystore
    gate: TokenGate
    chain: list[asn1_x509.Certificate]
    signing_policy: SigningPolicy
    certificate_authority: CertificateAuthority | None
    credentials: CredentialStore
    csc: CscDialect
    approvals: Approvals
    trust_roots_der: list[bytes]
    document_signer: DocumentSigner
    trail: SpoolingAuditTrail
    batches: BatchStore
    records: DocumentRecords
    sandbox: DocumentSandbox
    redis: redis_async.Redis
    token_verifier: AccessTokenVerifier
    batch_runner: BatchRunner | None = None
    #: Unit code -> name, from the schools list (the department, its districts, their schools).
    unit_names: Mapping[str, str] = field(default_factory=dict)
    _person_signers: dict[str, DocumentSigner] = field(default_factory=dict)

    @property
    def gatekeeper(self) -> Gatekeeper:
        return Gatekeeper(self.signing_policy, self.approvals, self.credentials)

    def person_signer(self, credential: Credential) -> DocumentSigner:
        """A document signer over a person's token key (kept per credential, a few hundred)."""
        signer = self._person_signers.get(credential.credential_id)
        if signer is None:
            if len(self._person_signers) >= _PERSON_SIGNERS:
                self._person_signers.pop(next(iter(self._person_signers)))
            signer = self.document_signer.with_signer(
                token_key_signer(
                    self.gate, credential.key_label, credential.certificate, self.chain
                ),
                key_label=credential.key_label,
            )
            self._person_signers[credential.credential_id] = signer
        return signer

    async def inspect(self, document: UntrustedDocument) -> DocumentFacts:
        """What ``document`` is (the signatures it holds, its title), read in the sandbox."""
        return await self.sandbox.run(inspect_document, document, self.settings.max_pdf_objects)

    def document_type_title(self, document_type: str | None) -> str:
        """The title people read for a document type of the signing policy ("" for none)."""
        if not document_type:
            return ""
        title = self.signing_policy.document_type(document_type).title
        return f"{title.vi} / {title.en}"

    def unit_name(self, code: str | None) -> str:
        """The name people read for a caller's unit (their token's ``unit_code``); "" for none or
        for a code the schools list does not hold (left off the stamp, never shown as a code)."""
        return self.unit_names.get(code, "") if code else ""

    def wake_batches(self) -> None:
        if self.batch_runner is not None:
            self.batch_runner.wake()

    async def signer_for_credential(self, credential_id: str) -> DocumentSigner:
        return self.person_signer(await self.credentials.usable(credential_id))


@asynccontextmanager
async def running_services(settings: SigningSettings) -> AsyncIterator[Services]:
    # A schools list that cannot be read stops the start before anything is opened.
    unit_names = {unit.code: unit.name for unit in load_schools(settings.organisation_file)}
    # The document workers first: their fork server starts before the token and the connections
    # exist, and they are warm before the service says it is ready.
    sandbox = DocumentSandbox(
        workers=settings.document_workers,
        memory_budget_bytes=settings.document_memory_budget_bytes,
        timeout_seconds=settings.document_timeout_seconds,
    )
    await sandbox.warm_up()
    keystore = TokenKeystore(
        module=settings.pkcs11_module,
        token_label=settings.token_label,
        user_pin=settings.user_pin.get_secret_value(),
    )
    gate = TokenGate(keystore)
    if not await gate.run(keystore.has_secret_key, settings.audit_mac_key_label):
        # Fail closed at start rather than at every audited request (503s).
        keystore.close()
        sandbox.close()
        raise ProducerKeyError(
            f"the token has no key {settings.audit_mac_key_label!r} to seal audit events: "
            "import it (docs/architecture.md, Production) or set SIGNING_AUDIT_MAC_KEY_LABEL"
        )
    chain = [load_certificate(p) for p in settings.chain_paths]
    redis_address = RedisAddress.parse(settings.redis_url)
    client = redis_address.async_client(
        username=settings.redis_username,
        password=settings.redis_password.get_secret_value() if settings.redis_password else None,
    )
    trust_roots = load_trust_store(settings.trust_store)
    # Every event the service records is sealed with its own key, held in the token.
    sealer = TokenEventSealer(gate, settings.audit_mac_key_label)
    trail_connections = trail_client(
        redis_address,
        username=settings.redis_username,
        password=settings.redis_password.get_secret_value() if settings.redis_password else None,
    )
    trail = SpoolingAuditTrail(
        RedisAuditTrail(trail_connections, sealer, replicas=redis_address.replicas),
        settings.audit_spool_dir,
    )
    services = Services(
        settings=settings,
        keystore=keystore,
        gate=gate,
        chain=chain,
        signing_policy=default_signing_policy(),
        certificate_authority=HttpEnrolmentCa(
            settings.ca_enrol_url, settings.ca_enrol_token.get_secret_value()
        )
        if settings.ca_enrol_url and settings.ca_enrol_token
        else None,
        credentials=CredentialStore(client),
        csc=CscDialect(max_hashes=settings.max_hashes_per_approval),
        approvals=Approvals(
            client,
            public_url=settings.public_url,
            notifier=WebhookNotifier(settings.approval_webhook_url)
            if settings.approval_webhook_url
            else LogNotifier(),
            approval_seconds=settings.approval_seconds,
            sad_seconds=settings.sad_seconds,
        ),
        trust_roots_der=[root.dump() for root in trust_roots],
        document_signer=DocumentSigner(
            token_pdf_signer(
                gate, settings.key_label, load_certificate(settings.certificate_path), chain
            ),
            key_label=settings.key_label,
            trust_roots=trust_roots,
            sandbox=sandbox,
            max_objects=settings.max_pdf_objects,
            tsa_url=settings.tsa_url,
        ),
        trail=trail,
        batches=BatchStore(client, settings.batch_dir),
        records=DocumentRecords(client, settings.record_spool_path),
        sandbox=sandbox,
        redis=client,
        token_verifier=AccessTokenVerifier(
            issuer=settings.keycloak_issuer, audience=settings.client_id
        ),
        unit_names=unit_names,
    )
    trail.start()
    services.batch_runner = BatchRunner(
        services.batches,
        services.document_signer,
        trail,
        services.records,
        personal_signer=services.signer_for_credential,
        retention_seconds=settings.batch_retention_days * 86400,
    )
    services.batch_runner.start()
    try:
        yield services
    finally:
        await services.batch_runner.stop()
        await trail.stop()
        await services.token_verifier.aclose()
        await services.document_signer.aclose()
        await trail_connections.aclose()
        await client.aclose()
        keystore.close()
        sandbox.close()
