"""Sole control (SCAL2): the signer approves each remote signature on a device they registered.

Why WebAuthn rather than Keycloak's CIBA flow: the approval must be bound to the exact hashes being
signed. With WebAuthn the service chooses the challenge, so the challenge *is* a digest of the
approval (credential, hash algorithm, every hash, a fresh nonce) and the device's assertion, made
with user verification (biometric or PIN), proves the signer saw and accepted that very request.
CIBA would prove a login, with the hashes reduced to a ``binding_message`` the signer reads.

The flow:

1. Pairing, once per device. A logged-in person asks for a pairing link (``POST
   /v1/devices:pair``), opens it on their phone, and registers a passkey there (user verification
   required). The link is usable once and lives five minutes. It works at once only after a login
   with a second factor at most ten minutes old (the first phone, or a lost one replaced); else
   one of the person's registered devices must confirm it first, with its passkey. Every new
   device is announced to the person.
2. Each signature. ``credentials/authorize`` records a pending approval in Redis (expiring after
   ``approval_seconds``) and announces it through a pluggable :class:`ApprovalNotifier`. The
   signer opens the approval page, sees who asks for what, and confirms with the passkey.
3. The waiting ``authorize`` call then issues signature activation data (SAD): random, kept only
   as its SHA-256, bound to the credential, the owner, the hash algorithm and the set of approved
   hashes, expiring after ``sad_seconds``. ``signHash`` consumes hashes from it atomically, so each
   approved hash is signed at most once.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
import redis.asyncio as redis_async
import structlog
import webauthn
from webauthn.helpers import exceptions as webauthn_errors
from webauthn.helpers.structs import (
    AuthenticatorSelectionCriteria,
    PublicKeyCredentialDescriptor,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from gateway_runtime.tokens import InsufficientUserAuthentication, Principal
from signing_service.approval_notices import ApprovalNotifier
from signing_service.errors import (
    ApprovalFailed,
    ApprovalNotFound,
    ApprovalRefused,
    InvalidActivationData,
    NoApprovalDevice,
    PairingNotConfirmed,
)

_log = structlog.get_logger(__name__)

PAIRING_SECONDS = 300
#: A pairing needs no other device's consent after a second-factor login at most this old.
PAIRING_LOGIN_SECONDS = 600
#: The kinds of request a registered device confirms.
SIGNATURE, PAIRING = "signing-approval", "device-pairing"
RP_NAME = "Sở GD&ĐT — Ký số"

#: Atomically check that every hash is still authorised by the SAD, then remove them all.
_CONSUME = """
for i = 1, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then return 0 end
end
redis.call('SREM', KEYS[1], unpack(ARGV))
return 1
"""


#: Store a device's new signature counter only if it is still the one the assertion was checked
#: against: of two assertions checked at the same time against the same counter (a cloned
#: authenticator), only the first counts.
_ADVANCE = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return 0 end
if tonumber(cjson.decode(raw)['sign_count']) ~= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
return 1
"""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sad_key(sad: str) -> str:
    return hashlib.sha256(sad.encode()).hexdigest()


def _pairing_key(digest: str) -> str:
    """Pairing links are kept by their SHA-256: the store holds no link that works."""
    return f"pairing:{digest}"


def _digest(code: str) -> str:
    return hashlib.sha256(code.encode()).hexdigest()


def approval_reference(approval_id: str) -> str:
    """How the audit log names an approval: its id is a capability (whoever holds the link may
    see and deny it), so events carry its SHA-256 instead, the same in the request and the
    decision."""
    return _digest(approval_id)[:32]


def check_code(material: str) -> str:
    """A short code shown on both sides of a request (the app or the new phone, and the device
    that confirms), to compare by eye."""
    digest = hashlib.sha256(material.encode()).hexdigest().upper()
    return f"{digest[:4]}-{digest[4:8]}"


@dataclass(frozen=True)
class Device:
    """A passkey a signer registered for approvals (the public half only)."""

    device_id: str  # the WebAuthn credential id, base64url
    public_key: str  # COSE public key, base64url
    sign_count: int
    owner: str
    label: str
    created_at: float


