"""A transparency-log witness (``c2sp.org/tlog-witness``), small enough for a district office or the
department to run beside the audit service, so that nobody has to trust the log's key alone.

The witness follows the logs it is configured with (origin + the log's verifier key). For each it
keeps the latest checkpoint it cosigned, and answers ``POST /add-checkpoint`` (body: ``old <size>``,
the consistency proof lines, a blank line, the signed checkpoint):

* 400 malformed request, or an old size above the checkpoint's; 404 unknown origin; 403 no valid
  signature of the log's key;
* 409 the old size is not the size it cosigned last (body: that size, ``text/x.tlog.size``), or
  the same size with another root;
* 422 the consistency proof from its checkpoint to the new one does not verify;
* 200 a cosignature/v1 line, after its new state is on disk.

Contract: it never cosigns a checkpoint inconsistent with one it cosigned before, across restarts and
crashes. Checking the old size and storing the new state happen under one lock; the state file is
replaced atomically (temporary file, fsync, rename, fsync of the folder) *before* the cosignature is
returned, so a crash at any point leaves the old state or the new one, never an older one. The
witness's Ed25519 key is a file readable by its owner only (mode 0600), never logged.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import json
import os
import stat
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import structlog
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, ConfigDict, Field

from audit.errors import AuditError, ProofInvalid
from audit.merkle import verify_consistency
from audit.note import (
    COSIGNATURE_V1,
    Checkpoint,
    CosignatureVerifier,
    Ed25519NoteSigner,
    NoteInvalid,
    NoteVerifier,
    SignedNote,
    check_key_name,
    cosign,
    unb64,
    verified_signatures,
)

_log = structlog.get_logger(__name__)

MAX_REQUEST_BYTES = 1 << 16
MAX_PROOF_LINES = 63
SIZE_CONTENT_TYPE = "text/x.tlog.size"


class WitnessError(AuditError):
    code: ClassVar[str] = "witness-config"
    status_code: ClassVar[int] = 500
    message_vi: ClassVar[str] = "Cấu hình nhân chứng (witness) không hợp lệ."
    message_en: ClassVar[str] = "The witness configuration is not valid."


class WitnessRefusal(Exception):
    """An ``add-checkpoint`` request refused with an HTTP status (the reason goes in the body)."""

    def __init__(self, status: int, reason: str, *, size: int | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        #: For 409: the size of the latest checkpoint cosigned (the response body).
        self.size = size


class FollowedLog(BaseModel):
    model_config = ConfigDict(extra="forbid")
    origin: str
    #: The log's verifier key, ``origin+keyid+base64`` (``checkpoint-key.vkey``).
    vkey: str


class WitnessConfig(BaseModel):
    """``witness.yaml``: who the witness is, where its key and state live, which logs it follows."""

    model_config = ConfigDict(extra="forbid")
    #: The witness's key name, e.g. ``phong-760.example/witness``.
    name: str
    key_file: Path
    state_file: Path
    logs: list[FollowedLog] = Field(min_length=1)
    host: str = "127.0.0.1"
    port: int = Field(default=8710, ge=1, le=65535)

    @classmethod
    def load(cls, path: Path) -> WitnessConfig:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise WitnessError(f"cannot read {path}: {type(exc).__name__}") from exc
        config = cls.model_validate(data)
        base = path.parent
        return config.model_copy(
            update={
                "key_file": base / config.key_file,
                "state_file": base / config.state_file,
            }
        )


def generate_key(path: Path) -> Ed25519PrivateKey:
    """A new witness key in ``path`` (PKCS#8 PEM, created with mode 0600, never overwritten)."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


def load_key(path: Path) -> Ed25519PrivateKey:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise WitnessError(f"{path} is readable by others: chmod 600 it")
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise WitnessError(f"{path} is not an Ed25519 key")
    return key


def cosigner(name: str, key: Ed25519PrivateKey) -> Ed25519NoteSigner:
    return Ed25519NoteSigner(name, key, signature_type=COSIGNATURE_V1)


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: list[bytes]
    note: SignedNote
    checkpoint: Checkpoint

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpoint:
        if len(body) > MAX_REQUEST_BYTES:
            raise WitnessRefusal(400, "request too large")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise WitnessRefusal(400, "the request is UTF-8") from exc
        head, sep, rest = text.partition("\n\n")
        if not sep:
            raise WitnessRefusal(400, "no blank line before the checkpoint")
        lines = head.split("\n")
        first = lines[0].split(" ")
        if len(first) != 2 or first[0] != "old" or not _decimal(first[1]):
            raise WitnessRefusal(400, "the first line is 'old <size>'")
        if len(lines) - 1 > MAX_PROOF_LINES:
            raise WitnessRefusal(400, "more than 63 consistency proof lines")
        try:
            proof = [unb64(line) for line in lines[1:]]
            if any(len(h) != 32 for h in proof):
                raise NoteInvalid("a proof line is one 32-byte hash")
            note = SignedNote.parse(rest)
            checkpoint = Checkpoint.parse(note.text)
        except NoteInvalid as exc:
            raise WitnessRefusal(400, str(exc)) from exc
        return cls(int(first[1]), proof, note, checkpoint)


def _decimal(text: str) -> bool:
    return text == "0" or (text.isascii() and text.isdigit() and not text.startswith("0"))


class WitnessState:
    """The latest cosigned checkpoint of each log, in one JSON file replaced atomically."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock_file = path.with_name(path.name + ".lock").open("a")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock_file.close()
            raise WitnessError(f"another witness process uses {path}") from exc
        self.logs: dict[str, tuple[int, bytes]] = {}
        if path.exists():
            data = json.loads(path.read_text(encoding="utf-8"))
            self.logs = {
                origin: (int(entry["size"]), base64.b64decode(entry["root"]))
                for origin, entry in data["logs"].items()
            }

    def close(self) -> None:
        self._lock_file.close()

    def save(self, logs: dict[str, tuple[int, bytes]]) -> None:
        """Write ``logs`` durably: after this returns, a crash cannot bring the old state back."""
        data = {
            "logs": {
                origin: {"size": size, "root": base64.b64encode(root).decode()}
                for origin, (size, root) in sorted(logs.items())
            }
        }
        temporary = self.path.with_name(self.path.name + ".tmp")
        with temporary.open("w", encoding="utf-8") as handle:
            json.dump(data, handle)
            handle.flush()
            os.fsync(handle.fileno())
        _replace(temporary, self.path)
        folder = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
        self.logs = dict(logs)


# A seam for the crash test: the one step between "written" and "in place".
_replace = os.replace


class Witness:
    """The witness's decision, apart from HTTP (:func:`create_witness_app` serves it)."""

    def __init__(
        self,
        name: str,
        key: Ed25519PrivateKey,
        logs: dict[str, NoteVerifier],
        state: WitnessState,
    ) -> None:
        self.signer = cosigner(check_key_name(name), key)
        self.logs = logs
        self.state = state
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: WitnessConfig) -> Witness:
        logs: dict[str, NoteVerifier] = {}
        for followed in config.logs:
            verifier = NoteVerifier.from_vkey(followed.vkey)
            if verifier.name != followed.origin or isinstance(verifier, CosignatureVerifier):
                raise WitnessError(f"the key of {followed.origin} is not a log key of that origin")
            logs[followed.origin] = verifier
        return cls(config.name, load_key(config.key_file), logs, WitnessState(config.state_file))

    @property
    def vkey(self) -> str:
        return self.signer.verifier.vkey()

    def add_checkpoint(self, body: bytes, *, now: float | None = None) -> str:
        """Check one request; return the cosignature line(s), or raise :class:`WitnessRefusal`."""
        request = AddCheckpoint.parse(body)
        checkpoint = request.checkpoint
        log_key = self.logs.get(checkpoint.origin)
        if log_key is None:
            raise WitnessRefusal(404, "unknown log origin")
        try:
            signed = verified_signatures(request.note, [log_key])
        except NoteInvalid as exc:
            raise WitnessRefusal(403, "the log's signature does not verify") from exc
        if not signed:
            raise WitnessRefusal(403, "no signature of a key this witness trusts for the log")
        if request.old_size > checkpoint.size:
            raise WitnessRefusal(400, "old size above the checkpoint's size")
        with self._lock:
            size, root = self.state.logs.get(checkpoint.origin, (0, b""))
            if request.old_size != size:
                raise WitnessRefusal(409, "old size is not the latest cosigned", size=size)
            if size == checkpoint.size:
                if request.proof:
                    raise WitnessRefusal(400, "a proof between equal sizes is empty")
                if root != checkpoint.root_hash:
                    _log.warning("witness.fork", origin=checkpoint.origin, size=size)
                    raise WitnessRefusal(409, "another root for the same size", size=size)
            elif size == 0:
                if request.proof:
                    raise WitnessRefusal(400, "a proof from size 0 is empty")
            else:
                try:
                    verify_consistency(
                        size, checkpoint.size, root, checkpoint.root_hash, request.proof
                    )
                except ProofInvalid as exc:
                    # Signed by the log's key yet inconsistent: evidence of a rewritten log.
                    _log.warning(
                        "witness.inconsistent",
                        origin=checkpoint.origin,
                        old=size,
                        new=checkpoint.size,
                        note=request.note.render(),
                    )
                    raise WitnessRefusal(422, "the consistency proof does not verify") from exc
            updated = dict(self.state.logs)
            updated[checkpoint.origin] = (checkpoint.size, checkpoint.root_hash)
            self.state.save(updated)  # before any cosignature leaves
        timestamp = int(now if now is not None else time.time())
        line = cosign(
            request.note.text,
            timestamp,
            self.signer.name,
            self.signer.verifier.key_id,
            self.signer.sign,
        ).line()
        _log.info("witness.cosigned", origin=checkpoint.origin, size=checkpoint.size)
        return line


