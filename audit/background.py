"""The audit service's own periodic work: signed checkpoints (with their witnessing) and retention.

Both loops are started and stopped by :func:`audit.services.running_services`, never by a route. A
failure is logged and the loop goes on: a log that fails its checks is never signed over, and
nothing is emptied before its archive is on disk.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from audit.auditor import Auditor
from audit.checkpoints import Checkpointer, CheckpointSigner
from audit.events import EventTag
from audit.retention import apply_retention
from audit.settings import AuditSettings
from audit.store import EventStore
from audit.witnessing import WitnessCollector
from gateway_runtime.errors import GatewayError

_log = structlog.get_logger(__name__)


async def checkpoint_periodically(
    store: EventStore,
    signer: CheckpointSigner,
    interval: float,
    witnessing: WitnessCollector | None = None,
) -> None:
    """A signed checkpoint every ``interval`` seconds (when the log grew), each sent to the
    witnesses."""
    checkpointer: Checkpointer | None = None
    submitting: asyncio.Task[object] | None = None
    try:
        while True:
            await asyncio.sleep(interval)
            try:
                if checkpointer is None:  # it reads the stored tree: in a thread, like the rest
                    checkpointer = await asyncio.to_thread(Checkpointer, store, signer)
                checkpoint = await asyncio.to_thread(checkpointer.checkpoint)
                latest = checkpoint
                if witnessing is not None and latest is None:
                    latest = await asyncio.to_thread(store.latest_checkpoint)
            except GatewayError as exc:
                # A log that fails its checks is never signed over; the checkpointer starts afresh.
                _log.error("audit.checkpoint_failed", code=exc.code)
                checkpointer = None
                continue
            except Exception as exc:  # noqa: BLE001 - the database down: tried again next round
                _log.error("audit.checkpoint_failed", error=type(exc).__name__)
                checkpointer = None
                continue
            if checkpoint is not None:
                _log.info("audit.checkpoint", tree_size=checkpoint.tree_size)
            # Witnessing runs beside the checkpoints, one round at a time, never holding them up;
            # a round that missed a witness is tried again with the latest checkpoint.
            if (
                witnessing is not None
                and (submitting is None or submitting.done())
                and latest is not None
                and latest.is_note
                and not witnessing.done(latest.tree_size)
            ):
                submitting = asyncio.create_task(witnessing.submit(latest))
    finally:
        if submitting is not None:
            submitting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await submitting


async def retain_periodically(store: EventStore, auditor: Auditor, settings: AuditSettings) -> None:
    """Retention once per interval: expired events to archives, each archive an audit event."""
    while True:
        await asyncio.sleep(settings.retention_interval_seconds)
        try:
            run = await asyncio.to_thread(
                apply_retention, store, settings.retention(), settings.archive_dir
            )
            for archive in run.archives:
                await auditor.record(
                    EventTag.AUDIT_LOG_ARCHIVE,
                    target={
                        "archive": archive.path.name,
                        "archive_sha256": archive.sha256,
                        "records": str(archive.records),
                        "positions": f"{archive.first_seq}..{archive.last_seq}",
                    },
                )
        except (GatewayError, OSError) as exc:
            # Nothing is emptied before its archive is on disk; the next run tries again.
            _log.error(
                "audit.retention_failed", code=getattr(exc, "code", None) or type(exc).__name__
            )
            continue
        if run.archives:
            _log.info("audit.retention", archived=run.archived, waiting=run.waiting)


async def index_words_continually(store: EventStore, pause_seconds: float = 1.0) -> None:
    """Keep the free-text index up with the log (SQLite; PostgreSQL keeps its own), a batch per
    transaction so that ingest waits for a batch at most, never for the whole backlog; a store
    opened with years of events is indexed in the background, newest searches matched meanwhile."""
    while True:
        try:
            while await asyncio.to_thread(store.index_words) > 0:  # noqa: ASYNC110 - the index's own bookmark decides
                await asyncio.sleep(0)  # let the ingestor's transaction in between batches
        except GatewayError as exc:  # the database busy or down: the next round tries again
            _log.error("audit.words_index_failed", code=exc.code)
        except Exception as exc:  # noqa: BLE001 - the task must outlive any one failure
            _log.error("audit.words_index_failed", code=type(exc).__name__)
        await asyncio.sleep(pause_seconds)


async def cancelled(task: asyncio.Task[None]) -> None:
    """Stop a periodic task and wait until it has."""
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