@dataclass(frozen=True)
class PendingApproval:
    approval_id: str
    owner: str
    owner_name: str
    credential_id: str
    hash_algorithm: str  # dotted OID
    hashes: list[str]  # base64, as the client sent them
    requested_by: str  # the client application
    description: str
    expires_at: float
    nonce: str = field(repr=False)
    #: :data:`SIGNATURE` (sign these hashes) or :data:`PAIRING` (let a new device in).
    kind: str = SIGNATURE
    #: For a pairing: the SHA-256 of the pairing link's code.
    pairing: str = field(default="", repr=False)

    @property
    def challenge(self) -> bytes:
        """What the device signs: a digest of everything this approval authorises."""
        material = "\n".join(
            [
                "edu-gateway/approval/v2",
                self.kind,
                self.nonce,
                self.approval_id,
                self.pairing,
                self.credential_id,
                self.hash_algorithm,
                *self.hashes,
            ]
        )
        return hashlib.sha256(material.encode()).digest()

    @property
    def fingerprint(self) -> str:
        """A short code shown on both the requesting app (or the new phone) and the device."""
        return check_code(self.pairing if self.kind == PAIRING else "\n".join(self.hashes))


@dataclass(frozen=True)
class ActivationData:
    """What a SAD authorises (the SAD itself is never stored)."""

    credential_id: str
    owner: str
    hash_algorithm: str
    #: The application that asked for the approval (the phone showed its name): only it spends it.
    client_id: str = ""


