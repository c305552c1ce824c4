"""Checkpoints signed in the real SoftHSM2 token, cosigned by real witnesses over HTTP on loopback,
and `gateway-audit verify --from-checkpoint`: each attack named in its test.

The witnesses are the project's own (`audit.witness`), served by uvicorn; the log's key is an
Ed25519 key generated in the token, as the audit service's is.
"""

from __future__ import annotations

import os
import secrets
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.checkpoints import Checkpointer, TokenCheckpointSigner
from audit.note import COSIGNATURE_V1, SignedNote, open_checkpoint
from audit.store import EventStore, open_store
from audit.witness import Witness, WitnessState, create_witness_app, generate_key
from audit.witnessing import WitnessCollector, WitnessEndpoint, witness_status
from devstack import StackInfo, softhsm
from gateway_runtime.keystore import TokenKeystore
from tests.audit_cli import run_audit_cli
from tests.conftest import TokenFactory, free_port

pytestmark = [pytest.mark.softhsm]

ORIGIN = "test.localhost/edu-gateway/audit"
TOKEN = "audit-witness-test"
PIN = "246813"


@pytest.fixture(scope="module")
def keystore(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TokenKeystore]:
    conf_env = os.environ.get("SOFTHSM2_CONF")
    if conf_env is None:  # this module alone: a token folder of its own
        conf = softhsm.configure(tmp_path_factory.mktemp("softhsm"))
        os.environ["SOFTHSM2_CONF"] = str(conf)
    else:  # beside the stack's token, in the same SoftHSM2 configuration
        conf = Path(conf_env)
    softhsm.ensure_token(conf, label=TOKEN, so_pin="135792", user_pin=PIN)
    store = TokenKeystore(module=softhsm.module_path(), token_label=TOKEN, user_pin=PIN)
    yield store
    store.close()


@pytest.fixture
def signer(keystore: TokenKeystore) -> TokenCheckpointSigner:
    label = f"log-{secrets.token_hex(4)}"
    keystore.generate_ed25519_key(label)
    return TokenCheckpointSigner(keystore, label, ORIGIN)


