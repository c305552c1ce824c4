"""``gateway-audit``: verify the audit log, sign a checkpoint, export and check inclusion proofs.

Exit codes: 0 verified, 1 verification failed (the message names the first bad record), 2 bad input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from audit.checkpoints import (
    TokenCheckpointSigner,
    check_proof_document,
    checkpoint_store,
    prove_event,
)
from audit.errors import AuditError
from audit.settings import AuditSettings
from audit.store import SqliteEventStore
from audit.verification import verify_log, verify_range
from gateway_runtime.keystore import TokenKeystore

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Nhật ký kiểm toán / audit log")
console = Console()

StoreOption = Annotated[
    Path, typer.Option(exists=True, dir_okay=False, help="Tệp cơ sở dữ liệu nhật ký / store file")
]
KeyOption = Annotated[
    Path,
    typer.Option(
        exists=True, dir_okay=False, help="Khoá công khai điểm kiểm tra (PEM) / public key"
    ),
]


def _fail(error: AuditError) -> None:
    console.print(f"[red]KHÔNG HỢP LỆ / FAILED[/red]\n{error.diagnostics()}")
    raise typer.Exit(1)


@app.command()
def verify(
    store: StoreOption,
    public_key: KeyOption,
    since: Annotated[
        datetime | None, typer.Option(help="Chỉ báo cáo từ thời điểm này (UTC) / range start")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Đến trước thời điểm này (UTC) / range end")
    ] = None,
) -> None:
    """Prove the whole log (or the records of a time range) intact and complete against its
    signed checkpoints."""
    events = SqliteEventStore(store)
    try:
        if since is not None or until is not None:
            start = (since or datetime(1970, 1, 1)).replace(tzinfo=UTC)
            end = (until or datetime(9999, 1, 1)).replace(tzinfo=UTC)
            if end <= start:
                console.print("--until must come after --since")
                raise typer.Exit(2)
            ranged = verify_range(events, public_key.read_bytes(), start, end)
            console.print(
                f"[green]HỢP LỆ / VERIFIED[/green]: {ranged.records} records between {start:%Y-%m-%d %H:%M} "
                f"and {end:%Y-%m-%d %H:%M} UTC"
                + (f" (positions {ranged.first_seq}..{ranged.last_seq})" if ranged.records else "")
                + "; the hash chain and every signed checkpoint hold."
            )
            if ranged.unsigned_from is not None:
                console.print(
                    f"Records from position {ranged.unsigned_from} are chained but not yet under a "
                    "signed checkpoint."
                )
            return
        result = verify_log(events, public_key.read_bytes())
    except AuditError as exc:
        _fail(exc)
        return
    finally:
        events.close()
    console.print(
        f"[green]HỢP LỆ / VERIFIED[/green]: {result.records} records, hash chain intact; "
        f"{result.checkpoints} signed checkpoints match (latest covers {result.latest_checkpoint_size})."
    )
    if result.latest_checkpoint_size < result.records:
        console.print(
            f"{result.records - result.latest_checkpoint_size} newer records are chained but not yet "
            "under a signed checkpoint."
        )


@app.command()
def checkpoint(store: StoreOption) -> None:
    """Sign a checkpoint now with the token key (settings from the AUDIT_* environment)."""
    settings = AuditSettings.model_validate({"keycloak_issuer": "-"})
    if settings.user_pin is None:
        console.print("AUDIT_USER_PIN is not set: the checkpoint key cannot be used.")
        raise typer.Exit(2)
    keystore = TokenKeystore(
        module=settings.pkcs11_module,
        token_label=settings.token_label,
        user_pin=settings.user_pin.get_secret_value(),
    )
    events = SqliteEventStore(store)
    try:
        made = checkpoint_store(
            events, TokenCheckpointSigner(keystore, settings.checkpoint_key_label)
        )
    finally:
        events.close()
        keystore.close()
    console.print(f"checkpoint: {made.to_json() if made else 'nothing new since the last one'}")


@app.command()
def prove(
    event_id: str,
    store: StoreOption,
    out: Annotated[Path, typer.Option(help="Tệp bằng chứng / proof file to write")],
) -> None:
    """Export the inclusion proof of one event (check it offline with `check-proof`)."""
    events = SqliteEventStore(store)
    try:
        proof = prove_event(events, event_id)
    finally:
        events.close()
    if proof is None:
        console.print("The event is unknown or not yet under a signed checkpoint.")
        raise typer.Exit(2)
    out.write_text(json.dumps(proof, indent=2, ensure_ascii=False), encoding="utf-8")
    console.print(f"proof written to {out}")


@app.command("check-proof")
def check_proof(
    proof: Annotated[Path, typer.Argument(exists=True, dir_okay=False)], public_key: KeyOption
) -> None:
    """Check an exported inclusion proof with the public key alone."""
    try:
        document = json.loads(proof.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        console.print(f"cannot read {proof}: {type(exc).__name__}")
        raise typer.Exit(2) from exc
    if not isinstance(document, dict):
        console.print(f"{proof} is not a proof document")
        raise typer.Exit(2)
    try:
        checkpoint = check_proof_document(document, public_key.read_bytes())
    except AuditError as exc:
        _fail(exc)
        return
    console.print(
        f"[green]HỢP LỆ / VERIFIED[/green]: event {document['event'].get('event_id')} is record "
        f"{document['leaf_index'] + 1} of the log signed at {checkpoint.issued_at} "
        f"({checkpoint.tree_size} records)."
    )


if __name__ == "__main__":
    app()
