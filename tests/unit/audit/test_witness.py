"""The witness's decisions (c2sp.org/tlog-witness add-checkpoint), each attack named: split views
and rewritten logs, rollbacks, tampered proofs, unknown keys, and a crash while storing its state.
The witness runs on real files (key 0600, state replaced atomically); the log key is in memory here
(the token-held key is exercised in tests/integration/test_audit_witnesses.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

import audit.witness as witness_module
from audit.merkle import consistency_proof, leaf_hash, root_of
from audit.note import (
    Checkpoint,
    Ed25519NoteSigner,
    NoteSignature,
    SignedNote,
    b64,
    open_checkpoint,
)
from audit.witness import (
    Witness,
    WitnessError,
    WitnessRefusal,
    WitnessState,
    generate_key,
    load_key,
)

ORIGIN = "gw.test/edu-gateway/audit"


class Log:
    """A log in memory: leaves, and checkpoints signed with its key."""

    def __init__(self, key: Ed25519NoteSigner | None = None) -> None:
        self.key = key or Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.generate())
        self.leaves: list[bytes] = []

    def add(self, count: int, salt: bytes = b"") -> None:
        start = len(self.leaves)
        self.leaves += [leaf_hash(salt + (start + i).to_bytes(4, "big")) for i in range(count)]

    def note(self, size: int | None = None) -> str:
        size = len(self.leaves) if size is None else size
        text = Checkpoint(ORIGIN, size, root_of(self.leaves[:size])).text()
        signature = NoteSignature(ORIGIN, self.key.verifier.key_id, self.key.sign(text.encode()))
        return SignedNote(text, (signature,)).render()

    def request(self, old: int, size: int | None = None, proof: list[bytes] | None = None) -> bytes:
        size = len(self.leaves) if size is None else size
        if proof is None:
            proof = consistency_proof(old, self.leaves[:size]) if old else []
        lines = "".join(b64(h) + "\n" for h in proof)
        return f"old {old}\n{lines}\n{self.note(size)}".encode()


@pytest.fixture
def log() -> Log:
    return Log()


_OPEN: list[WitnessState] = []


@pytest.fixture(autouse=True)
def _close_states() -> Iterator[None]:
    yield
    while _OPEN:
        _OPEN.pop().close()


def _witness(tmp_path: Path, log: Log) -> Witness:
    key_file = tmp_path / "witness-key.pem"
    key = load_key(key_file) if key_file.exists() else generate_key(key_file)
    state = WitnessState(tmp_path / "state.json")
    _OPEN.append(state)
    return Witness("phong.test/witness", key, {ORIGIN: log.key.verifier}, state)


def _refused(witness: Witness, body: bytes) -> WitnessRefusal:
    with pytest.raises(WitnessRefusal) as caught:
        witness.add_checkpoint(body)
    return caught.value


def test_consistent_checkpoints_are_cosigned_in_turn(tmp_path: Path, log: Log) -> None:
    witness = _witness(tmp_path, log)
    log.add(5)
    first = witness.add_checkpoint(log.request(0))
    log.add(7)
    second = witness.add_checkpoint(log.request(5))
    for line, size in ((first, 5), (second, 12)):
        note = SignedNote.parse(log.note(size)).with_signatures(
            [NoteSignature.parse_line(line[:-1])]
        )
        _, _, names = open_checkpoint(note.render(), log.key.verifier, [witness.signer.verifier])
        assert names == ["phong.test/witness"]
    assert witness.state.logs[ORIGIN][0] == 12


def test_log_rewritten_with_its_stolen_key_is_refused(tmp_path: Path, log: Log) -> None:
    """Attack (split view / rewritten log): from record k on the log is rewritten with a fresh
    chain and checkpoints freshly signed with the stolen log key; no proof links it to what the
    witness cosigned: 422 with the forged proof, 409 claiming another old size."""
    witness = _witness(tmp_path, log)
    log.add(30)
    witness.add_checkpoint(log.request(0))
    forged = Log(log.key)  # the same (stolen) key
    forged.leaves = log.leaves[:20]
    forged.add(25, salt=b"rewritten")
    assert _refused(witness, forged.request(30)).status == 422
    refusal = _refused(witness, forged.request(0))
    assert (refusal.status, refusal.size) == (409, 30)
    # Same size as cosigned but another root: a fork, 409.
    fork = Log(log.key)
    fork.leaves = log.leaves[:20]
    fork.add(10, salt=b"fork")
    assert _refused(witness, fork.request(30, proof=[])).status == 409
    assert witness.state.logs[ORIGIN][0] == 30


def test_rollback_to_a_smaller_checkpoint_is_refused(tmp_path: Path, log: Log) -> None:
    """Attack (rollback): a checkpoint smaller than the one the witness cosigned."""
    witness = _witness(tmp_path, log)
    log.add(40)
    witness.add_checkpoint(log.request(0))
    refusal = _refused(witness, log.request(10, size=25))
    assert (refusal.status, refusal.size) == (409, 40)
    assert _refused(witness, log.request(40, size=25, proof=[])).status == 400  # old above size


def test_tampered_proof_is_422(tmp_path: Path, log: Log) -> None:
    """Attack (tampered proof): one hash of an honest proof altered."""
    witness = _witness(tmp_path, log)
    log.add(9)
    witness.add_checkpoint(log.request(0))
    log.add(14)
    proof = consistency_proof(9, log.leaves)
    proof[1] = bytes(32)
    assert _refused(witness, log.request(9, proof=proof)).status == 422
    assert witness.state.logs[ORIGIN][0] == 9


def test_checkpoint_signed_by_an_unknown_key_is_403_and_unknown_origin_404(
    tmp_path: Path, log: Log
) -> None:
    """Attack (impersonation): a checkpoint of the log's origin signed by another key."""
    witness = _witness(tmp_path, log)
    impostor = Log(Ed25519NoteSigner(ORIGIN, Ed25519PrivateKey.generate()))
    impostor.add(3)
    assert _refused(witness, impostor.request(0)).status == 403
    stranger = Log(Ed25519NoteSigner("other.test/log", Ed25519PrivateKey.generate()))
    stranger.add(3)
    body = stranger.request(0).replace(ORIGIN.encode(), b"other.test/log")
    assert _refused(witness, body).status in (403, 404)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"old 01\n\n",
        b"old x\n\n",
        b"new 1\n\nx",
        b"old 0\nnot base64!\n\nx",
        "é".encode("latin-1"),
    ],
)
def test_malformed_requests_are_400(tmp_path: Path, log: Log, body: bytes) -> None:
    assert _refused(_witness(tmp_path, log), body).status == 400


