"""Personal keys and remote signing (CSC v2, SCAL2) against the real stack.

A teacher logs in through Keycloak (authorization code), enrols a key generated in SoftHSM and
certified by the test CA, pairs a passkey, and pyHanko's own CSC client signs a PDF through
``/csc/v2``: every ``credentials/authorize`` waits for the approval on the paired device. The
device here is a software authenticator; ``tests/e2e/test_phone_approval.py`` does the same with
Chromium's virtual authenticator.
"""

from __future__ import annotations

import base64
import hashlib
import time
from typing import Any

import httpx
import pytest
from asn1crypto import pem
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from devstack import Stack, StackInfo
from devstack.demo import transcript_pdf
from devstack.pki import ISSUING
from tests.audit_events import wait_for_events
from tests.conftest import AlertInbox, PersonTokenFactory, TokenFactory
from tests.pdf_inspection import annotation_texts
from tests.remote_signing import (
    Approver,
    approve_with,
    bearer,
    csc_sign_pdf,
    enrol,
    pair,
    register_on_pairing_page,
)
from tests.soft_authenticator import SoftAuthenticator, other_challenge

pytestmark = [pytest.mark.keycloak, pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]

CSC_SCOPES = "openid service credential"
TEACHER = "demo.giaovien"


@pytest.fixture(scope="module")
def teacher(
    stack: Stack, stack_info: StackInfo, person_token: PersonTokenFactory
) -> dict[str, Any]:
    """The demo teacher with an enrolled key and a paired software passkey (the first phone is
    paired after a login with the second factor)."""
    token = person_token(TEACHER, CSC_SCOPES)
    base = stack_info.signing_url
    credential = enrol(base, token)
    authenticator = SoftAuthenticator(f"http://localhost:{stack.ports.signing}")
    pair(base, person_token(TEACHER, CSC_SCOPES, acr_values="2"), authenticator)
    return {"token": token, "credential": credential, "authenticator": authenticator}


def _csc(base: str, endpoint: str, token: str | None, body: dict[str, Any]) -> httpx.Response:
    headers = bearer(token) if token else {}
    return httpx.post(f"{base}/csc/v2/{endpoint}", json=body, headers=headers, timeout=150)


def _digest(text: str) -> str:
    return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()


def test_enrolment_generates_the_key_in_the_token_and_binds_it_to_the_user(
    stack: Stack, stack_info: StackInfo, teacher: dict[str, Any]
) -> None:
    credential = teacher["credential"]
    _, _, der = pem.unarmor(credential["certificate"].encode())
    cert = x509.load_der_x509_certificate(der)
    issuing = stack.pki.certificate(ISSUING)
    cert.verify_directly_issued_by(issuing)
    # Vietnamese order, NFC, and the Keycloak user id (never the citizen ID) as the binding.
    assert cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "Phạm Thị Hoa"
    user_ids = cert.subject.get_attributes_for_oid(x509.NameOID.USER_ID)
    assert user_ids and len(str(user_ids[0].value)) == 36
    listed = httpx.get(
        f"{stack_info.signing_url}/v1/credentials", headers=bearer(teacher["token"]), timeout=10
    ).json()
    assert [c["credential_id"] for c in listed["credentials"]] == [credential["credential_id"]]

    from devstack import softhsm
    from devstack.stack import TOKEN_LABEL
    from gateway_runtime.keystore import TokenKeystore

    keystore = TokenKeystore(
        module=softhsm.module_path(),
        token_label=TOKEN_LABEL,
        user_pin=stack.secrets.get("hsm:user-pin"),
    )
    try:
        label = f"person-{credential['credential_id']}"
        assert keystore.has_key(label)
        token_key = keystore.public_key(label).dump()
    finally:
        keystore.close()
    assert (
        cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        == token_key
    )


