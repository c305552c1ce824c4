"""Signed tree heads: periodic checkpoints of the audit log, signed with a key held in the token.

A checkpoint commits to the first ``tree_size`` events (the Merkle root of their canonical JSON). It is
signed inside the PKCS#11 token (RSA PKCS#1 v1.5 with SHA-256) and checked with the public key alone, so
that someone who can rewrite the database, chain hashes included, still cannot forge the history: the
old checkpoints no longer match.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from audit.errors import ProofInvalid
from gateway_runtime.keystore import TokenKeystore

if TYPE_CHECKING:
    from audit.store import SqliteEventStore

_DOMAIN = "edu-gateway/audit-checkpoint/v1"


@dataclass(frozen=True)
class SignedTreeHead:
    tree_size: int
    root_hash: bytes
    issued_at: str
    key_id: str
    signature: bytes

    @staticmethod
    def message(tree_size: int, root_hash: bytes, issued_at: str, key_id: str) -> bytes:
        return f"{_DOMAIN}\n{tree_size}\n{root_hash.hex()}\n{issued_at}\n{key_id}\n".encode()

    def signed_message(self) -> bytes:
        return self.message(self.tree_size, self.root_hash, self.issued_at, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "issued_at": self.issued_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedTreeHead:
        try:
            return cls(
                tree_size=int(data["tree_size"]),
                root_hash=bytes.fromhex(data["root_hash"]),
                issued_at=str(data["issued_at"]),
                key_id=str(data["key_id"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofInvalid(f"malformed checkpoint ({type(exc).__name__})") from exc


class CheckpointSigner(Protocol):
    key_id: str

    def sign(self, message: bytes) -> bytes: ...


def key_id_of(public_key_pem: bytes) -> str:
    """A short, stable name for a checkpoint key: SHA-256 of its SubjectPublicKeyInfo, 16 hex."""
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


class TokenCheckpointSigner:
    """Signs checkpoints with the token key ``label``; the key never leaves the token."""

    def __init__(self, keystore: TokenKeystore, label: str) -> None:
        self._keystore = keystore
        self._label = label
        spki = bytes(keystore.public_key(label).dump())
        self.public_key_pem = serialization.load_der_public_key(spki).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = key_id_of(self.public_key_pem)

    def sign(self, message: bytes) -> bytes:
        return self._keystore.sign(self._label, message)


def issue_checkpoint(signer: CheckpointSigner, tree_size: int, root_hash: bytes) -> SignedTreeHead:
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    message = SignedTreeHead.message(tree_size, root_hash, issued_at, signer.key_id)
    return SignedTreeHead(tree_size, root_hash, issued_at, signer.key_id, signer.sign(message))


def verify_checkpoint(checkpoint: SignedTreeHead, public_key_pem: bytes) -> None:
    """Raise :class:`ProofInvalid` unless ``checkpoint`` was signed by the key in ``public_key_pem``."""
    key = serialization.load_pem_public_key(public_key_pem)
    if not isinstance(key, rsa.RSAPublicKey):
        raise ProofInvalid("checkpoint keys are RSA")
    if checkpoint.key_id != key_id_of(public_key_pem):
        raise ProofInvalid(f"checkpoint signed by key {checkpoint.key_id}, not this one")
    try:
        key.verify(
            checkpoint.signature, checkpoint.signed_message(), padding.PKCS1v15(), hashes.SHA256()
        )
    except InvalidSignature as exc:
        raise ProofInvalid(
            f"checkpoint of size {checkpoint.tree_size} has a bad signature"
        ) from exc


def proof_document(
    event_body: str, index: int, proof: list[bytes], checkpoint: SignedTreeHead
) -> dict[str, Any]:
    """The exportable answer to a dispute: one event, its audit path, and the signed checkpoint."""
    return {
        "format": "edu-gateway/audit-inclusion-proof/v1",
        "event": json.loads(event_body),
        "event_canonical": event_body,
        "leaf_index": index,
        "audit_path": [h.hex() for h in proof],
        "checkpoint": checkpoint.to_json(),
    }


def check_proof_document(document: dict[str, Any], public_key_pem: bytes) -> SignedTreeHead:
    """Check an exported inclusion proof offline; return its checkpoint, or raise ProofInvalid."""
    from audit.merkle import leaf_hash, verify_inclusion

    try:
        if document["format"] != "edu-gateway/audit-inclusion-proof/v1":
            raise ProofInvalid("unknown proof format")
        canonical = str(document["event_canonical"])
        if json.loads(canonical) != document["event"]:
            raise ProofInvalid("the event shown differs from the event proven")
        index = int(document["leaf_index"])
        path = [bytes.fromhex(h) for h in document["audit_path"]]
        checkpoint = SignedTreeHead.from_json(document["checkpoint"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ProofInvalid(f"malformed proof ({type(exc).__name__})") from exc
    verify_checkpoint(checkpoint, public_key_pem)
    verify_inclusion(
        leaf_hash(canonical.encode()), index, checkpoint.tree_size, path, checkpoint.root_hash
    )
    return checkpoint


def checkpoint_store(store: SqliteEventStore, signer: CheckpointSigner) -> SignedTreeHead | None:
    """Sign a checkpoint over everything stored, unless nothing was added since the last one."""
    from audit.merkle import TreeBuilder

    existing = store.checkpoints()
    builder = TreeBuilder()
    builder.extend(body.encode() for body in store.bodies())
    if builder.size == 0 or (existing and existing[-1].tree_size >= builder.size):
        return None
    checkpoint = issue_checkpoint(signer, builder.size, builder.root())
    store.add_checkpoint(checkpoint)
    return checkpoint


def prove_event(store: SqliteEventStore, event_id: str) -> dict[str, Any] | None:
    """The inclusion proof of ``event_id`` under the latest checkpoint, or None if not covered yet."""
    from audit.merkle import inclusion_proof, leaf_hash

    located = store.locate(event_id)
    checkpoints = store.checkpoints()
    if located is None or not checkpoints or located[0] >= checkpoints[-1].tree_size:
        return None
    index, body = located
    latest = checkpoints[-1]
    hashes = [leaf_hash(b.encode()) for b in store.bodies(limit=latest.tree_size)]
    return proof_document(body, index, inclusion_proof(index, hashes), latest)
