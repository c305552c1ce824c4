"""The signed tree head as the store keeps it: a checkpoint's size, root, time, key and signature.

Its own module, below both the store (which keeps them) and the checkpointer (which makes and checks
them), so that neither imports the other in a circle.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from audit.errors import ProofInvalid
from audit.note import Checkpoint, NoteInvalid, NoteSignature, SignedNote

#: The domain of the legacy (RSA) checkpoint message.
_DOMAIN = "edu-gateway/audit-checkpoint/v1"


@dataclass(frozen=True)
class SignedTreeHead:
    """A stored checkpoint. ``key_id`` is ``origin+keyid`` for a signed note (``signature`` is the
    raw Ed25519 signature of its text), 16 hex for a legacy RSA checkpoint."""

    tree_size: int
    root_hash: bytes
    issued_at: str
    key_id: str
    signature: bytes

    @staticmethod
    def message(tree_size: int, root_hash: bytes, issued_at: str, key_id: str) -> bytes:
        """The legacy (RSA) signed message."""
        return f"{_DOMAIN}\n{tree_size}\n{root_hash.hex()}\n{issued_at}\n{key_id}\n".encode()

    @property
    def is_note(self) -> bool:
        return "+" in self.key_id

    @property
    def origin(self) -> str:
        return self.key_id.rpartition("+")[0]

    def checkpoint(self) -> Checkpoint:
        return Checkpoint(self.origin, self.tree_size, self.root_hash)

    def log_signature(self) -> NoteSignature:
        origin, _, hex_id = self.key_id.rpartition("+")
        return NoteSignature(origin, int(hex_id, 16), self.signature)

    def note(self, cosignatures: list[NoteSignature] | None = None) -> SignedNote:
        """The signed note (with witnesses' cosignature lines appended, if given)."""
        if not self.is_note:
            raise NoteInvalid(f"the checkpoint of size {self.tree_size} predates signed notes")
        return SignedNote(self.checkpoint().text(), (self.log_signature(), *(cosignatures or [])))

    def signed_message(self) -> bytes:
        if self.is_note:
            return self.checkpoint().text().encode()
        return self.message(self.tree_size, self.root_hash, self.issued_at, self.key_id)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "tree_size": self.tree_size,
            "root_hash": self.root_hash.hex(),
            "issued_at": self.issued_at,
            "key_id": self.key_id,
            "signature": base64.b64encode(self.signature).decode(),
        }
        if self.is_note:
            data["note"] = self.note().render()
        return data

    @classmethod
    def from_note(cls, note: SignedNote, issued_at: str = "") -> SignedTreeHead:
        """The checkpoint a signed note carries, with the first signature named for its origin
        (unchecked: :func:`verify_checkpoint` checks it)."""
        checkpoint = Checkpoint.parse(note.text)
        if checkpoint.extensions:
            raise NoteInvalid("this log's checkpoints have no extension lines")
        for signature in note.signatures:
            if signature.name == checkpoint.origin:
                return cls(
                    checkpoint.size,
                    checkpoint.root_hash,
                    issued_at,
                    f"{checkpoint.origin}+{signature.key_id:08x}",
                    signature.signature,
                )
        raise NoteInvalid(f"no signature named for the origin {checkpoint.origin!r}")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SignedTreeHead:
        try:
            if "note" in data:
                return cls.from_note(
                    SignedNote.parse(str(data["note"])), str(data.get("issued_at", ""))
                )
            return cls(
                tree_size=int(data["tree_size"]),
                root_hash=bytes.fromhex(data["root_hash"]),
                issued_at=str(data["issued_at"]),
                key_id=str(data["key_id"]),
                signature=base64.b64decode(data["signature"], validate=True),
            )
        except (KeyError, ValueError, TypeError) as exc:
            raise ProofInvalid(f"malformed checkpoint ({type(exc).__name__})") from exc
