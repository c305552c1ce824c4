"""Signed notes, transparency-log checkpoints and witness cosignatures, byte for byte as the C2SP
specifications write them, so that standard transparency-log tooling reads what the audit log signs.

* ``c2sp.org/signed-note``: a UTF-8 text ending in a newline, a blank line, then signature lines
  ``— <key name> base64(4-byte key ID || signature)``. Ed25519 signatures (type ``0x01``) sign the
  text; the key ID is ``SHA-256(name || 0x0A || 0x01 || public key)[:4]``. A verifier key ("vkey") is
  written ``<name>+<key ID, 8 hex>+base64(type || public key)`` (``golang.org/x/mod/sumdb/note``).
* ``c2sp.org/tlog-checkpoint``: the text is the log's origin, its tree size and the base64 root hash.
* ``c2sp.org/tlog-cosignature`` v1 (type ``0x04``): a witness signs ``cosignature/v1\\ntime <T>\\n``
  followed by the checkpoint text with Ed25519; the signature is the 8-byte big-endian ``T`` followed
  by the 64-byte Ed25519 signature.

Everything here is pure (no key store, no network): the log's key signs inside the token
(:mod:`audit.checkpoints`), the witness's in :mod:`audit.witness`. Verification raises
:class:`NoteInvalid`; a signature from a key nobody asked about is ignored, never trusted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar, NewType

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from audit.errors import ProofInvalid

ED25519 = 0x01
COSIGNATURE_V1 = 0x04
EM_DASH = "\u2014"
#: More than any real checkpoint carries (the spec asks verifiers to accept at least 16).
MAX_SIGNATURES = 100
MAX_NOTE_BYTES = 1 << 16

#: A note whose signatures were not checked yet (what arrives from a file or the network).
UnverifiedNote = NewType("UnverifiedNote", str)

_NAME = re.compile(r"[^\s+]+")
_B64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


class NoteInvalid(ProofInvalid):
    """A signed note, checkpoint or cosignature is malformed or does not verify."""


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> bytes:
    if not _B64.fullmatch(text):
        raise NoteInvalid("not base64")
    try:
        return base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise NoteInvalid("not base64") from exc


def key_id(name: str, signature_type: int, public_key: bytes) -> int:
    """``SHA-256(name || 0x0A || type || public key)[:4]`` as a big-endian uint32."""
    digest = hashlib.sha256(name.encode() + b"\n" + bytes([signature_type]) + public_key).digest()
    return int.from_bytes(digest[:4], "big")


def check_key_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise NoteInvalid(f"key name {name!r}: non-empty, without spaces or '+'")
    return name


@dataclass(frozen=True)
class NoteSignature:
    """One signature line, not yet checked."""

    name: str
    key_id: int
    signature: bytes

    def line(self) -> str:
        payload = self.key_id.to_bytes(4, "big") + self.signature
        return f"{EM_DASH} {self.name} {b64(payload)}\n"

    @classmethod
    def parse_line(cls, line: str) -> NoteSignature:
        """``— name base64`` (without the newline)."""
        parts = line.split(" ")
        if len(parts) != 3 or parts[0] != EM_DASH:
            raise NoteInvalid("malformed signature line")
        name = check_key_name(parts[1])
        payload = unb64(parts[2])
        if len(payload) < 5:
            raise NoteInvalid("signature line too short")
        return cls(name, int.from_bytes(payload[:4], "big"), payload[4:])


@dataclass(frozen=True)
class SignedNote:
    text: str
    signatures: tuple[NoteSignature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)

    def with_signatures(self, extra: Iterable[NoteSignature]) -> SignedNote:
        signatures = list(self.signatures)
        for signature in extra:
            if signature not in signatures:
                signatures.append(signature)
        return SignedNote(self.text, tuple(signatures))

    @classmethod
    def parse(cls, data: str | bytes) -> SignedNote:
        """Split a note into its text and signature lines (nothing is verified here)."""
        if isinstance(data, bytes):
            if len(data) > MAX_NOTE_BYTES:
                raise NoteInvalid("note too large")
            try:
                data = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteInvalid("a note is UTF-8") from exc
        if len(data) > MAX_NOTE_BYTES:
            raise NoteInvalid("note too large")
        if any(ord(c) < 0x20 and c != "\n" for c in data):
            raise NoteInvalid("control characters in the note")
        if not data.endswith("\n"):
            raise NoteInvalid("a note ends with a newline")
        split = data.rfind("\n\n")
        if split < 0:
            raise NoteInvalid("no blank line before the signatures")
        text, block = data[: split + 1], data[split + 2 :]
        lines = block[:-1].split("\n") if block else []
        if not lines:
            raise NoteInvalid("a note has at least one signature")
        if len(lines) > MAX_SIGNATURES:
            raise NoteInvalid("too many signatures")
        return cls(text, tuple(NoteSignature.parse_line(line) for line in lines))


class NoteVerifier:
    """A key trusted to sign notes: its name, key ID and a way to check one signature."""

    signature_type: ClassVar[int]

    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise NoteInvalid("an Ed25519 public key has 32 bytes")
        self.name = check_key_name(name)
        self.public_key = public_key
        self.key_id = key_id(name, self.signature_type, public_key)
        self._key = Ed25519PublicKey.from_public_bytes(public_key)

    def matches(self, signature: NoteSignature) -> bool:
        return signature.name == self.name and signature.key_id == self.key_id

    def verify(self, text: str, signature: bytes) -> None:
        raise NotImplementedError

    def vkey(self) -> str:
        """``name+keyid+base64(type || key)``: what a verifier is configured with."""
        material = bytes([self.signature_type]) + self.public_key
        return f"{self.name}+{self.key_id:08x}+{b64(material)}"

    @staticmethod
    def from_vkey(vkey: str) -> NoteVerifier:
        """Parse a verifier key of either type this project uses (Ed25519 or cosignature/v1)."""
        parts = vkey.strip().split("+", 2)  # the base64 may hold "+" too
        if len(parts) != 3 or not re.fullmatch(r"[0-9a-f]{8}", parts[1]):
            raise NoteInvalid("a verifier key is name+keyid+base64")
        material = unb64(parts[2])
        kinds: dict[int, type[NoteVerifier]] = {
            ED25519: Ed25519Verifier,
            COSIGNATURE_V1: CosignatureVerifier,
        }
        if not material or material[0] not in kinds:
            raise NoteInvalid("unknown verifier key type")
        verifier = kinds[material[0]](parts[0], material[1:])
        if f"{verifier.key_id:08x}" != parts[1]:
            raise NoteInvalid("the verifier key's ID does not match its key")
        return verifier


class Ed25519Verifier(NoteVerifier):
    """A signed-note Ed25519 key (type 0x01): the log's checkpoint key."""

    signature_type = ED25519

    def verify(self, text: str, signature: bytes) -> None:
        try:
            self._key.verify(signature, text.encode())
        except InvalidSignature as exc:
            raise NoteInvalid(f"bad signature by {self.name}") from exc


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


