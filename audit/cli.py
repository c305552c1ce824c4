"""``gateway-audit``: verify the audit log, sign a checkpoint, export and check inclusion proofs; make
the PostgreSQL store's schema (``migrate``).

Exit codes: 0 verified, 1 verification failed (the message names the first bad record), 2 bad input.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console

from audit.checkpoints import (
    TokenCheckpointSigner,
    check_proof_document,
    checkpoint_store,
    prove_event,
)
from audit.consistency import verify_from_checkpoint
from audit.errors import AuditError
from audit.note import b64
from audit.retention import apply_retention, verify_archive
from audit.settings import AuditSettings
from audit.store import RUNTIME_GRANTS, EventStore, migrate, open_store
from audit.tree import StoredTree
from audit.verification import verify_log, verify_range
from audit.witnessing import WitnessEndpoint, cosignature_lines
from gateway_runtime.keystore import TokenKeystore
from gateway_runtime.local_time import PEOPLES_ZONE, for_people

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Nhật ký kiểm toán / audit log")
console = Console()

#: What a person may type for a moment: a date, a local time, or a time with its offset.
MOMENT_FORMATS = [
    "%Y-%m-%d",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%d %H:%M:%S%z",
]


def as_moment(typed: datetime) -> datetime:
    """A moment a person typed: without an offset it is the province's local time."""
    return typed if typed.tzinfo is not None else typed.replace(tzinfo=PEOPLES_ZONE)


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
        exists=True,
        dir_okay=False,
        help="Khoá kiểm tra điểm kiểm tra / the log's verifier key (checkpoint-key.vkey; an RSA "
        "PEM for checkpoints from before signed notes)",
    ),
]
KeysOption = Annotated[
    list[Path],
    typer.Option(
        exists=True,
        dir_okay=False,
        help="Khoá kiểm tra / the log's verifier key (checkpoint-key.vkey); repeat it to add the "
        "RSA key (PEM) of checkpoints signed before signed notes",
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


def _keys(paths: list[Path]) -> bytes:
    return b"\n".join(path.read_bytes() for path in paths)


@app.command()
def verify(
    public_key: KeysOption,
    store: StoreOption = None,
    from_checkpoint: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="Điểm kiểm tra đã lưu / a checkpoint you kept (signed note): check the log is "
            "consistent with it, reading only the records after it",
        ),
    ] = None,
    since: Annotated[
        datetime | None,
        typer.Option(
            formats=MOMENT_FORMATS,
            help="Chỉ báo cáo từ thời điểm này (giờ Việt Nam nếu không ghi múi giờ) / range start "
            "(local time, UTC+07:00, unless an offset is given)",
        ),
    ] = None,
    until: Annotated[
        datetime | None,
        typer.Option(
            formats=MOMENT_FORMATS,
            help="Đến trước thời điểm này / range end (as --since)",
        ),
    ] = None,
) -> None:
    """Prove the whole log (or the records of a time range) intact and complete against its
    signed checkpoints; with --from-checkpoint, that it extends a checkpoint you kept."""
    # Emptied records are held to this deployment's retention (AUDIT_RETENTION_DAYS over the policy).
    try:
        retention_days = AuditSettings.model_validate({"keycloak_issuer": "-"}).retention()
    except ValidationError as exc:
        console.print(f"the AUDIT_* settings are not valid: {exc.error_count()} problem(s)")
        for error in exc.errors():
            console.print(f"  {'.'.join(str(p) for p in error['loc'])}: {error['msg']}")
        raise typer.Exit(2) from None
    events = _open(store)
    keys = _keys(public_key)
    try:
        if from_checkpoint is not None:
            if since is not None or until is not None:
                console.print("--from-checkpoint reads the records after it: no --since/--until")
                raise typer.Exit(2)
            kept = verify_from_checkpoint(
                events, from_checkpoint.read_bytes(), keys, retention_days=retention_days
            )
            console.print(
                f"[green]HỢP LỆ / VERIFIED[/green]: the log ({kept.records} records) extends the "
                f"checkpoint you kept ({kept.kept_size} records): consistency proof to the latest "
                f"signed checkpoint ({kept.latest_checkpoint_size}) holds; read {kept.records_read} "
                f"records after it (hash chain, leaves, {kept.checkpoints_checked} signed "
                f"checkpoints) and {kept.leaves_read} stored leaf hashes."
            )
            return
        if since is not None or until is not None:
            start = as_moment(since) if since else datetime(1970, 1, 1, tzinfo=UTC)
            end = as_moment(until) if until else datetime(9999, 1, 1, tzinfo=UTC)
            if end <= start:
                console.print("--until must come after --since")
                raise typer.Exit(2)
            ranged = verify_range(events, keys, start, end, retention_days=retention_days)
            console.print(
                f"[green]HỢP LỆ / VERIFIED[/green]: {ranged.records} records between "
                f"{for_people(start) if since else 'the start'} and "
                f"{for_people(end) if until else 'now'}"
                + (f" (positions {ranged.first_seq}..{ranged.last_seq})" if ranged.records else "")
                + "; the hash chain and every signed checkpoint hold."
            )
            if ranged.unsigned_from is not None:
                console.print(
                    f"Records from position {ranged.unsigned_from} are chained but not yet under a "
                    "signed checkpoint."
                )
            return
        result = verify_log(events, keys, retention_days=retention_days)
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
            events,
            TokenCheckpointSigner(
                keystore, settings.checkpoint_key_label, settings.checkpoint_origin
            ),
        )
    except AuditError as exc:
        console.print(exc.diagnostics())
        raise typer.Exit(2) from exc
    finally:
        events.close()
        keystore.close()
    console.print(made.note().render() if made else "nothing new since the last checkpoint")