def test_pyhanko_csc_client_signs_a_pdf_after_approval_on_the_phone(
    stack: Stack,
    stack_info: StackInfo,
    teacher: dict[str, Any],
    approval_inbox: AlertInbox,
    client_token: TokenFactory,
    demo_pdf: bytes,
) -> None:
    base = stack_info.signing_url
    with Approver(base, approval_inbox, approve_with(base, teacher["authenticator"])) as phone:
        signed = csc_sign_pdf(
            base, teacher["token"], teacher["credential"]["credential_id"], demo_pdf
        )
    assert phone.response is not None and phone.response.status_code == 200
    assert phone.announcement is not None
    assert phone.announcement["documents"] == 1
    assert phone.announcement["url"].startswith(f"http://localhost:{stack.ports.signing}/approve/")

    report = httpx.post(
        f"{base}/v1/documents:verify",
        content=signed,
        headers={
            **bearer(client_token("demo-verify-portal")),
            "content-type": "application/pdf",
        },
        timeout=60,
    ).json()
    assert report["indication"] == "TOTAL_PASSED", report
    assert "Phạm Thị Hoa" in report["signatures"][0]["signer"]

    # Attack class: a capability read from the audit log. The approval's id is its link (whoever
    # holds it sees and denies the approval); officers read the log, so it names the approval by
    # the id's SHA-256, the same in the request and the decision.
    approval_id = phone.announcement["url"].rsplit("/", 1)[1]
    reference = hashlib.sha256(approval_id.encode()).hexdigest()[:32]
    reader = client_token("audit-reports")
    for tag in ("signing:approval:request", "signing:approval:decide"):
        events = wait_for_events(
            stack_info,
            reader,
            tag=tag,
            limit="200",
            where=lambda e: e["target"].get("approval") == reference,
        )
        assert len(events) == 1, tag
        assert approval_id not in str(events), tag


def test_v2_field_names_and_single_use_of_approved_hashes(
    stack_info: StackInfo, teacher: dict[str, Any], approval_inbox: AlertInbox
) -> None:
    base = stack_info.signing_url
    token, credential_id = teacher["token"], teacher["credential"]["credential_id"]
    hashes = [_digest("học bạ 1"), _digest("học bạ 2")]
    with Approver(base, approval_inbox, approve_with(base, teacher["authenticator"])):
        authorized = _csc(
            base,
            "credentials/authorize",
            token,
            {
                "credentialID": credential_id,
                "numSignatures": 2,
                "hashes": hashes,
                "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
            },
        )
    assert authorized.status_code == 200, authorized.text
    sad = authorized.json()["SAD"]
    v2_request = {
        "credentialID": credential_id,
        "SAD": sad,
        "hashes": hashes[:1],
        "hashAlgorithmOID": "2.16.840.1.101.3.4.2.1",
        "signAlgo": "1.2.840.113549.1.1.1",
        "operationMode": "S",
    }
    first = _csc(base, "signatures/signHash", token, v2_request)
    assert first.status_code == 200, first.text
    signature = base64.b64decode(first.json()["signatures"][0])
    info = _csc(base, "credentials/info", token, {"credentialID": credential_id})
    cert = asn1_x509.Certificate.load(base64.b64decode(info.json()["cert"]["certificates"][0]))
    from cryptography.hazmat.primitives import hashes as crypto_hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa, utils

    public = x509.load_der_x509_certificate(cert.dump()).public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    public.verify(
        signature,
        base64.b64decode(hashes[0]),
        padding.PKCS1v15(),
        utils.Prehashed(crypto_hashes.SHA256()),
    )
    # The same approved hash cannot be signed twice; a hash never approved cannot be signed.
    again = _csc(base, "signatures/signHash", token, v2_request)
    assert again.status_code == 400 and again.json()["error"] == "invalid_request"
    stranger = _csc(base, "signatures/signHash", token, {**v2_request, "hashes": [_digest("x")]})
    assert stranger.status_code == 400
    # v1 names (pyHanko's) with a full signature OID spend the other approved hash.
    v1_request = {
        "credentialID": credential_id,
        "SAD": sad,
        "hash": hashes[1:],
        "hashAlgo": "2.16.840.1.101.3.4.2.1",
        "signAlgo": "1.2.840.113549.1.1.11",
    }
    assert _csc(base, "signatures/signHash", token, v1_request).status_code == 200