class Approvals:
    """Device pairing, pending approvals and signature activation data, all in Redis."""

    def __init__(
        self,
        client: redis_async.Redis,
        *,
        public_url: str,
        notifier: ApprovalNotifier,
        approval_seconds: int,
        sad_seconds: int,
    ) -> None:
        self._redis = client
        self.origin = public_url.rstrip("/")
        self.rp_id = httpx.URL(self.origin).host
        self._notifier = notifier
        self.approval_seconds = approval_seconds
        self.sad_seconds = sad_seconds
        self._consume = client.register_script(_CONSUME)
        self._advance_script = client.register_script(_ADVANCE)

    # -- devices -------------------------------------------------------------------------------
    async def devices(self, owner: str) -> list[Device]:
        raw = await self._redis.hvals(f"devices:{owner}")
        return sorted((Device(**json.loads(r)) for r in raw), key=lambda d: d.created_at)

    async def _advance(self, device: Device, sign_count: int) -> bool:
        """Move ``device``'s signature counter to ``sign_count``, unless another approval moved it
        since ``device`` was read (a cloned authenticator answering twice at once)."""
        updated = json.dumps(asdict(Device(**{**asdict(device), "sign_count": sign_count})))
        moved = await self._advance_script(
            keys=[f"devices:{device.owner}"], args=[device.device_id, device.sign_count, updated]
        )
        if not moved:
            _log.warning("approval.counter_race", owner=device.owner)
        return bool(moved)

    async def _save_device(self, device: Device) -> None:
        await self._redis.hset(
            f"devices:{device.owner}", device.device_id, json.dumps(asdict(device))
        )

    async def start_pairing(self, principal: Principal) -> tuple[str, dict[str, Any]]:
        """A one-time pairing code for ``principal``'s next device, and its record.

        After a second-factor login at most :data:`PAIRING_LOGIN_SECONDS` old the link works at
        once. Otherwise one of the person's registered devices must confirm it (an application
        holding a password-strength token cannot add a phone of its choosing), and a person with
        no device yet is asked to log in again with the second factor (RFC 9470 step-up)."""
        try:
            principal.require_recent_login(level=2, max_age=PAIRING_LOGIN_SECONDS)
            confirmed = True
        except InsufficientUserAuthentication:
            if not await self.devices(principal.subject):
                raise
            confirmed = False
        code = secrets.token_urlsafe(24)
        digest = _digest(code)
        record: dict[str, Any] = {
            "owner": principal.subject,
            "username": principal.actor,
            "name": principal.display_name,
            "requested_by": principal.client_id,
            "confirmed": confirmed,
            "check_code": check_code(digest),
        }
        if not confirmed:
            approval = PendingApproval(
                approval_id=secrets.token_urlsafe(18),
                owner=principal.subject,
                owner_name=principal.display_name,
                credential_id="",
                hash_algorithm="",
                hashes=[],
                requested_by=principal.client_id,
                description="",
                expires_at=time.time() + PAIRING_SECONDS,
                nonce=secrets.token_urlsafe(24),
                kind=PAIRING,
                pairing=digest,
            )
            record["approval_id"] = approval.approval_id
            await self._redis.set(
                f"approval:{approval.approval_id}",
                json.dumps(asdict(approval)),
                ex=PAIRING_SECONDS,
            )
        await self._redis.set(_pairing_key(digest), json.dumps(record), ex=PAIRING_SECONDS)
        if not confirmed:
            await self._notifier.announce(approval, self.approval_url(approval.approval_id))
        return code, record

    async def pairing(self, code: str) -> dict[str, Any]:
        raw = await self._redis.get(_pairing_key(_digest(code))) if len(code) <= 64 else None
        if raw is None:
            raise ApprovalNotFound("pairing link unknown, used or expired")
        record: dict[str, Any] = json.loads(raw)
        return record

    async def pairing_options(self, code: str) -> str:
        """WebAuthn creation options (JSON) for the device being paired with ``code``."""
        record = await self.pairing(code)
        if not record.get("confirmed"):
            raise PairingNotConfirmed()
        existing = await self.devices(record["owner"])
        options = webauthn.generate_registration_options(
            rp_id=self.rp_id,
            rp_name=RP_NAME,
            user_id=record["owner"].encode(),
            user_name=record["username"],
            user_display_name=record["name"],
            authenticator_selection=AuthenticatorSelectionCriteria(
                resident_key=ResidentKeyRequirement.PREFERRED,
                user_verification=UserVerificationRequirement.REQUIRED,
            ),
            exclude_credentials=[
                PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(d.device_id))
                for d in existing
            ],
        )
        record["challenge"] = _b64url(options.challenge)
        await self._redis.set(_pairing_key(_digest(code)), json.dumps(record), keepttl=True)
        return webauthn.options_to_json(options)

    async def finish_pairing(self, code: str, credential: dict[str, Any], label: str) -> Device:
        """Verify the new passkey (user verification required) and register it; the code dies.
        The person's devices (and the push gateway) are told that a device was added."""
        raw = await self._redis.getdel(_pairing_key(_digest(code))) if len(code) <= 64 else None
        if raw is None:
            raise ApprovalNotFound("pairing link unknown, used or expired")
        record = json.loads(raw)
        if not record.get("confirmed") or "challenge" not in record:
            raise ApprovalFailed("no registration was started with this link")
        try:
            verified = webauthn.verify_registration_response(
                credential=credential,
                expected_challenge=webauthn.base64url_to_bytes(record["challenge"]),
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                require_user_verification=True,
            )
        except (webauthn_errors.WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise ApprovalFailed(type(exc).__name__) from exc
        device = Device(
            device_id=_b64url(verified.credential_id),
            public_key=_b64url(verified.credential_public_key),
            sign_count=verified.sign_count,
            owner=record["owner"],
            label=label[:60] or "Thiết bị",
            created_at=time.time(),
        )
        await self._save_device(device)
        await self._notifier.device_paired(device, str(record.get("requested_by", "")))
        return device

    async def _confirm_pairing(self, approval: PendingApproval, verdict: str) -> None:
        """A registered device let the new one in (or refused it: then the link dies)."""
        key = _pairing_key(approval.pairing)
        if verdict != "approved":
            await self._redis.delete(key)
            return
        raw = await self._redis.get(key)
        if raw is None:
            raise ApprovalNotFound("pairing link used or expired")
        record = json.loads(raw)
        await self._redis.set(key, json.dumps({**record, "confirmed": True}), keepttl=True)

    # -- approvals -----------------------------------------------------------------------------
    async def request(
        self,
        principal: Principal,
        *,
        credential_id: str,
        hash_algorithm: str,
        hashes: list[str],
        description: str,
    ) -> PendingApproval:
        """Record a pending approval and announce it to the signer's devices."""
        if not await self.devices(principal.subject):
            raise NoApprovalDevice()
        approval = PendingApproval(
            approval_id=secrets.token_urlsafe(18),
            owner=principal.subject,
            owner_name=principal.display_name,
            credential_id=credential_id,
            hash_algorithm=hash_algorithm,
            hashes=hashes,
            requested_by=principal.client_id,
            description=description[:200],
            expires_at=time.time() + self.approval_seconds,
            nonce=secrets.token_urlsafe(24),
        )
        await self._redis.set(
            f"approval:{approval.approval_id}",
            json.dumps(asdict(approval)),
            ex=self.approval_seconds,
        )
        await self._notifier.announce(approval, self.approval_url(approval.approval_id))
        return approval

    def approval_url(self, approval_id: str) -> str:
        return f"{self.origin}/approve/{approval_id}"

    async def pending(self, approval_id: str) -> PendingApproval:
        raw = await self._redis.get(f"approval:{approval_id}") if len(approval_id) <= 64 else None
        if raw is None:
            raise ApprovalNotFound()
        return PendingApproval(**json.loads(raw))

    async def decision(self, approval_id: str) -> str | None:
        raw = await self._redis.get(f"approval-decision:{approval_id}")
        if raw is None:
            return None
        return raw.decode() if isinstance(raw, bytes) else str(raw)

    async def approval_options(self, approval_id: str) -> str:
        """WebAuthn request options (JSON) whose challenge is the digest of the approval."""
        approval = await self.pending(approval_id)
        if await self.decision(approval_id) is not None:
            raise ApprovalNotFound("already decided")
        devices = await self.devices(approval.owner)
        options = webauthn.generate_authentication_options(
            rp_id=self.rp_id,
            challenge=approval.challenge,
            timeout=int(max(approval.expires_at - time.time(), 1) * 1000),
            allow_credentials=[
                PublicKeyCredentialDescriptor(id=webauthn.base64url_to_bytes(d.device_id))
                for d in devices
            ],
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        return webauthn.options_to_json(options)

    async def approve(self, approval_id: str, assertion: dict[str, Any]) -> PendingApproval:
        """Check the device's assertion over this approval's challenge; record the approval."""
        approval = await self.pending(approval_id)
        devices = {d.device_id: d for d in await self.devices(approval.owner)}
        device = devices.get(str(assertion.get("id", "")))
        if device is None:
            raise ApprovalFailed("the device is not registered to this signer")
        try:
            verified = webauthn.verify_authentication_response(
                credential=assertion,
                expected_challenge=approval.challenge,
                expected_rp_id=self.rp_id,
                expected_origin=self.origin,
                credential_public_key=webauthn.base64url_to_bytes(device.public_key),
                credential_current_sign_count=device.sign_count,
                require_user_verification=True,
            )
        except (webauthn_errors.WebAuthnException, ValueError, KeyError, TypeError) as exc:
            raise ApprovalFailed(type(exc).__name__) from exc
        if not await self._advance(device, verified.new_sign_count):
            raise ApprovalFailed("the device's signature counter moved during this approval")
        await self._decide(approval, "approved")
        if approval.kind == PAIRING:
            await self._confirm_pairing(approval, "approved")
        return approval

    async def deny(self, approval_id: str) -> PendingApproval:
        approval = await self.pending(approval_id)
        await self._decide(approval, "denied")
        if approval.kind == PAIRING:
            await self._confirm_pairing(approval, "denied")
        return approval

    async def _decide(self, approval: PendingApproval, verdict: str) -> None:
        key = f"approval-decision:{approval.approval_id}"
        if not await self._redis.set(key, verdict, nx=True, ex=self.approval_seconds):
            raise ApprovalNotFound("already decided")
        await self._redis.rpush(f"approval-wake:{approval.approval_id}", verdict)
        await self._redis.expire(f"approval-wake:{approval.approval_id}", self.approval_seconds)

    async def wait(self, approval: PendingApproval) -> str:
        """Wait for the signer's decision; return a fresh SAD if they approved."""
        remaining = max(int(approval.expires_at - time.time()), 1)
        await self._redis.blpop([f"approval-wake:{approval.approval_id}"], timeout=remaining)
        key = f"approval-decision:{approval.approval_id}"
        # Nobody decided in time: close the approval so that a late confirmation cannot count.
        await self._redis.set(key, "expired", nx=True, ex=self.approval_seconds)
        verdict = await self.decision(approval.approval_id)
        await self._redis.delete(f"approval:{approval.approval_id}")
        if verdict != "approved":
            raise ApprovalRefused(verdict)
        return await self._issue_sad(approval)

    async def _issue_sad(self, approval: PendingApproval) -> str:
        sad = secrets.token_urlsafe(32)
        key = _sad_key(sad)
        data = ActivationData(
            approval.credential_id, approval.owner, approval.hash_algorithm, approval.requested_by
        )
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(f"sad:{key}", json.dumps(asdict(data)), ex=self.sad_seconds)
            pipe.sadd(f"sad-hashes:{key}", *approval.hashes)
            pipe.expire(f"sad-hashes:{key}", self.sad_seconds)
            await pipe.execute()
        return sad

    async def consume(
        self,
        sad: str,
        *,
        credential_id: str,
        owner: str,
        client_id: str,
        hash_algorithm: str,
        hashes: list[str],
    ) -> None:
        """Spend the approval of ``hashes``: each approved hash is signed at most once."""
        key = _sad_key(sad)
        raw = await self._redis.get(f"sad:{key}")
        if raw is None:
            raise InvalidActivationData("unknown or expired SAD")
        data = ActivationData(**json.loads(raw))
        if (data.credential_id, data.owner) != (credential_id, owner):
            raise InvalidActivationData("the SAD was issued for another credential")
        if data.client_id != client_id:
            raise InvalidActivationData("the SAD was issued to another application")
        if data.hash_algorithm != hash_algorithm:
            raise InvalidActivationData("the SAD was issued for another hash algorithm")
        if not await self._consume(keys=[f"sad-hashes:{key}"], args=hashes):
            raise InvalidActivationData("a hash was not approved, or was already signed")