def create_witness_app(witness: Witness) -> FastAPI:
    """The HTTP face of a witness: ``POST /add-checkpoint`` and ``GET /`` (its verifier key)."""
    app = FastAPI(title="Nhân chứng nhật ký kiểm toán (audit log witness)", docs_url=None)

    @app.post("/add-checkpoint")
    async def add_checkpoint(request: Request) -> PlainTextResponse:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > MAX_REQUEST_BYTES:
            return PlainTextResponse("request too large\n", status_code=400)
        body = await request.body()
        try:
            line = await _in_thread(witness.add_checkpoint, body)
        except WitnessRefusal as refusal:
            if refusal.status == 409 and refusal.size is not None:
                return PlainTextResponse(
                    f"{refusal.size}\n", status_code=409, media_type=SIZE_CONTENT_TYPE
                )
            return PlainTextResponse(refusal.reason + "\n", status_code=refusal.status)
        except OSError as exc:
            # The state could not be stored: no cosignature, the old state stands.
            _log.error("witness.state_write_failed", error=type(exc).__name__)
            return PlainTextResponse("state not stored\n", status_code=503)
        return PlainTextResponse(line, status_code=200)

    @app.get("/")
    async def about() -> PlainTextResponse:
        return PlainTextResponse(witness.vkey + "\n")

    return app


async def _in_thread(function: Any, *args: Any) -> Any:
    import asyncio

    return await asyncio.to_thread(function, *args)


def serve(config: WitnessConfig) -> None:
    import uvicorn

    from gateway_runtime import configure_logging

    configure_logging(json=None)
    witness = Witness.from_config(config)
    try:
        uvicorn.run(
            create_witness_app(witness), host=config.host, port=config.port, log_level="warning"
        )
    finally:
        with contextlib.suppress(OSError):
            witness.state.close()