def test_refused_or_forged_approvals_give_no_signature(
    stack_info: StackInfo, teacher: dict[str, Any], approval_inbox: AlertInbox
) -> None:
    base = stack_info.signing_url
    token, credential_id = teacher["token"], teacher["credential"]["credential_id"]
    request = {"credentialID": credential_id, "numSignatures": 1, "hash": [_digest("điểm 9")]}

    def refuse(approval_id: str, options: dict[str, Any]) -> httpx.Response:
        return httpx.post(f"{base}/approve/{approval_id}/deny", timeout=10)

    with Approver(base, approval_inbox, refuse) as phone:
        refused = _csc(base, "credentials/authorize", token, request)
    assert phone.response is not None and phone.response.status_code == 200
    assert refused.status_code == 403 and refused.json()["error"] == "access_denied"

    authenticator: SoftAuthenticator = teacher["authenticator"]

    def forge(approval_id: str, options: dict[str, Any]) -> httpx.Response:
        # An assertion over another challenge (another set of hashes) must not approve this one.
        forged = authenticator.get(options, challenge=other_challenge())
        answer = httpx.post(f"{base}/approve/{approval_id}", json=forged, timeout=10)
        httpx.post(f"{base}/approve/{approval_id}/deny", timeout=10)
        return answer

    with Approver(base, approval_inbox, forge) as phone:
        forged = _csc(base, "credentials/authorize", token, request)
    assert phone.response is not None and phone.response.status_code == 400
    assert phone.response.json()["code"] == "approval-failed"
    assert forged.status_code == 403


def test_scopes_roles_and_ownership_are_enforced(
    stack_info: StackInfo,
    teacher: dict[str, Any],
    person_token: PersonTokenFactory,
    client_token: TokenFactory,
) -> None:
    base = stack_info.signing_url
    credential_id = teacher["credential"]["credential_id"]
    # info needs no token and names the OAuth issuer; everything else needs one.
    info = _csc(base, "info", None, {})
    assert info.status_code == 200 and info.json()["oauth2"] == stack_info.issuer
    assert _csc(base, "credentials/list", None, {}).status_code == 401
    # A token without the CSC scopes is not for this service at all (no audience).
    plain = person_token(TEACHER, "openid")
    assert _csc(base, "credentials/list", plain, {}).status_code == 401
    # `service` alone lists credentials but cannot ask for an authorization.
    service_only = person_token(TEACHER, "openid service")
    listed = _csc(base, "credentials/list", service_only, {"credentialInfo": True})
    assert listed.status_code == 200
    assert listed.json()["credentialIDs"] == [credential_id]
    assert listed.json()["credentialInfos"][0]["SCAL"] == "2"
    authorize = {"credentialID": credential_id, "numSignatures": 1, "hash": [_digest("a")]}
    denied = _csc(base, "credentials/authorize", service_only, authorize)
    assert denied.status_code == 403 and denied.json()["error"] == "access_denied"
    # Nor through the gateway's own routes (attack class: scope bypass): a `service` token
    # neither signs with the person's key (it started an approval) nor registers a phone of its own.
    signed = _sign(
        base,
        service_only,
        transcript_pdf(["HOC BA"]),
        document_type="hoc-ba",
        credential=credential_id,
    )
    assert signed.status_code == 403, signed.text
    pairing = httpx.post(f"{base}/v1/devices:pair", headers=bearer(service_only), timeout=10)
    assert pairing.status_code == 403, pairing.text
    # Another person sees none of the teacher's credentials.
    principal = person_token("demo.hieutruong", CSC_SCOPES)
    assert (
        credential_id not in _csc(base, "credentials/list", principal, {}).json()["credentialIDs"]
    )
    assert (
        _csc(base, "credentials/info", principal, {"credentialID": credential_id}).status_code
        == 404
    )
    # Students are outside the signing policy (SIGN-001); service accounts hold no personal key.
    student = person_token("demo.hocsinh", CSC_SCOPES)
    refused = httpx.post(f"{base}/v1/credentials", headers=bearer(student), timeout=10)
    assert refused.status_code == 403 and refused.json()["rule"] == "SIGN-001"
    app = client_token("demo-eoffice")
    assert httpx.post(f"{base}/v1/credentials", headers=bearer(app), timeout=10).status_code == 403


