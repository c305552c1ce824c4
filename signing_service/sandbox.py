"""Parsing untrusted PDFs in worker processes with a memory and a time limit.

A decompression bomb, a document with an absurd number of objects or a cross-reference loop must cost
the service a bounded amount of memory and time, never the whole process. Every parse of an uploaded
document — the pre-flight inspection, the preparation of a signature and its long-term validation
data (:mod:`signing_service.preparation`), and the whole of verification — runs in a pool of worker
processes, each with ``RLIMIT_DATA`` set to its start-up size plus a budget; a task that runs past its
time is killed with its process (pebble replaces it). Either ends as
:class:`~signing_service.errors.DocumentTooComplex` (422), never a 500. The service's event loop only
waits.

Workers are forked from a fork server started before the service opens the token or any connection,
so a new worker never inherits a lock held by another thread (a worker forked from the running
service could hang for ever on one). A worker that dies under a task (killed, or by the kernel) costs
that one request a 503 (:class:`DocumentWorkerLost`, to be retried); the pool replaces the worker, and
a pool that stopped working is replaced whole. No key material enters these workers.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import multiprocessing
import resource
import signal
import threading
from collections.abc import Callable
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import structlog
from pebble import ProcessExpired, ProcessPool

from signing_service.documents import UntrustedDocument, open_document
from signing_service.errors import (
    DocumentTooComplex,
    DocumentWorkerLost,
    InvalidDocument,
    SigningError,
)

_log = structlog.get_logger(__name__)

T = TypeVar("T")

#: Loaded once in the fork server, so that workers start in milliseconds with the code and the
#: stamp's font ready (``signing_service/worker_preload.py``).
_PRELOAD = ["signing_service.worker_preload"]


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
    for module in _PRELOAD:
        importlib.import_module(module)
    gc.collect()
    gc.freeze()
    gc.set_threshold(_GC_YOUNG_THRESHOLD, 20, 100)
    limit = _vm_data_bytes() + budget
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


#: A worker that ends on these signals crashed in the parser itself: the document's doing.
_CRASHED_ON_THE_DOCUMENT = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGFPE}

_LOOP: asyncio.AbstractEventLoop | None = None


def worker_loop() -> asyncio.AbstractEventLoop:
    """The event loop a worker keeps for its life (pyHanko's I/O is async)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def _ready() -> bool:
    return True


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


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


class DocumentSandbox:
    def __init__(self, *, workers: int, memory_budget_bytes: int, timeout_seconds: float) -> None:
        self._workers = workers
        self._budget = memory_budget_bytes
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._context = _context()
        self._pool = self._new_pool()
        #: Pools replaced because they stopped working, and tasks whose worker died under them.
        self.replaced_pools = 0
        self.lost_workers = 0

    def _new_pool(self) -> ProcessPool:
        return ProcessPool(
            max_workers=self._workers,
            initializer=_start_worker,
            initargs=(self._budget,),
            context=self._context,
        )

    @property
    def healthy(self) -> bool:
        return bool(self._pool.active)

    def status(self) -> dict[str, int | str]:
        return {
            "state": "up" if self.healthy else "down",
            "workers": self._workers,
            "replaced_pools": self.replaced_pools,
            "lost_workers": self.lost_workers,
        }

    async def warm_up(self, timeout_seconds: float = 300.0) -> None:
        """Start every worker now (with the code and the stamp font loaded), not on the first
        request. The fork server's first start prepares the font (seconds; more on a loaded
        machine): that wait has its own, generous limit, not a document's."""
        futures = [
            self._pool.schedule(_ready, timeout=timeout_seconds) for _ in range(self._workers * 2)
        ]
        await asyncio.gather(*(asyncio.wrap_future(f) for f in futures))

    def close(self) -> None:
        self._pool.stop()
        self._pool.join(timeout=10)

    def _schedule(self, function: Callable[..., T], args: tuple[Any, ...]) -> Any:
        with self._lock:
            try:
                return self._pool.schedule(function, args=args, timeout=self._timeout)
            except RuntimeError:
                # The pool stopped working (its manager died): replace it, keep serving.
                _log.error("document.pool_replaced")
                self.replaced_pools += 1
                old, self._pool = self._pool, self._new_pool()
                old.stop()
                return self._pool.schedule(function, args=args, timeout=self._timeout)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        future = self._schedule(function, args)
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
            self.lost_workers += 1
            _log.error("document.worker_died", function=function.__name__, code=exc.exitcode)
            if exc.exitcode in _CRASHED_ON_THE_DOCUMENT:
                raise DocumentTooComplex("reading the document crashed its worker") from exc
            # Killed from outside or by the kernel: pebble starts a new worker, and this request
            # is answered 503, to be retried; nothing blames the client's document.
            raise DocumentWorkerLost() from exc
        except asyncio.CancelledError:
            future.cancel()
            raise
        except RecursionError as exc:
            _log.warning("document.too_deep", function=function.__name__)
            raise InvalidDocument("objects nested too deeply to read") from exc
        except Exception as exc:
            # Only the untrusted document is read here, so any other failure (pyHanko's own
            # assertions on impossible structures, recursion in a cyclic page tree) means the
            # document cannot be read safely: refuse it, and keep its kind for the operator.
            _log.warning(
                "document.unreadable", function=function.__name__, error=type(exc).__name__
            )
            raise InvalidDocument(f"unreadable PDF structure ({type(exc).__name__})") from exc
