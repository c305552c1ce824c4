"""Signing service: PAdES signatures on PDFs with keys that never leave the PKCS#11 token.

Public surface: :func:`create_app` (the FastAPI service), :class:`SigningSettings`,
:func:`token_pdf_signer` (a pyHanko signer over the token key), :class:`DocumentSigner`
and :func:`verify_document`.
"""

from signing_service.app import create_app
from signing_service.keystore import token_pdf_signer
from signing_service.reports import Indication, VerificationReport
from signing_service.settings import SigningSettings
from signing_service.signing import DocumentSigner, SignatureLevel, SignatureRequest
from signing_service.verification import verify_document

__all__ = [
    "DocumentSigner",
    "Indication",
    "SignatureLevel",
    "SignatureRequest",
    "SigningSettings",
    "VerificationReport",
    "create_app",
    "token_pdf_signer",
    "verify_document",
]