def _pairing(base: str, token: str) -> httpx.Response:
    return httpx.post(f"{base}/v1/devices:pair", headers=bearer(token), timeout=10)


def _announced(inbox: AlertInbox, kind: str, seen: int, timeout: float = 30) -> dict[str, Any]:
    """The first announcement of ``kind`` after the first ``seen`` of that kind."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [m for m in inbox.received if m.get("kind") == kind]
        if len(found) > seen:
            return found[seen]
        time.sleep(0.05)
    raise AssertionError(f"no {kind} announcement")


def test_a_first_phone_takes_a_fresh_second_factor_login(
    stack: Stack, stack_info: StackInfo, person_token: PersonTokenFactory
) -> None:
    """Attack class: an application holding a person's password-strength token registers a phone
    of its choosing as the person's first approval device (trust on first use)."""
    base = stack_info.signing_url
    person = "demo.nhanvien"
    refused = _pairing(base, person_token(person, CSC_SCOPES))
    assert refused.status_code == 401, refused.text
    # RFC 9470: the challenge says what login is needed, for the client to ask Keycloak for it.
    challenge = refused.headers["www-authenticate"]
    assert 'error="insufficient_user_authentication"' in challenge
    assert 'acr_values="2"' in challenge and "max_age=600" in challenge
    assert refused.json()["code"] == "insufficient-user-authentication"
    assert "OTP" in refused.json()["message"]

    stepped_up = person_token(person, CSC_SCOPES, acr_values="2")
    answer = _pairing(base, stepped_up)
    assert answer.status_code == 200, answer.text
    assert answer.json()["confirmation"] == "second-factor"
    before = httpx.get(f"{base}/v1/devices", headers=bearer(stepped_up), timeout=10).json()
    phone = SoftAuthenticator(f"http://localhost:{stack.ports.signing}")
    paired = register_on_pairing_page(base, answer.json()["pairing_url"], phone)
    assert paired.status_code == 201, paired.text
    after = httpx.get(f"{base}/v1/devices", headers=bearer(stepped_up), timeout=10).json()
    assert len(after["devices"]) == len(before["devices"]) + 1