@app.command("keep-checkpoint")
def keep_checkpoint(
    out: Annotated[Path, typer.Option(help="Tệp lưu điểm kiểm tra / where to write the note")],
    store: StoreOption = None,
) -> None:
    """Write the latest signed checkpoint (a C2SP signed note, with the witnesses' cosignatures
    known to the service's settings) to keep; later, `verify --from-checkpoint` checks against it."""
    settings = AuditSettings.model_validate({"keycloak_issuer": "-"})
    events = _open(store)
    try:
        latest = events.latest_checkpoint()
        if latest is None or not latest.is_note:
            console.print("no signed-note checkpoint yet")
            raise typer.Exit(2)
        witnesses = [WitnessEndpoint.of(w.url, w.vkey) for w in settings.witnesses]
        lines, names = cosignature_lines(events, latest, witnesses)
    finally:
        events.close()
    out.write_text(latest.note(lines).render(), encoding="utf-8")
    console.print(
        f"checkpoint of {latest.tree_size} records written to {out}"
        + (f", cosigned by {', '.join(names)}" if names else ", no cosignature yet")
    )


@app.command()
def consistency(
    old_size: Annotated[int, typer.Option("--from", min=0, help="kích thước cũ / old tree size")],
    new_size: Annotated[
        int | None, typer.Option("--to", min=0, help="default: the latest checkpoint's size")
    ] = None,
    store: StoreOption = None,
) -> None:
    """Print the RFC 9162 consistency proof between two tree sizes (base64, one hash a line)."""
    events = _open(store)
    try:
        latest = events.latest_checkpoint()
        upper = new_size if new_size is not None else (latest.tree_size if latest else 0)
        if latest is None or not old_size <= upper <= latest.tree_size:
            console.print("sizes must satisfy --from <= --to <= the latest checkpoint's size")
            raise typer.Exit(2)
        proof = StoredTree(events).consistency_proof(old_size, upper)
    finally:
        events.close()
    typer.echo(f"old {old_size}\nnew {upper}")
    for value in proof:
        typer.echo(b64(value))


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


@app.command("migrate")
def migrate_command(
    runtime_role: Annotated[
        str,
        typer.Option(
            help="Vai trò PostgreSQL mà dịch vụ dùng / the role the audit service connects as "
            "(it gets SELECT, INSERT and retention's UPDATE of three columns, nothing else)"
        ),
    ],
) -> None:
    """Create or bring up to date the PostgreSQL store's schema as its owner (the URL in
    AUDIT_MIGRATION_DATABASE_URL, never on the command line), and grant the runtime role exactly
    what the service runs. Run it at every release, before the service; running it again changes
    nothing."""
    settings = AuditSettings.model_validate({"keycloak_issuer": "-"})
    if settings.migration_database_url is None:
        console.print(
            "AUDIT_MIGRATION_DATABASE_URL is not set: the migration role's postgresql:// URL "
            "(the owner of the store's tables)"
        )
        raise typer.Exit(2)
    try:
        done = migrate(settings.migration_database_url.get_secret_value(), runtime_role)
    except AuditError as exc:
        console.print(exc.diagnostics())
        raise typer.Exit(2) from exc
    console.print(
        f"schema {done.schema_version} {'created' if done.created else 'up to date'}; "
        f"{done.runtime_role} may:"
    )
    for table, privileges in RUNTIME_GRANTS.items():
        console.print(f"  {table}: {', '.join(privileges)}", highlight=False)


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
            f"{for_people(entry.received_at)}  {entry.entry_id}  producer={entry.producer or '-'}  "
            f"reason={entry.reason}\n  {entry.payload[:300]!r}",
            highlight=False,
            markup=False,
        )
    console.print(f"{len(entries)} quarantined entries shown.")


if __name__ == "__main__":
    app()
