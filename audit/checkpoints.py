"""Signed tree heads: periodic checkpoints of the audit log, signed with a key held in the token.

A checkpoint commits to the first ``tree_size`` events (the Merkle root of their canonical JSON). It is
a C2SP ``tlog-checkpoint`` signed note (:mod:`audit.note`): the origin line (``AUDIT_CHECKPOINT_ORIGIN``,
e.g. ``localhost/edu-gateway/audit``), the tree size, the base64 root, a blank line and the log's
Ed25519 signature line, made inside the PKCS#11 token (CKM_EDDSA; the key never leaves it). Anyone
checks it with the log's verifier key (``checkpoint-key.vkey``: ``origin+keyid+base64``), and
standard transparency-log tools and witnesses (``c2sp.org/tlog-witness``) read it as it is.

Checkpoints signed before this format (RSA PKCS#1 v1.5 over an ``edu-gateway/audit-checkpoint/v1``
message, ``key_id`` = 16 hex) stay in the store and keep verifying with the RSA public key (PEM) they
were signed with; new ones are always notes. A stored row tells which it is: a note's ``key_id`` is
``origin+keyid`` (8 hex), a legacy one has no ``+``.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, padding, rsa

from audit.errors import AuditError, ChainBroken, ProofInvalid
from audit.merkle import TreeBuilder, leaf_hash, verify_inclusion
from audit.note import (
    Checkpoint,
    Ed25519Verifier,
    NoteInvalid,
    NoteVerifier,
    check_key_name,
)
from audit.store import EventStore
from audit.tree_head import SignedTreeHead
from gateway_runtime.keystore import TokenKeystore


class CheckpointKeyUnsupported(AuditError):
    code: ClassVar[str] = "checkpoint-key-unsupported"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = (
        "Khoá ký điểm kiểm tra trong HSM không phải Ed25519; hãy tạo khoá mới (xem README)."
    )
    message_en: ClassVar[str] = (
        "The checkpoint key in the token is not Ed25519; enrol a new one (see the README)."
    )


class CheckpointSigner(Protocol):
    origin: str
    key_id: str
    verifier: Ed25519Verifier

    def sign(self, message: bytes) -> bytes: ...


def key_id_of(public_key_pem: bytes) -> str:
    """Legacy: the name of an RSA checkpoint key, SHA-256 of its SubjectPublicKeyInfo, 16 hex."""
    key = serialization.load_pem_public_key(public_key_pem)
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(der).hexdigest()[:16]


class TokenCheckpointSigner:
    """Signs checkpoints with the token's Ed25519 key ``label``; the key never leaves the token."""

    def __init__(self, keystore: TokenKeystore, label: str, origin: str) -> None:
        from pkcs11 import KeyType

        kind = keystore.key_type(label)
        if kind is None:
            raise CheckpointKeyUnsupported(f"no key {label!r} in the token")
        if kind != KeyType.EC_EDWARDS:
            raise CheckpointKeyUnsupported(
                f"the token key {label!r} is {kind.name}: checkpoints are signed notes with "
                "Ed25519 now; generate an Ed25519 key under another label (`gateway run` does) "
                "and set AUDIT_CHECKPOINT_KEY_LABEL to it; the old key still verifies the old "
                "checkpoints"
            )
        self._keystore = keystore
        self._label = label
        self.origin = check_key_name(origin)
        self.verifier = Ed25519Verifier(origin, keystore.ed25519_public_key(label))
        self.key_id = f"{origin}+{self.verifier.key_id:08x}"

    def sign(self, message: bytes) -> bytes:
        return self._keystore.sign_ed25519(self._label, message)


class MemoryCheckpointSigner:
    """A checkpoint key generated in memory: for tests and benchmarks of the log's structure. The
    service signs in the token (:class:`TokenCheckpointSigner`); the signed format is the same."""

    def __init__(self, origin: str = "test.invalid/edu-gateway/audit") -> None:
        self._key = ed25519.Ed25519PrivateKey.generate()
        raw = self._key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.origin = check_key_name(origin)
        self.verifier = Ed25519Verifier(origin, raw)
        self.key_id = f"{origin}+{self.verifier.key_id:08x}"
        #: What ``verify`` is given: the verifier key, as ``checkpoint-key.vkey`` holds it.
        self.public_key_pem = self.verifier.vkey().encode() + b"\n"

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def issue_checkpoint(signer: CheckpointSigner, tree_size: int, root_hash: bytes) -> SignedTreeHead:
    issued_at = datetime.now(UTC).isoformat(timespec="seconds")
    text = Checkpoint(signer.origin, tree_size, root_hash).text()
    return SignedTreeHead(
        tree_size, root_hash, issued_at, signer.key_id, signer.sign(text.encode())
    )