class CosignatureVerifier(NoteVerifier):
    """A witness's cosignature/v1 key (type 0x04)."""

    signature_type = COSIGNATURE_V1

    @staticmethod
    def split(signature: bytes) -> tuple[int, bytes]:
        if len(signature) != 8 + 64:
            raise NoteInvalid("a cosignature/v1 is an 8-byte time and a 64-byte signature")
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp >= 1 << 63:
            raise NoteInvalid("cosignature time out of range")
        return timestamp, signature[8:]

    def verify(self, text: str, signature: bytes) -> None:
        timestamp, raw = self.split(signature)
        try:
            self._key.verify(raw, cosigned_message(text, timestamp))
        except InvalidSignature as exc:
            raise NoteInvalid(f"bad cosignature by {self.name}") from exc


def verified_signatures(
    note: SignedNote, verifiers: Sequence[NoteVerifier]
) -> list[tuple[NoteVerifier, NoteSignature]]:
    """The signatures of ``note`` made by ``verifiers``, each checked.

    Lines from unknown keys (another name, or another key ID) are ignored, as the spec requires;
    a line from a known key that fails to verify rejects the whole note.
    """
    found = []
    for signature in note.signatures:
        for verifier in verifiers:
            if verifier.matches(signature):
                verifier.verify(note.text, signature.signature)
                found.append((verifier, signature))
                break
    return found