def test_another_phone_is_let_in_by_a_registered_one(
    stack: Stack,
    stack_info: StackInfo,
    person_token: PersonTokenFactory,
    teacher: dict[str, Any],
    approval_inbox: AlertInbox,
    client_token: TokenFactory,
) -> None:
    """Attack class: an application holding a person's password-strength token adds a second
    phone of its choosing, to approve signatures the person never sees. Without a fresh
    second-factor login, a phone the person registered must let the new one in; refusing kills
    the link, an assertion of the new phone itself counts for nothing, and every new device is
    announced to the person."""
    base = stack_info.signing_url
    token = person_token(TEACHER, CSC_SCOPES)  # password only
    new_phone = SoftAuthenticator(f"http://localhost:{stack.ports.signing}")
    devices = len(
        httpx.get(f"{base}/v1/devices", headers=bearer(token), timeout=10).json()["devices"]
    )

    # 1. Refused on the teacher's phone: the link dies.
    seen = sum(1 for m in approval_inbox.received if m.get("kind") == "device-pairing")
    first = _pairing(base, token)
    assert first.status_code == 200, first.text
    assert first.json()["confirmation"] == "device"
    code = first.json()["pairing_url"].rsplit("/", 1)[1]
    waiting = httpx.get(first.json()["pairing_url"], timeout=10)
    assert waiting.status_code == 200 and first.json()["check_code"] in waiting.text
    early = httpx.post(f"{base}/approve/pair/{code}/options", timeout=10)
    assert early.status_code == 409 and early.json()["code"] == "pairing-not-confirmed"
    request = _announced(approval_inbox, "device-pairing", seen)
    assert request["fingerprint"] == first.json()["check_code"] and request["documents"] == 0
    approval_id = request["url"].rsplit("/", 1)[1]
    shown = httpx.get(request["url"], timeout=10).text
    assert "thiết bị mới" in shown and first.json()["check_code"] in shown
    options = httpx.post(f"{base}/approve/{approval_id}/options", timeout=10).json()
    # The new phone's own passkey cannot let itself in (it is not the teacher's device).
    forged = httpx.post(
        f"{base}/approve/{approval_id}",
        json=new_phone.get({**options, "allowCredentials": [{"id": _b64(new_phone)}]}),
        timeout=10,
    )
    assert forged.status_code == 400, forged.text
    assert httpx.post(f"{base}/approve/{approval_id}/deny", timeout=10).status_code == 200
    assert httpx.post(f"{base}/approve/pair/{code}/options", timeout=10).status_code == 404

    # 2. Let in with the teacher's passkey: the new phone pairs, and the person is told.
    second = _pairing(base, token)
    request = _announced(approval_inbox, "device-pairing", seen + 1)
    approval_id = request["url"].rsplit("/", 1)[1]
    options = httpx.post(f"{base}/approve/{approval_id}/options", timeout=10).json()
    confirmed = approve_with(base, teacher["authenticator"])(approval_id, options)
    assert confirmed.status_code == 200, confirmed.text
    paired_seen = sum(1 for m in approval_inbox.received if m.get("kind") == "device-paired")
    paired = register_on_pairing_page(
        base, second.json()["pairing_url"], new_phone, label="điện thoại mới"
    )
    assert paired.status_code == 201, paired.text
    told = _announced(approval_inbox, "device-paired", paired_seen)
    assert told["label"] == "điện thoại mới" and told["requested_by"] == "demo-sign-app"
    listed = httpx.get(f"{base}/v1/devices", headers=bearer(token), timeout=10).json()["devices"]
    assert len(listed) == devices + 1
    # The pairing's approval is named in the audit log by its id's SHA-256, never by its link.
    reference = hashlib.sha256(approval_id.encode()).hexdigest()[:32]
    for tag in ("signing:approval:request", "signing:approval:decide"):
        events = wait_for_events(
            stack_info,
            client_token("audit-reports"),
            tag=tag,
            limit="200",
            where=lambda e: e["target"].get("approval") == reference,
        )
        assert len(events) == 1 and approval_id not in str(events), tag


def _b64(authenticator: SoftAuthenticator) -> str:
    return base64.urlsafe_b64encode(authenticator.credential_id).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"credentialID": "x"}, "hashes"),
        ({"numSignatures": 1, "hash": ["AAAA"]}, "credentialID"),
        ({"credentialID": "c", "hash": ["not base64!"]}, "base64"),
        ({"credentialID": "c", "hash": ["AAAA"]}, "hashAlgorithmOID"),
        ({"credentialID": "c", "hash": [base64.b64encode(bytes(32)).decode()] * 2}, "twice"),
        ({"credentialID": "c", "numSignatures": 5, "hash": [_digest("a")]}, "numSignatures"),
    ],
)
def test_malformed_authorize_requests_get_a_reason(
    stack_info: StackInfo, teacher: dict[str, Any], body: dict[str, Any], reason: str
) -> None:
    response = _csc(stack_info.signing_url, "credentials/authorize", teacher["token"], body)
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_request"
    assert reason in response.json()["error_description"]


def test_garbage_bodies_are_refused_with_a_reason(
    stack_info: StackInfo, teacher: dict[str, Any]
) -> None:
    base = stack_info.signing_url
    headers = {**bearer(teacher["token"]), "content-type": "application/json"}
    for body in (b"{not json", b"[1,2]", b"x" * (2 * 1024 * 1024)):
        response = httpx.post(
            f"{base}/csc/v2/signatures/signHash", content=body, headers=headers, timeout=30
        )
        assert response.status_code == 400, response.text
        assert response.json()["error"] == "invalid_request"