class ServedWitness:
    def __init__(self, folder: Path, name: str, log_vkey: str) -> None:
        from audit.note import NoteVerifier

        self.folder = folder
        self.name = name
        self.log_vkey = log_vkey
        self.key = generate_key(folder / "witness-key.pem")
        self.port = free_port()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._witness: Witness | None = None
        self._verifier = NoteVerifier.from_vkey(log_vkey)

    @property
    def endpoint(self) -> WitnessEndpoint:
        from audit.witness import cosigner

        return WitnessEndpoint.of(
            f"http://127.0.0.1:{self.port}", cosigner(self.name, self.key).verifier.vkey()
        )

    def start(self) -> None:
        self._witness = Witness(
            self.name,
            self.key,
            {ORIGIN: self._verifier},
            WitnessState(self.folder / "state.json"),
        )
        config = uvicorn.Config(
            create_witness_app(self._witness), host="127.0.0.1", port=self.port, log_level="error"
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("witness did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(10)
        if self._witness is not None:
            self._witness.state.close()
        self._server = self._thread = self._witness = None


@pytest.fixture
def witnesses(tmp_path: Path, signer: TokenCheckpointSigner) -> Iterator[list[ServedWitness]]:
    served = []
    for name in ("so-gddt.test/witness", "phong-760.test/witness"):
        folder = tmp_path / name.split(".")[0]
        folder.mkdir()
        witness = ServedWitness(folder, name, signer.verifier.vkey())
        witness.start()
        served.append(witness)
    yield served
    for witness in served:
        witness.stop()


def _events(store: EventStore, count: int, tag: str = "") -> None:
    store.append(
        AuditEvent.build(
            tag=EventTag.SIGNING_DOCUMENT_SIGN,
            service="signing",
            actor=Actor(name=f"user{tag}{i}"),
            outcome=Outcome.SUCCESS,
            target={"document_sha256": f"{i:064x}"},
        )
        for i in range(count)
    )


def _cosigned_note(store: EventStore, served: list[ServedWitness]) -> str:
    from audit.witnessing import cosignature_lines

    latest = store.latest_checkpoint()
    assert latest is not None
    lines, _ = cosignature_lines(store, latest, [w.endpoint for w in served])
    return latest.note(lines).render()


def _witness_round(store: EventStore, served: list[ServedWitness], quorum: int = 2) -> list[str]:
    import asyncio

    latest = store.latest_checkpoint()
    assert latest is not None

    async def run() -> list[str]:
        collector = WitnessCollector(store, [w.endpoint for w in served], quorum=quorum, timeout=5)
        try:
            status = await collector.submit(latest)
        finally:
            await collector.aclose()
        return list(status.cosigned_by)

    return asyncio.run(run())


def test_token_signed_checkpoints_are_cosigned_by_both_witnesses(
    tmp_path: Path, signer: TokenCheckpointSigner, witnesses: list[ServedWitness]
) -> None:
    store = open_store(tmp_path / "events.sqlite3")
    try:
        checkpointer = Checkpointer(store, signer)
        _events(store, 300)
        checkpointer.checkpoint()
        assert sorted(_witness_round(store, witnesses)) == sorted(w.name for w in witnesses)
        _events(store, 41, "b")
        checkpointer.checkpoint()
        # The collector learns each witness's size from its 409 and sends the consistency proof.
        assert len(_witness_round(store, witnesses)) == 2
        latest = store.latest_checkpoint()
        assert latest is not None and latest.tree_size == 341
        status = witness_status(store, latest, [w.endpoint for w in witnesses], 2)
        assert status.witnessed
        note = _cosigned_note(store, witnesses)
        _, _, names = open_checkpoint(
            note, signer.verifier, [w.endpoint.verifier for w in witnesses]
        )
        assert len(names) == 2
        assert all(s.key_id for s in SignedNote.parse(note).signatures)
        assert COSIGNATURE_V1 == 4
    finally:
        store.close()


def test_witness_down_leaves_checkpoints_issued_but_not_witnessed(
    tmp_path: Path, signer: TokenCheckpointSigner, witnesses: list[ServedWitness]
) -> None:
    """Availability: a witness that is down holds nothing up; the checkpoint is 'not yet
    witnessed' with a quorum of 2, and witnessed once the witness is back."""
    store = open_store(tmp_path / "events.sqlite3")
    try:
        witnesses[1].stop()
        _events(store, 10)
        made = Checkpointer(store, signer).checkpoint()
        assert made is not None
        assert _witness_round(store, witnesses) == [witnesses[0].name]
        assert not witness_status(store, made, [w.endpoint for w in witnesses], 2).witnessed
        witnesses[1].start()
        assert len(_witness_round(store, witnesses)) == 2
        assert witness_status(store, made, [w.endpoint for w in witnesses], 2).witnessed
    finally:
        store.close()


def test_log_rewritten_with_the_stolen_token_key_is_refused_by_witnesses_and_verify(
    tmp_path: Path, signer: TokenCheckpointSigner, witnesses: list[ServedWitness]
) -> None:
    """Attack (split view / rewritten log, key stolen): the officer kept a cosigned checkpoint of
    60 records. The log is then rebuilt from record 40 on with a fresh hash chain and new
    checkpoints signed with the log's own token key. The witnesses refuse to cosign it (their
    consistency check fails), and `verify --from-checkpoint` refuses it; the honest log passes,
    reading only the records after the kept checkpoint."""
    honest_path = tmp_path / "events.sqlite3"
    honest = open_store(honest_path)
    vkey = tmp_path / "checkpoint-key.vkey"
    vkey.write_text(signer.verifier.vkey() + "\n")
    kept = tmp_path / "kept.note"
    try:
        _events(honest, 60)
        Checkpointer(honest, signer).checkpoint()
        assert len(_witness_round(honest, witnesses)) == 2
        kept.write_text(_cosigned_note(honest, witnesses))
        _events(honest, 25, "later")
        Checkpointer(honest, signer).checkpoint()
        assert len(_witness_round(honest, witnesses)) == 2
        original = list(honest.records(upto=39))
    finally:
        honest.close()

    ok = run_audit_cli(
        "verify",
        "--store",
        str(honest_path),
        "--public-key",
        str(vkey),
        "--from-checkpoint",
        str(kept),
    )
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "read 25 records after it" in ok.stdout

    forged_path = tmp_path / "forged.sqlite3"
    forged = open_store(forged_path)
    try:
        from audit.store import SqliteEventStore

        assert isinstance(forged, SqliteEventStore)
        import json

        from audit.events import AuditEvent as Event

        forged.append(
            [Event.model_validate(json.loads(r.body or "{}")) for r in original],
            bodies=[r.body or "" for r in original],
        )
        _events(forged, 50, "forged")  # from record 40 on: other events, a fresh chain
        Checkpointer(forged, signer).checkpoint()  # signed with the stolen (token) key
        assert _witness_round(forged, witnesses) == []
        assert forged.cosignatures(90) == {}
    finally:
        forged.close()
    refused = run_audit_cli(
        "verify",
        "--store",
        str(forged_path),
        "--public-key",
        str(vkey),
        "--from-checkpoint",
        str(kept),
    )
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "rewritten" in refused.stdout
    # The whole-log verify of the forged copy passes on its own terms: only the kept checkpoint
    # (or a witness) reveals the rewrite.
    alone = run_audit_cli("verify", "--store", str(forged_path), "--public-key", str(vkey))
    assert alone.returncode == 0, alone.stdout


def test_kept_checkpoint_with_a_forged_signature_is_refused(
    tmp_path: Path, signer: TokenCheckpointSigner
) -> None:
    """Attack: the kept file itself altered (size and root changed, signature kept)."""
    path = tmp_path / "events.sqlite3"
    store = open_store(path)
    try:
        _events(store, 12)
        made = Checkpointer(store, signer).checkpoint()
        assert made is not None
        note = made.note().render()
    finally:
        store.close()
    vkey = tmp_path / "k.vkey"
    vkey.write_text(signer.verifier.vkey())
    kept = tmp_path / "kept.note"
    kept.write_text(note.replace("\n12\n", "\n11\n", 1))
    result = run_audit_cli(
        "verify", "--store", str(path), "--public-key", str(vkey), "--from-checkpoint", str(kept)
    )
    assert result.returncode == 1 and "bad signature" in result.stdout, result.stdout
    shutil.copy(path, tmp_path / "copy.sqlite3")


@pytest.mark.keycloak
@pytest.mark.redis
@pytest.mark.softhsm
def test_the_running_stacks_checkpoints_are_cosigned_by_its_two_witnesses(
    stack_info: StackInfo, client_token: TokenFactory
) -> None:
    """The stack (as ``gateway run`` starts it) runs two witnesses; the audit service sends them
    each checkpoint and serves it with both cosignatures as a C2SP signed note."""
    headers = {"Authorization": f"Bearer {client_token('audit-reports')}"}
    deadline = time.monotonic() + 30
    body: dict[str, Any] = {}
    while time.monotonic() < deadline:
        response = httpx.get(f"{stack_info.audit_url}/v1/checkpoints/latest", headers=headers)
        if response.status_code == 200:
            body = response.json()
            if body.get("witnessed", {}).get("status") == "witnessed":
                break
        time.sleep(0.5)
    assert body.get("witnessed", {}).get("status") == "witnessed", body
    assert len(body["witnessed"]["cosigned_by"]) == 2
    note = httpx.get(
        f"{stack_info.audit_url}/v1/checkpoints/latest", params={"format": "note"}, headers=headers
    ).text
    signature_lines = [line for line in note.splitlines() if line.startswith("\u2014 ")]
    assert len(signature_lines) >= 3, note  # the log's own and two cosignatures
