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

from audit.errors import ChainBroken, ProofInvalid
from audit.merkle import TreeBuilder, leaf_hash, verify_inclusion
from gateway_runtime.keystore import TokenKeystore

if TYPE_CHECKING:
    from audit.store import EventStore

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


class MemoryCheckpointSigner:
    """A checkpoint key generated in memory: for tests and benchmarks of the log's structure. The
    service signs in the token (:class:`TokenCheckpointSigner`); the signed format is the same."""

    def __init__(self) -> None:
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_key_pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        self.key_id = key_id_of(self.public_key_pem)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())


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


#: v2: the leaf covers the record's columns (``audit/records.py``), derived from the event, and
#: ``received_at`` when the record was flagged. v1 (the leaf of the body alone) is still checked.
_PROOF_FORMAT = "edu-gateway/audit-inclusion-proof/v2"
_PROOF_V1 = "edu-gateway/audit-inclusion-proof/v1"


def proof_document(
    event_body: str,
    index: int,
    proof: list[bytes],
    checkpoint: SignedTreeHead,
    received_at: str | None = None,
) -> dict[str, Any]:
    """The exportable answer to a dispute: one event, its audit path, and the signed checkpoint."""
    return {
        "format": _PROOF_FORMAT,
        "event": json.loads(event_body),
        "event_canonical": event_body,
        **({"received_at": received_at} if received_at is not None else {}),
        "leaf_index": index,
        "audit_path": [h.hex() for h in proof],
        "checkpoint": checkpoint.to_json(),
    }


def check_proof_document(document: dict[str, Any], public_key_pem: bytes) -> SignedTreeHead:
    """Check an exported inclusion proof offline; return its checkpoint, or raise ProofInvalid."""
    from audit.records import leaf_of_body

    try:
        version = document["format"]
        if version not in (_PROOF_FORMAT, _PROOF_V1):
            raise ProofInvalid("unknown proof format")
        canonical = str(document["event_canonical"])
        if json.loads(canonical) != document["event"]:
            raise ProofInvalid("the event shown differs from the event proven")
        index = int(document["leaf_index"])
        path = [bytes.fromhex(h) for h in document["audit_path"]]
        checkpoint = SignedTreeHead.from_json(document["checkpoint"])
        received = document.get("received_at")
        leaf = (
            leaf_hash(canonical.encode())
            if version == _PROOF_V1
            else leaf_of_body(canonical, None if received is None else str(received))
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ProofInvalid(f"malformed proof ({type(exc).__name__})") from exc
    verify_checkpoint(checkpoint, public_key_pem)
    verify_inclusion(leaf, index, checkpoint.tree_size, path, checkpoint.root_hash)
    return checkpoint


class Checkpointer:
    """Signs checkpoints as the log grows, reading only what was added since the last one.

    On first use it rebuilds the tree from the stored leaf hashes up to the latest checkpoint and
    checks that they give its signed root (so they can be trusted); the records added after it are
    checked (body, leaf hash, chain) before any new checkpoint covers them: a log tampered with is
    never signed over.
    """

    def __init__(self, store: EventStore, signer: CheckpointSigner) -> None:
        self._store = store
        self._signer = signer
        self._builder: TreeBuilder | None = None
        self._head = b""

    def _load(self) -> TreeBuilder:
        from audit.store import GENESIS

        builder = TreeBuilder()
        existing = self._store.checkpoints()
        self._head = GENESIS
        if existing:
            latest = existing[-1]
            for value in self._store.leaf_hashes(latest.tree_size):
                builder.append_leaf_hash(value)
            if builder.size != latest.tree_size or builder.root() != latest.root_hash:
                raise ChainBroken(
                    f"records 1..{latest.tree_size} differ from the checkpoint signed at "
                    f"{latest.issued_at}: the log was rewritten"
                )
            self._head = self._store.chain_hash_at(latest.tree_size)
        return builder

    def checkpoint(self) -> SignedTreeHead | None:
        """Sign a checkpoint over everything stored, unless nothing was added since the last one."""
        from audit.store import check_records

        if self._builder is None:
            self._builder = self._load()
        builder = self._builder
        size = builder.size
        added: list[bytes] = []
        check_records(
            self._store.records(after=size),
            self._store,
            previous=self._head,
            after=size,
            on_leaf=added.append,
        )
        if not added:
            return None
        for value in added:
            builder.append_leaf_hash(value)
        self._head = self._store.chain_hash_at(builder.size)
        checkpoint = issue_checkpoint(self._signer, builder.size, builder.root())
        self._store.add_checkpoint(checkpoint)
        return checkpoint


def checkpoint_store(store: EventStore, signer: CheckpointSigner) -> SignedTreeHead | None:
    """Sign one checkpoint over everything stored (the command line's way)."""
    return Checkpointer(store, signer).checkpoint()


def prove_event(store: EventStore, event_id: str) -> dict[str, Any] | None:
    """The inclusion proof of ``event_id`` under the latest checkpoint, or None if not covered yet."""
    from audit.merkle import inclusion_proof_streamed

    located = store.locate(event_id)
    checkpoints = store.checkpoints()
    if located is None or not checkpoints or located[0] >= checkpoints[-1].tree_size:
        return None
    index, body, received_at = located
    latest = checkpoints[-1]
    path = inclusion_proof_streamed(index, latest.tree_size, store.leaf_hashes(latest.tree_size))
    return proof_document(body, index, path, latest, received_at)