class Ed25519NoteSigner:
    """An Ed25519 note key held in memory (the witness's file key, tests). ``sign`` is raw Ed25519."""

    def __init__(self, name: str, key: Ed25519PrivateKey, signature_type: int = ED25519) -> None:
        from cryptography.hazmat.primitives import serialization

        self.name = check_key_name(name)
        self._key = key
        public = key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        kinds: dict[int, type[NoteVerifier]] = {
            ED25519: Ed25519Verifier,
            COSIGNATURE_V1: CosignatureVerifier,
        }
        self.verifier = kinds[signature_type](name, public)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


def cosign(
    text: str, timestamp: int, name: str, key_id_value: int, sign: Callable[[bytes], bytes]
) -> NoteSignature:
    """A cosignature/v1 line over a checkpoint's text at ``timestamp`` (POSIX seconds)."""
    raw = sign(cosigned_message(text, timestamp))
    return NoteSignature(name, key_id_value, struct.pack(">Q", timestamp) + raw)


@dataclass(frozen=True)
class Checkpoint:
    """The text of a tlog-checkpoint: origin, tree size, root hash (extension lines kept as is)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def text(self) -> str:
        lines = [self.origin, str(self.size), b64(self.root_hash), *self.extensions]
        return "\n".join(lines) + "\n"

    @classmethod
    def parse(cls, text: str) -> Checkpoint:
        lines = text.split("\n")
        if len(lines) < 4 or lines[-1] != "" or any(not line for line in lines[:-1]):
            raise NoteInvalid("a checkpoint is at least three non-empty lines")
        origin, size, root = lines[0], lines[1], lines[2]
        if not re.fullmatch(r"0|[1-9][0-9]{0,18}", size):
            raise NoteInvalid("tree size is a decimal without leading zeroes")
        root_hash = unb64(root)
        if len(root_hash) != 32:
            raise NoteInvalid("the root hash is 32 bytes")
        return cls(origin, int(size), root_hash, tuple(lines[3:-1]))


def open_checkpoint(
    data: str | bytes, log_key: NoteVerifier, witnesses: Sequence[NoteVerifier] = ()
) -> tuple[Checkpoint, SignedNote, list[str]]:
    """Parse a signed checkpoint, verify the log's signature (required) and the cosignatures of
    ``witnesses`` (counted when valid); return the checkpoint, the note and the witnesses' names
    whose cosignature verified. A forged or unknown cosignature line is never counted."""
    note = SignedNote.parse(data)
    checkpoint = Checkpoint.parse(note.text)
    if checkpoint.origin != log_key.name:
        raise NoteInvalid(f"checkpoint of origin {checkpoint.origin!r}, not {log_key.name!r}")
    if not any(log_key.matches(s) for s in note.signatures):
        raise NoteInvalid("the checkpoint carries no signature of the log's key")
    verified_signatures(note, [log_key])
    cosigned: list[str] = []
    for witness in witnesses:
        for signature in note.signatures:
            if witness.matches(signature):
                try:
                    witness.verify(note.text, signature.signature)
                except NoteInvalid:
                    continue  # a forged cosignature line is not counted (nor fatal)
                cosigned.append(witness.name)
                break
    return checkpoint, note, cosigned
