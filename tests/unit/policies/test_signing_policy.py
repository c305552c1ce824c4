"""The signing policy: who may hold a key, and who may fill which step of which document, in order."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from policies.errors import PolicyFileError
from policies.signing import SEAL, SigningRefused, default_signing_policy, load_signing_policy

POLICY = default_signing_policy()


def test_only_signer_roles_may_hold_a_personal_key() -> None:
    POLICY.check_enrolment(frozenset({"teacher"}))
    with pytest.raises(SigningRefused) as refused:
        POLICY.check_enrolment(frozenset({"student", "parent"}))
    assert refused.value.rule == "SIGN-001"
    assert refused.value.envelope()["rule"] == "SIGN-001"


def test_transcript_goes_teacher_then_principal_and_the_first_signature_certifies() -> None:
    first = POLICY.check_signature(
        "hoc-ba", roles=frozenset({"homeroom-teacher", "teacher"}), loa=2, prior_signatures=0
    )
    assert first.certify
    second = POLICY.check_signature(
        "hoc-ba", roles=frozenset({"principal"}), loa=2, prior_signatures=1
    )
    assert not second.certify


@pytest.mark.parametrize(
    ("document", "roles", "loa", "prior", "rule"),
    [
        # The principal cannot sign before the homeroom teacher, nor the teacher after; a subject
        # teacher who is not the class's homeroom teacher cannot sign the transcript at all.
        ("hoc-ba", {"principal"}, 2, 0, "SIGN-003"),
        ("hoc-ba", {"homeroom-teacher", "teacher"}, 2, 1, "SIGN-003"),
        ("hoc-ba", {"teacher"}, 2, 0, "SIGN-003"),
        # An application's seal is not a teacher's signature.
        ("hoc-ba", {SEAL}, 1, 0, "SIGN-003"),
        # The principal's step needs a second factor.
        ("hoc-ba", {"principal"}, 1, 1, "SIGN-004"),
        # Both signatures are there: nothing more.
        ("hoc-ba", {"principal", "homeroom-teacher"}, 2, 2, "SIGN-005"),
        ("bang-tot-nghiep", {"principal"}, 2, 0, "SIGN-002"),
        # An official letter is signed by an official, then sealed.
        ("cong-van", {SEAL}, 1, 0, "SIGN-003"),
    ],
)
def test_signatures_outside_the_policy_name_the_rule(
    document: str, roles: set[str], loa: int, prior: int, rule: str
) -> None:
    with pytest.raises(SigningRefused) as refused:
        POLICY.check_signature(document, roles=frozenset(roles), loa=loa, prior_signatures=prior)
    assert refused.value.rule == rule
    assert refused.value.status_code == 403


def test_the_seal_closes_an_official_letter() -> None:
    step = POLICY.check_signature("cong-van", roles=frozenset({SEAL}), loa=1, prior_signatures=1)
    assert step.roles == [SEAL]


def _write(tmp_path: Path, mutate: object) -> Path:
    raw = yaml.safe_load(Path("policies/signing.yaml").read_text(encoding="utf-8"))
    mutate(raw)  # type: ignore[operator]
    path = tmp_path / "signing.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        (lambda raw: raw["document_types"][0]["steps"][1].update(certify=True), "steps[2]"),
        (lambda raw: raw["document_types"][0]["steps"][0].update(roles=[]), "roles"),
        (lambda raw: raw["document_types"][0].update(colour="red"), "colour"),
        (lambda raw: raw["document_types"].append(raw["document_types"][0]), "declared twice"),
        (lambda raw: raw["rules"].pop(0), "SIGN-001"),
        (lambda raw: raw["document_types"][0]["steps"][0].update(min_loa="high"), "min_loa"),
    ],
)
def test_bad_policy_files_are_refused_naming_the_field(
    tmp_path: Path, mutate: object, named: str
) -> None:
    with pytest.raises(PolicyFileError) as error:
        load_signing_policy(_write(tmp_path, mutate))
    assert "signing.yaml" in str(error.value.detail)
    assert named in str(error.value.detail)


def test_unreadable_policy_file(tmp_path: Path) -> None:
    path = tmp_path / "signing.yaml"
    path.write_bytes(b"rules: [\xff")
    with pytest.raises(PolicyFileError):
        load_signing_policy(path)
