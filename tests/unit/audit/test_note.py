"""The signed-note, checkpoint and cosignature formats against the specifications' own examples
(golang.org/x/mod/sumdb/note test vectors, c2sp.org/tlog-checkpoint and tlog-cosignature)."""

from __future__ import annotations

import base64

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.note import (
    COSIGNATURE_V1,
    Checkpoint,
    CosignatureVerifier,
    Ed25519NoteSigner,
    NoteInvalid,
    NoteSignature,
    NoteVerifier,
    SignedNote,
    cosign,
    cosigned_message,
    open_checkpoint,
    verified_signatures,
)

# golang.org/x/mod/sumdb/note's test key and note (note_test.go: TestSign, TestOpen).
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_SIG = "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
ENOCH_SIG = "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+QQ=\n"


def _peter_signer() -> Ed25519NoteSigner:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])[1:]  # 0x01 || 32-byte seed
    return Ed25519NoteSigner("PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed))


def test_key_id_and_vkey_match_the_go_vector() -> None:
    signer = _peter_signer()
    assert signer.verifier.key_id == 0xC74F20A3
    assert signer.verifier.vkey() == PETER_VKEY
    assert NoteVerifier.from_vkey(PETER_VKEY).key_id == 0xC74F20A3


def test_signature_line_is_byte_for_byte_the_go_vector() -> None:
    signer = _peter_signer()
    line = NoteSignature("PeterNeumann", signer.verifier.key_id, signer.sign(TEXT.encode())).line()
    assert line == PETER_SIG
    assert (
        SignedNote(TEXT, (NoteSignature.parse_line(line[:-1]),)).render() == TEXT + "\n" + PETER_SIG
    )


def test_open_verifies_known_keys_and_ignores_unknown_ones() -> None:
    note = SignedNote.parse(TEXT + "\n" + PETER_SIG + ENOCH_SIG)
    assert note.text == TEXT
    peter = NoteVerifier.from_vkey(PETER_VKEY)
    enoch = NoteVerifier.from_vkey(ENOCH_VKEY)
    assert [v.name for v, _ in verified_signatures(note, [peter])] == ["PeterNeumann"]
    assert [v.name for v, _ in verified_signatures(note, [peter, enoch])] == [
        "PeterNeumann",
        "EnochRoot",
    ]
    assert verified_signatures(note, []) == []


def test_signature_altered_in_transit_rejects_the_note() -> None:
    """Attack: a known key's signature altered (Go's 'invalid signature' vector)."""
    bad = TEXT + "\n" + PETER_SIG[:60] + "ABCD" + PETER_SIG[60:]
    with pytest.raises(NoteInvalid):
        verified_signatures(SignedNote.parse(bad), [NoteVerifier.from_vkey(PETER_VKEY)])


@pytest.mark.parametrize(
    "message",
    [
        TEXT,
        TEXT + "\n",
        TEXT + "\n" + PETER_SIG[:-1],
        "\x01" + TEXT + "\n" + PETER_SIG,
        TEXT
        + "\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=",
        TEXT + "\n" + PETER_SIG + "Unexpected line.\n",
    ],
)
def test_malformed_notes_of_the_go_suite_are_refused(message: str) -> None:
    with pytest.raises(NoteInvalid):
        SignedNote.parse(message)


@pytest.mark.parametrize(
    "vkey",
    [
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
    ],
)
def test_mangled_verifier_keys_are_refused(vkey: str) -> None:
    with pytest.raises(NoteInvalid):
        NoteVerifier.from_vkey(vkey)


def test_checkpoint_example_of_the_spec_parses() -> None:
    example = (
        "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n"
        "— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/"
        "Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n"
        "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2"
        "oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
    )
    note = SignedNote.parse(example)
    checkpoint = Checkpoint.parse(note.text)
    assert (checkpoint.origin, checkpoint.size) == ("example.com/behind-the-sofa", 20852163)
    assert checkpoint.text() == note.text
    cosignature = note.signatures[1]
    assert cosignature.key_id == 0x8D66CF3F
    # The timestamp of the spec's cosignature is the one of its signed-message example.
    assert CosignatureVerifier.split(cosignature.signature)[0] == 1679315147
    assert cosigned_message(note.text, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n"
        b"CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    )
    assert note.render() == example


@pytest.mark.parametrize(
    "text",
    [
        "origin\n012\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
        "origin\n12\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2\n",
        "origin\n12\n",
        "origin\n-1\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(NoteInvalid):
        Checkpoint.parse(text)


def _log_and_witness() -> tuple[Ed25519NoteSigner, Ed25519NoteSigner, SignedNote]:
    log = Ed25519NoteSigner("gw.test/edu-gateway/audit", Ed25519PrivateKey.generate())
    witness = Ed25519NoteSigner(
        "phong.test/witness", Ed25519PrivateKey.generate(), signature_type=COSIGNATURE_V1
    )
    text = Checkpoint(log.name, 10, bytes(range(32))).text()
    signed = SignedNote(
        text, (NoteSignature(log.name, log.verifier.key_id, log.sign(text.encode())),)
    )
    return log, witness, signed


def test_cosignature_counts_only_when_it_verifies() -> None:
    """Attack: a forged cosignature line (right name and key ID, wrong signature) is not counted."""
    log, witness, note = _log_and_witness()
    good = cosign(note.text, 1_700_000_000, witness.name, witness.verifier.key_id, witness.sign)
    _, _, names = open_checkpoint(
        note.with_signatures([good]).render(), log.verifier, [witness.verifier]
    )
    assert names == ["phong.test/witness"]
    forged = NoteSignature(good.name, good.key_id, good.signature[:8] + bytes(64))
    _, _, names = open_checkpoint(
        note.with_signatures([forged]).render(), log.verifier, [witness.verifier]
    )
    assert names == []
    # The same cosignature on another checkpoint (replayed) does not count either.
    other = Checkpoint(log.name, 11, bytes(32)).text()
    moved = SignedNote(
        other, (NoteSignature(log.name, log.verifier.key_id, log.sign(other.encode())), good)
    )
    _, _, names = open_checkpoint(moved.render(), log.verifier, [witness.verifier])
    assert names == []


def test_checkpoint_of_another_key_is_refused() -> None:
    """Attack: a checkpoint signed by a key of the same name that the reader does not trust."""
    log, _, note = _log_and_witness()
    impostor = Ed25519NoteSigner(log.name, Ed25519PrivateKey.generate())
    forged = SignedNote(
        note.text,
        (NoteSignature(log.name, impostor.verifier.key_id, impostor.sign(note.text.encode())),),
    )
    with pytest.raises(NoteInvalid, match="no signature of the log"):
        open_checkpoint(forged.render(), log.verifier)
