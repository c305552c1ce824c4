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
from audit.retention import apply_retention, verify_archive
from audit.settings import AuditSettings
from audit.store import EventStore, open_store
from audit.verification import verify_log, verify_range
from gateway_runtime.keystore import TokenKeystore

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Nhật ký kiểm toán / audit log")
console = Console()

StoreOption = Annotated[
    str | None,
    typer.Option(
        help="Tệp SQLite hoặc URL PostgreSQL của nhật ký / SQLite file or PostgreSQL URL "
        "(default: AUDIT_DATABASE_URL, else AUDIT_STORE_PATH)"
    ),
]
KeyOption = Annotated[
    Path,
    typer.Option(
        exists=True, dir_okay=False, help="Khoá công khai điểm kiểm tra (PEM) / public key"
    ),
]


def _open(store: str | None) -> EventStore:
    """The store named on the command line, else the service's own (from the AUDIT_* environment)."""
    if store is None:
        location = AuditSettings.model_validate({"keycloak_issuer": "-"}).store_location()
    else:
        location = store
    if (
        not str(location).startswith(("postgresql://", "postgres://"))
        and not Path(location).is_file()
    ):
        console.print(f"no audit store at {location}")
        raise typer.Exit(2)
    try:
        return open_store(location)
    except AuditError as exc:
        console.print(exc.diagnostics())
        raise typer.Exit(2) from exc


def _fail(error: AuditError) -> None:
    console.print(f"[red]KHÔNG HỢP LỆ / FAILED[/red]\n{error.diagnostics()}")
    raise typer.Exit(1)


@app.command()
def verify(
    public_key: KeyOption,
    store: StoreOption = None,
    since: Annotated[
        datetime | None, typer.Option(help="Chỉ báo cáo từ thời điểm này (UTC) / range start")
    ] = None,
    until: Annotated[
        datetime | None, typer.Option(help="Đến trước thời điểm này (UTC) / range end")
    ] = None,
) -> None:
    """Prove the whole log (or the records of a time range) intact and complete against its
    signed checkpoints."""
    events = _open(store)
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
def checkpoint(store: StoreOption = None) -> None:
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
    events = _open(store)
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
    out: Annotated[Path, typer.Option(help="Tệp bằng chứng / proof file to write")],
    store: StoreOption = None,
) -> None:
    """Export the inclusion proof of one event (check it offline with `check-proof`)."""
    events = _open(store)
    try:
        proof = prove_event(events, event_id)
    finally:
        events.close()
    if proof is None:
        console.print("The event is unknown or not yet under a signed checkpoint.")
        raise typer.Exit(2)
    out.write_text(json.dumps(proof, indent=2, ensure_ascii=False), encoding="utf-8")
    console.print(f"proof written to {out}")


@app.command()
def retain(
    archive_dir: Annotated[
        Path | None,
        typer.Option(help="Thư mục lưu trữ / archive folder (default AUDIT_ARCHIVE_DIR)"),
    ] = None,
    store: StoreOption = None,
) -> None:
    """Archive the events past their class's retention (archives that verify on their own), then
    empty them in the live log. Retention days: policies/privacy.yaml, AUDIT_RETENTION_DAYS."""
    settings = AuditSettings.model_validate({"keycloak_issuer": "-"})
    events = _open(store)
    try:
        run = apply_retention(events, settings.retention(), archive_dir or settings.archive_dir)
    except AuditError as exc:
        _fail(exc)
        return
    finally:
        events.close()
    for archive in run.archives:
        console.print(
            f"{archive.path}: {archive.records} records (positions {archive.first_seq}.."
            f"{archive.last_seq}), sha256 {archive.sha256}"
        )
    console.print(
        f"{run.archived} records archived; {run.waiting} expired records wait for the next signed "
        "checkpoint."
    )


@app.command("verify-archive")
def verify_archive_command(
    archive: Annotated[Path, typer.Argument(exists=True, dir_okay=False)],
    public_key: KeyOption,
    store: Annotated[
        str | None,
        typer.Option(
            help="Đối chiếu với nhật ký / also compare with the live log (names a record)"
        ),
    ] = None,
) -> None:
    """Prove an archive's records are those its signed checkpoint committed to (public key only)."""
    events = _open(store) if store else None
    try:
        result = verify_archive(archive, public_key.read_bytes(), store=events)
    except AuditError as exc:
        _fail(exc)
        return
    finally:
        if events is not None:
            events.close()
    console.print(
        f"[green]HỢP LỆ / VERIFIED[/green]: {result.records} archived records (positions "
        f"{result.first_seq}..{result.last_seq}) are in the log signed at "
        f"{result.checkpoint.issued_at} ({result.checkpoint.tree_size} records)."
    )


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


@app.command()
def quarantine(
    store: StoreOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="Bao nhiêu / how many")] = 50,
) -> None:
    """List the stream entries refused at ingest (no valid producer seal, or a tag the producer does
    not record), newest first: what the ``unauthenticated_event`` alerts are about."""
    events = _open(store)
    try:
        entries = events.quarantined(limit=limit)
    finally:
        events.close()
    for entry in entries:
        console.print(
            f"{entry.received_at}  {entry.entry_id}  producer={entry.producer or '-'}  "
            f"reason={entry.reason}\n  {entry.payload[:300]!r}",
            highlight=False,
            markup=False,
        )
    console.print(f"{len(entries)} quarantined entries shown.")


if __name__ == "__main__":
    app()
