"""The signing policy (``policies/signing.yaml``): who may hold a signing key and sign what, in order.

:func:`load_signing_policy` validates the file (unknown keys, unknown rule ids and steps without roles
are refused with the file and field named). The signing service asks :meth:`SigningPolicy.check_enrolment`
before it issues a personal key and :meth:`SigningPolicy.check_signature` before it signs a document
of a declared type; each refusal names the rule it broke.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import ClassVar, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from policies.errors import PolicyError, PolicyFileError
from policies.models import Text

SIGNING_POLICY_FILE = Path(__file__).parent / "signing.yaml"
#: The pseudo-role of an application applying the organisation seal.
SEAL = "seal"


class SigningRefused(PolicyError):
    """A signature or enrolment outside the signing policy; ``rule`` names the rule broken."""

    code: ClassVar[str] = "signing-policy"
    status_code: ClassVar[int] = 403
    oauth_error: ClassVar[str] = "access_denied"
    message_vi: ClassVar[str] = "Yêu cầu ký nằm ngoài chính sách ký số."
    message_en: ClassVar[str] = "The request is outside the signing policy."

    def __init__(self, rule: str, detail: str) -> None:
        super().__init__(f"{rule}: {detail}", rule=rule)
        self.rule = rule


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PolicyRule(_Strict):
    id: str = Field(pattern=r"^SIGN-\d{3}$")
    title: Text
    sources: list[str] = Field(min_length=1)


class Step(_Strict):
    roles: list[str] = Field(min_length=1)
    title: Text
    #: Keycloak level of assurance the signer's login must reach (1: password, 2: second factor).
    min_loa: int = Field(default=1, ge=0, le=4)
    #: The step locks the document (a certification signature, DocMDP).
    certify: bool = False
    #: What the signature locks for later revisions: ``fields`` (every form field as the signer saw
    #: it, FieldMDP), ``document`` (everything: DocMDP P=1 through the field's lock, only the last
    #: step), or ``none``.
    lock: Literal["none", "fields", "document"] = "fields"


class DocumentType(_Strict):
    id: str = Field(pattern=r"^[a-z][a-z0-9-]{1,40}$")
    title: Text
    steps: list[Step] = Field(min_length=1)
    #: Documents with JavaScript, launch actions or embedded programs: ``refuse`` (the default) or
    #: ``allow`` (say why in the file).
    active_content: Literal["refuse", "allow"] = "refuse"


class SigningPolicy(_Strict):
    rules: list[PolicyRule] = Field(min_length=1)
    signer_roles: list[str] = Field(min_length=1)
    document_types: list[DocumentType] = Field(min_length=1)

    @model_validator(mode="after")
    def _consistent(self) -> SigningPolicy:
        ids = [r.id for r in self.rules]
        expected = {"SIGN-001", "SIGN-002", "SIGN-003", "SIGN-004", "SIGN-005"}
        if missing := expected - set(ids):
            raise ValueError(f"rules: missing {sorted(missing)}")
        seen: set[str] = set()
        for document in self.document_types:
            if document.id in seen:
                raise ValueError(f"document_types.{document.id}: declared twice")
            seen.add(document.id)
            for index, step in enumerate(document.steps):
                if step.lock == "document" and index != len(document.steps) - 1:
                    raise ValueError(
                        f"document_types.{document.id}.steps[{index + 1}]: only the last step "
                        "may lock the document (nothing but validation data can follow it)"
                    )
                if step.certify and index != 0:
                    raise ValueError(
                        f"document_types.{document.id}.steps[{index + 1}]: only the first step "
                        "may certify (PDF allows a certification only as the first signature)"
                    )
        return self

    def document_type(self, document_id: str) -> DocumentType:
        for document in self.document_types:
            if document.id == document_id:
                return document
        raise SigningRefused("SIGN-002", f"unknown document type {document_id[:40]!r}")

    def check_enrolment(self, realm_roles: frozenset[str]) -> None:
        if not realm_roles & set(self.signer_roles):
            raise SigningRefused(
                "SIGN-001", f"a personal key needs one of the roles {', '.join(self.signer_roles)}"
            )

    def check_signature(
        self,
        document_id: str,
        *,
        roles: frozenset[str],
        loa: int,
        prior_signatures: int,
    ) -> Step:
        """The step this signature fills; refused unless ``roles`` and ``loa`` fit it.

        ``prior_signatures`` is how many signatures the document already holds: the next step is
        the one at that index, so an order is kept without trusting the caller to say which step.
        """
        document = self.document_type(document_id)
        if prior_signatures >= len(document.steps):
            raise SigningRefused(
                "SIGN-005", f"{document.id} takes {len(document.steps)} signature(s), all present"
            )
        step = document.steps[prior_signatures]
        if not roles & set(step.roles):
            raise SigningRefused(
                "SIGN-003",
                f"step {prior_signatures + 1} of {document.id} ({step.title.en}) needs one of "
                f"the roles {', '.join(step.roles)}",
            )
        if loa < step.min_loa:
            raise SigningRefused(
                "SIGN-004",
                f"step {prior_signatures + 1} of {document.id} needs authentication level "
                f"{step.min_loa}, the login has {loa}",
            )
        return step


def load_signing_policy(path: Path = SIGNING_POLICY_FILE) -> SigningPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot read YAML ({type(exc).__name__})") from exc
    try:
        return SigningPolicy.model_validate(raw)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or '(file)'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise PolicyFileError(f"{path}: {'; '.join(problems)}") from exc


@lru_cache(maxsize=1)
def default_signing_policy() -> SigningPolicy:
    return load_signing_policy()