def test_crash_while_storing_the_state_cosigns_nothing_and_rolls_nothing_back(
    tmp_path: Path, log: Log, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Attack (witness crash between receiving and storing): the new state never reaches its
    place, so no cosignature leaves; restarted from disk, the witness still holds what it cosigned
    last and refuses anything older."""
    witness = _witness(tmp_path, log)
    log.add(10)
    witness.add_checkpoint(log.request(0))
    log.add(10)

    def crash(source: object, target: object) -> None:
        raise OSError("power lost")

    monkeypatch.setattr(witness_module, "_replace", crash)
    with pytest.raises(OSError):
        witness.add_checkpoint(log.request(10))
    monkeypatch.undo()
    witness.state.close()
    restarted = _witness(tmp_path, log)
    assert restarted.state.logs[ORIGIN][0] == 10
    assert _refused(restarted, log.request(0, size=5)).size == 10
    restarted.add_checkpoint(log.request(10))  # the honest next one still goes through
    restarted.state.close()
    again = _witness(tmp_path, log)
    assert again.state.logs[ORIGIN][0] == 20


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k.pem"
    generate_key(path)
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    with pytest.raises(WitnessError, match="chmod 600"):
        load_key(path)


def test_two_witness_processes_cannot_share_one_state(tmp_path: Path) -> None:
    first = WitnessState(tmp_path / "state.json")
    _OPEN.append(first)
    with pytest.raises(WitnessError, match="another witness"):
        WitnessState(tmp_path / "state.json")
