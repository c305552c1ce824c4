"""Signing service: PAdES signatures on PDFs with keys that never leave the PKCS#11 token.

Public surface: :func:`create_app` (the FastAPI service), :class:`SigningSettings`,
:class:`TokenKeystore` (enrolment: key generation and CSRs inside the token), :class:`DocumentSigner`
and :func:`verify_document`.
"""

from signing_service.app import create_app
from signing_service.keystore import TokenKeystore
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from signing_service.verification import Indication, VerificationReport, verify_document

__all__ = [
    "DocumentSigner",
    "Indication",
    "SignatureLevel",
    "SignatureRequest",
    "SigningSettings",
    "TokenKeystore",
    "VerificationReport",
    "create_app",
    "verify_document",
]