@dataclass(frozen=True)
class LogKeys:
    """The keys a reader trusts for the log's checkpoints: Ed25519 verifier keys (vkey lines) and,
    for checkpoints from before signed notes, RSA public keys (PEM blocks), from one or more files."""

    notes: tuple[NoteVerifier, ...]
    legacy_rsa: tuple[rsa.RSAPublicKey, ...]

    @classmethod
    def parse(cls, data: bytes) -> LogKeys:
        text = data.decode("utf-8", errors="replace")
        pems = re.findall(r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", text, re.S)
        rest = re.sub(
            r"-----BEGIN PUBLIC KEY-----.+?-----END PUBLIC KEY-----", "", text, flags=re.S
        )
        legacy: list[rsa.RSAPublicKey] = []
        for pem in pems:
            try:
                key = serialization.load_pem_public_key(pem.encode())
            except ValueError as exc:
                raise ProofInvalid("unreadable public key (PEM)") from exc
            if not isinstance(key, rsa.RSAPublicKey):
                raise ProofInvalid(
                    "a PEM public key is for legacy RSA checkpoints; give the log's verifier key "
                    "(checkpoint-key.vkey) for signed notes"
                )
            legacy.append(key)
        notes = [
            NoteVerifier.from_vkey(line)
            for line in (raw.strip() for raw in rest.splitlines())
            if line and not line.startswith("#")
        ]
        if not notes and not legacy:
            raise ProofInvalid("no checkpoint key found (a vkey line or an RSA PEM)")
        return cls(tuple(notes), tuple(legacy))

    def note_key(self, origin: str, key_id_value: int) -> NoteVerifier:
        for key in self.notes:
            if key.name == origin and key.key_id == key_id_value:
                return key
        raise ProofInvalid(
            f"checkpoint signed by {origin}+{key_id_value:08x}, not this one (no trusted key)"
        )


def log_keys(public_key: bytes | LogKeys) -> LogKeys:
    return public_key if isinstance(public_key, LogKeys) else LogKeys.parse(public_key)


def verify_checkpoint(checkpoint: SignedTreeHead, public_key: bytes | LogKeys) -> None:
    """Raise :class:`ProofInvalid` unless ``checkpoint`` was signed by one of the trusted keys
    (``public_key``: the bytes of a vkey file and/or RSA PEM, see :class:`LogKeys`)."""
    keys = log_keys(public_key)
    if checkpoint.is_note:
        signature = checkpoint.log_signature()
        verifier = keys.note_key(signature.name, signature.key_id)
        try:
            verifier.verify(checkpoint.checkpoint().text(), checkpoint.signature)
        except NoteInvalid as exc:
            raise ProofInvalid(
                f"checkpoint of size {checkpoint.tree_size} has a bad signature"
            ) from exc
        return
    for key in keys.legacy_rsa:
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if checkpoint.key_id != key_id_of(pem):
            continue
        try:
            key.verify(
                checkpoint.signature,
                checkpoint.signed_message(),
                padding.PKCS1v15(),
                hashes.SHA256(),
            )
        except InvalidSignature as exc:
            raise ProofInvalid(
                f"checkpoint of size {checkpoint.tree_size} has a bad signature"
            ) from exc
        return
    raise ProofInvalid(
        f"checkpoint signed by key {checkpoint.key_id}, not this one (no trusted key)"
    )


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


def check_proof_document(
    document: dict[str, Any], public_key_pem: bytes | LogKeys
) -> SignedTreeHead:
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
        from audit.tree import NodeRecorder

        self._store = store
        self._signer = signer
        self._builder: TreeBuilder | None = None
        self._nodes = NodeRecorder(store)
        self._head = b""

    def _load(self) -> TreeBuilder:
        from audit.store import GENESIS

        builder = TreeBuilder(on_subtree=self._nodes)
        latest = self._store.latest_checkpoint()
        self._head = GENESIS
        if latest is not None:
            for value in self._store.leaf_hashes(latest.tree_size):
                builder.append_leaf_hash(value)
            if builder.size != latest.tree_size or builder.root() != latest.root_hash:
                raise ChainBroken(
                    f"records 1..{latest.tree_size} differ from the checkpoint signed at "
                    f"{latest.issued_at}: the log was rewritten"
                )
            self._nodes.flush()  # a log from before the stored tree gets its nodes here
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
        self._nodes.flush()
        self._head = self._store.chain_hash_at(builder.size)
        checkpoint = issue_checkpoint(self._signer, builder.size, builder.root())
        self._store.add_checkpoint(checkpoint)
        return checkpoint


def checkpoint_store(store: EventStore, signer: CheckpointSigner) -> SignedTreeHead | None:
    """Sign one checkpoint over everything stored (the command line's way)."""
    return Checkpointer(store, signer).checkpoint()


def prove_event(store: EventStore, event_id: str) -> dict[str, Any] | None:
    """The inclusion proof of ``event_id`` under the latest checkpoint, or None if not covered yet."""
    from audit.tree import StoredTree

    located = store.locate(event_id)
    latest = store.latest_checkpoint()
    if located is None or latest is None or located[0] >= latest.tree_size:
        return None
    index, body, received_at = located
    path = StoredTree(store).inclusion_proof(index, latest.tree_size)
    return proof_document(body, index, path, latest, received_at)