def _sign(base: str, token: str, pdf: bytes, **query: str) -> httpx.Response:
    return httpx.post(
        f"{base}/v1/documents:sign",
        params=query,
        content=pdf,
        headers={**bearer(token), "content-type": "application/pdf"},
        timeout=150,
    )


def test_a_transcript_is_signed_in_policy_order_each_signature_approved_on_a_phone(
    stack: Stack,
    stack_info: StackInfo,
    teacher: dict[str, Any],
    person_token: PersonTokenFactory,
    approval_inbox: AlertInbox,
    client_token: TokenFactory,
    demo_pdf: bytes,
) -> None:
    base = stack_info.signing_url
    principal_token = person_token("demo.hieutruong", CSC_SCOPES)
    principal_credential = enrol(base, principal_token)["credential_id"]
    principal_phone = SoftAuthenticator(f"http://localhost:{stack.ports.signing}")
    pair(base, person_token("demo.hieutruong", CSC_SCOPES, acr_values="2"), principal_phone)
    teacher_credential = teacher["credential"]["credential_id"]

    # Out of order: the principal cannot sign first (refused before anyone is asked to approve).
    early = _sign(
        base, principal_token, demo_pdf, document_type="hoc-ba", credential=principal_credential
    )
    assert early.status_code == 403 and early.json()["rule"] == "SIGN-003"
    # An application's seal is not a teacher's signature; a person must say what they sign.
    app = client_token("demo-eoffice")
    sealed = _sign(base, app, demo_pdf, document_type="hoc-ba")
    assert sealed.status_code == 403 and sealed.json()["rule"] == "SIGN-003"
    assert _sign(base, teacher["token"], demo_pdf).status_code == 403

    with Approver(base, approval_inbox, approve_with(base, teacher["authenticator"])) as phone:
        first = _sign(
            base,
            teacher["token"],
            demo_pdf,
            document_type="hoc-ba",
            credential=teacher_credential,
            reason="Lớp 10A1",
        )
    assert first.status_code == 200, first.text
    assert phone.announcement is not None and phone.announcement["documents"] == 1
    # The approval was bound to this very document.
    approved = base64.b64encode(hashlib.sha256(demo_pdf).digest()).decode()
    assert phone.announcement["fingerprint"] == _fingerprint([approved])

    with Approver(base, approval_inbox, approve_with(base, principal_phone)):
        second = _sign(
            base,
            principal_token,
            first.content,
            document_type="hoc-ba",
            credential=principal_credential,
            visible="true",
        )
    assert second.status_code == 200, second.text
    # The principal's stamp: their name from their certificate, and their school, named from the
    # schools list by their account's unit code (79760101), not typed in by the calling app.
    [stamp] = annotation_texts(second.content)
    assert "Nguyễn Văn Hùng" in stamp, stamp
    assert "Đơn vị / Unit: Trường THPT Bùi Thị Xuân" in stamp, stamp
    record = httpx.get(
        f"{base}/verify", params={"ref": second.headers["x-document-reference"]}, timeout=10
    )
    assert "Trường THPT Bùi Thị Xuân" in record.text

    report = httpx.post(
        f"{base}/v1/documents:verify",
        content=second.content,
        headers={
            **bearer(client_token("demo-verify-portal")),
            "content-type": "application/pdf",
        },
        timeout=60,
    ).json()
    assert report["indication"] == "TOTAL_PASSED", report
    signers = [s["signer"] for s in report["signatures"]]
    assert "Phạm Thị Hoa" in signers[0] and "Nguyễn Văn Hùng" in signers[1]

    # Both steps are done: a third signature is outside the policy, whoever asks.
    third = _sign(
        base,
        teacher["token"],
        second.content,
        document_type="hoc-ba",
        credential=teacher_credential,
    )
    assert third.status_code == 403 and third.json()["rule"] == "SIGN-005"


