"""Parsing untrusted PDFs in worker processes with a memory and a time limit.

A decompression bomb, a document with an absurd number of objects or a cross-reference loop must cost
the service a bounded amount of memory and time, never the whole process. Every parse of an uploaded
document (the pre-flight inspection before signing, and the whole of verification) runs in a pool of
worker processes, each with ``RLIMIT_DATA`` set to its start-up size plus a budget; a task that runs
past its time is killed with its process (pebble replaces it). Either ends as
:class:`~signing_service.errors.DocumentTooComplex` (422), never a 500.

No key material enters these workers: signing itself happens in the service process, after the
inspection here has shown the document to be safe to open.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import resource
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pebble import ProcessExpired, ProcessPool

from signing_service.documents import UntrustedDocument, open_document
from signing_service.errors import DocumentTooComplex, InvalidDocument, SigningError

_log = structlog.get_logger(__name__)

T = TypeVar("T")


def _vm_data_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmData:"):
            return int(line.split()[1]) * 1024
    return 0


#: Young-generation threshold of the cyclic garbage collector in workers (CPython's default: 700).
#: Reading a PDF allocates hundreds of thousands of short-lived objects; at the default the collector
#: ran ~6 times per verification and took 15 % of it (profiled in-process, B-LT transcript). The
#: extra garbage it lets pile up between collections is a few MB, inside the memory budget.
_GC_YOUNG_THRESHOLD = 50_000


def _start_worker(budget: int) -> None:
    """Worker initialiser: load the verification code, move everything loaded so far out of the
    collector's sight (``gc.freeze``: it is never garbage), collect less often, then allow this
    process ``budget`` bytes of heap beyond what it has now."""
    importlib.import_module("signing_service.verification")
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 100)
    limit = _vm_data_bytes() + budget
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


@dataclass(frozen=True)
class DocumentFacts:
    """What the pre-flight inspection learnt about a document that parsed within the limits."""

    pages: int
    objects: int
    revisions: int
    signatures: int


def inspect_document(document: UntrustedDocument, max_objects: int) -> DocumentFacts:
    """Open ``document`` and touch what signing will touch; refuse one with too many objects."""
    reader = open_document(document)
    xrefs = reader.xrefs
    objects = sum(len(xrefs.explicit_refs_in_revision(r)) for r in range(xrefs.total_revisions))
    if objects > max_objects:
        raise DocumentTooComplex(f"{objects} objects; the limit is {max_objects}")
    pages = int(reader.root["/Pages"]["/Count"])
    signatures = len(reader.embedded_signatures)
    return DocumentFacts(
        pages=pages, objects=objects, revisions=xrefs.total_revisions, signatures=signatures
    )


class DocumentSandbox:
    def __init__(self, *, workers: int, memory_budget_bytes: int, timeout_seconds: float) -> None:
        self._pool = ProcessPool(
            max_workers=workers, initializer=_start_worker, initargs=(memory_budget_bytes,)
        )
        self._timeout = timeout_seconds

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        future = self._pool.schedule(function, args=args, timeout=self._timeout)
        try:
            return await asyncio.wrap_future(future)
        except SigningError:
            raise
        except MemoryError as exc:
            _log.warning("document.memory_limit", function=function.__name__)
            raise DocumentTooComplex("memory limit reached while reading the document") from exc
        except (FutureTimeout, TimeoutError) as exc:
            _log.warning("document.time_limit", function=function.__name__)
            raise DocumentTooComplex(f"not read within {self._timeout:.0f} s") from exc
        except ProcessExpired as exc:
            _log.warning("document.worker_died", function=function.__name__, code=exc.exitcode)
            raise DocumentTooComplex("the document exhausted a worker process") from exc
        except Exception as exc:
            # Only the untrusted document is read here, so any other failure (pyHanko's own
            # assertions on impossible structures, recursion in a cyclic page tree) means the
            # document cannot be read safely: refuse it, and keep its kind for the operator.
            _log.warning(
                "document.unreadable", function=function.__name__, error=type(exc).__name__
            )
            raise InvalidDocument(f"unreadable PDF structure ({type(exc).__name__})") from exc
