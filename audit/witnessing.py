"""Getting the audit log's checkpoints cosigned by witnesses (the client side of
``c2sp.org/tlog-witness``), and saying whether a checkpoint is witnessed.

For each new checkpoint the service POSTs ``add-checkpoint`` to every configured witness with the
consistency proof from the size that witness cosigned last (learnt from its 409 answer when not
known), checks each returned cosignature against that witness's key and stores it. A checkpoint is
*witnessed* once ``quorum`` of the configured witnesses cosigned it. Witnessing never holds up the
log: a witness that is down only leaves the checkpoint "not yet witnessed"; the next round tries
again with the latest checkpoint.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import httpx
import structlog

from audit.note import CosignatureVerifier, NoteInvalid, NoteSignature, NoteVerifier, b64
from audit.tree import StoredTree

if TYPE_CHECKING:
    from audit.store import EventStore
    from audit.tree_head import SignedTreeHead

_log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class WitnessEndpoint:
    url: str
    verifier: CosignatureVerifier

    @classmethod
    def of(cls, url: str, vkey: str) -> WitnessEndpoint:
        verifier = NoteVerifier.from_vkey(vkey)
        if not isinstance(verifier, CosignatureVerifier):
            raise NoteInvalid("a witness key is a cosignature/v1 verifier key (type 0x04)")
        return cls(url.rstrip("/"), verifier)


@dataclass(frozen=True)
class WitnessStatus:
    tree_size: int
    cosigned_by: tuple[str, ...]
    quorum: int
    witnesses: int

    @property
    def witnessed(self) -> bool:
        return self.witnesses > 0 and len(self.cosigned_by) >= self.quorum

    def to_json(self) -> dict[str, object]:
        return {
            "status": "witnessed" if self.witnessed else "not-yet-witnessed",
            "cosigned_by": list(self.cosigned_by),
            "quorum": self.quorum,
            "witnesses": self.witnesses,
        }


def cosignature_lines(
    store: EventStore, checkpoint: SignedTreeHead, witnesses: list[WitnessEndpoint]
) -> tuple[list[NoteSignature], tuple[str, ...]]:
    """The stored cosignatures of ``checkpoint`` that verify against the configured witnesses'
    keys (a line altered in the database, or from a witness no longer configured, is left out)."""
    stored = store.cosignatures(checkpoint.tree_size)
    text = checkpoint.checkpoint().text()
    lines: list[NoteSignature] = []
    names: list[str] = []
    for witness in witnesses:
        line = stored.get(witness.verifier.name)
        if line is None:
            continue
        try:
            signature = NoteSignature.parse_line(line.rstrip("\n"))
            if not witness.verifier.matches(signature):
                continue
            witness.verifier.verify(text, signature.signature)
        except NoteInvalid:
            continue
        lines.append(signature)
        names.append(witness.verifier.name)
    return lines, tuple(names)


def witness_status(
    store: EventStore, checkpoint: SignedTreeHead, witnesses: list[WitnessEndpoint], quorum: int
) -> WitnessStatus:
    _, names = cosignature_lines(store, checkpoint, witnesses)
    return WitnessStatus(checkpoint.tree_size, names, quorum, len(witnesses))


class WitnessCollector:
    """Sends checkpoints to the witnesses and keeps their cosignatures."""

    def __init__(
        self,
        store: EventStore,
        witnesses: list[WitnessEndpoint],
        *,
        quorum: int,
        timeout: float = 3.0,
    ) -> None:
        self._store = store
        self.witnesses = witnesses
        self.quorum = quorum
        self._timeout = timeout
        #: The size each witness cosigned last, as far as this process knows.
        self._known: dict[str, int] = {}
        self._client: httpx.AsyncClient | None = None

    def done(self, tree_size: int) -> bool:
        """Every witness cosigned ``tree_size`` (or something larger)."""
        return all(self._known.get(w.verifier.name, -1) >= tree_size for w in self.witnesses)

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def submit(self, checkpoint: SignedTreeHead) -> WitnessStatus:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._timeout)
        await asyncio.gather(*(self._submit_one(w, checkpoint) for w in self.witnesses))
        return await asyncio.to_thread(
            witness_status, self._store, checkpoint, self.witnesses, self.quorum
        )

    async def _submit_one(self, witness: WitnessEndpoint, checkpoint: SignedTreeHead) -> None:
        if self._client is None:
            raise RuntimeError("submit() opens the client")
        name = witness.verifier.name
        note = checkpoint.note().render()
        old = self._known.get(name, 0)
        for _attempt in range(3):
            if old > checkpoint.tree_size:
                _log.error("audit.witness_ahead", witness=name, witness_size=old)
                return
            proof = await asyncio.to_thread(
                StoredTree(self._store).consistency_proof, old, checkpoint.tree_size
            )
            body = f"old {old}\n" + "".join(b64(h) + "\n" for h in proof) + "\n" + note
            try:
                response = await self._client.post(
                    f"{witness.url}/add-checkpoint", content=body.encode()
                )
            except httpx.HTTPError as exc:
                _log.warning("audit.witness_unreachable", witness=name, error=type(exc).__name__)
                return
            if response.status_code == 409 and response.headers.get("content-type", "").startswith(
                "text/x.tlog.size"
            ):
                text = response.text.strip()
                if not text.isdigit() or int(text) == old:
                    _log.error("audit.witness_conflict", witness=name, size=checkpoint.tree_size)
                    return
                old = int(text)
                continue
            if response.status_code != 200:
                _log.warning(
                    "audit.witness_refused", witness=name, status=response.status_code, old=old
                )
                return
            # A write to the store (it waits for the ingestor's commit): in a thread.
            await asyncio.to_thread(self._keep, witness, checkpoint, response.text)
            return

    def _keep(self, witness: WitnessEndpoint, checkpoint: SignedTreeHead, body: str) -> None:
        text = checkpoint.checkpoint().text()
        for line in body.splitlines():
            try:
                signature = NoteSignature.parse_line(line)
            except NoteInvalid:
                continue
            if not witness.verifier.matches(signature):
                continue  # another key's line: ignored, as the spec says
            try:
                witness.verifier.verify(text, signature.signature)
            except NoteInvalid:
                _log.error("audit.witness_bad_cosignature", witness=witness.verifier.name)
                return
            self._store.add_cosignature(
                checkpoint.tree_size,
                witness.verifier.name,
                signature.line(),
                datetime.now(UTC).isoformat(timespec="milliseconds"),
            )
            self._known[witness.verifier.name] = checkpoint.tree_size
            return