def test_the_seal_signs_routine_documents_without_a_person(
    stack_info: StackInfo, client_token: TokenFactory, demo_pdf: bytes
) -> None:
    app = client_token("demo-eoffice")
    signed = _sign(stack_info.signing_url, app, demo_pdf, document_type="thong-bao")
    assert signed.status_code == 200, signed.text
    unknown = _sign(stack_info.signing_url, app, demo_pdf, document_type="bang-tot-nghiep")
    assert unknown.status_code == 403 and unknown.json()["rule"] == "SIGN-002"


def _fingerprint(hashes: list[str]) -> str:
    digest = hashlib.sha256("\n".join(hashes).encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}"


def test_a_class_of_transcripts_is_signed_after_one_approval(
    stack_info: StackInfo,
    teacher: dict[str, Any],
    approval_inbox: AlertInbox,
    client_token: TokenFactory,
) -> None:
    from devstack.demo import transcript_pdf
    from tests.integration.test_batches import _submit, _wait

    pdfs = [(f"hs-{i:02d}.pdf", transcript_pdf([f"HOC BA - hoc sinh {i}"])) for i in range(5)]
    with Approver(
        stack_info.signing_url,
        approval_inbox,
        approve_with(stack_info.signing_url, teacher["authenticator"]),
    ) as phone:
        accepted = _submit(
            stack_info,
            teacher["token"],
            "lop-10a1-hoc-ky-1",
            pdfs,
            document_type="hoc-ba",
            credential=teacher["credential"]["credential_id"],
        )
    assert accepted.status_code == 202, accepted.text
    assert phone.announcement is not None and phone.announcement["documents"] == 5
    expected = [base64.b64encode(hashlib.sha256(content).digest()).decode() for _, content in pdfs]
    assert phone.announcement["fingerprint"] == _fingerprint(expected)
    status = _wait(stack_info, teacher["token"], accepted.json()["batch_id"])
    assert status["signed"] == 5, status
    document = httpx.get(
        f"{stack_info.signing_url}/v1/batches/{status['batch_id']}/documents/4",
        headers=bearer(teacher["token"]),
        timeout=10,
    )
    report = httpx.post(
        f"{stack_info.signing_url}/v1/documents:verify",
        content=document.content,
        headers={
            **bearer(client_token("demo-verify-portal")),
            "content-type": "application/pdf",
        },
        timeout=60,
    ).json()
    assert report["indication"] == "TOTAL_PASSED"
    assert "Phạm Thị Hoa" in report["signatures"][0]["signer"]


def test_a_disabled_credential_approves_and_signs_nothing(
    stack: Stack,
    stack_info: StackInfo,
    teacher: dict[str, Any],
    person_token: PersonTokenFactory,
) -> None:
    """Attack class: revoked key still in use. A credential whose status is ``disabled`` was
    described as disabled (CSC ``credentials/info``) and its records as revoked, yet it still
    authorized and signed: only the listing left it out."""
    import json
    import secrets

    import redis

    base = stack_info.signing_url
    client = redis.Redis.from_url(
        stack_info.redis_url, username="signing", password=stack.redis_password("signing")
    )
    record = json.loads(client.get(f"credential:{teacher['credential']['credential_id']}") or b"")
    disabled = secrets.token_hex(16)
    record.update(credential_id=disabled, status="disabled")
    client.set(f"credential:{disabled}", json.dumps(record))
    client.sadd(f"credentials-of:{record['owner']}", disabled)
    try:
        token = person_token(TEACHER, CSC_SCOPES)
        info = _csc(base, "credentials/info", token, {"credentialID": disabled})
        assert info.status_code == 200 and info.json()["key"]["status"] == "disabled", info.text
        authorize = {"credentialID": disabled, "numSignatures": 1, "hash": [_digest("d")]}
        assert _csc(base, "credentials/authorize", token, authorize).status_code == 404
        signed = _sign(
            base, token, transcript_pdf(["HOC BA"]), document_type="hoc-ba", credential=disabled
        )
        assert signed.status_code == 404, signed.text
        assert disabled not in _csc(base, "credentials/list", token, {}).json()["credentialIDs"]
    finally:
        client.delete(f"credential:{disabled}")
        client.srem(f"credentials-of:{record['owner']}", disabled)
        client.close()
