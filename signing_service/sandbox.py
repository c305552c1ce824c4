"""Parsing untrusted PDFs in worker processes with a memory and a time limit.

A decompression bomb, a document with an absurd number of objects or a cross-reference loop must cost
the service a bounded amount of memory and time, never the whole process. Every parse of an uploaded
document — the pre-flight inspection, the preparation of a signature and its long-term validation
data (:mod:`signing_service.preparation`), and the whole of verification — runs in a worker process
with ``RLIMIT_DATA`` set to its start-up size plus a budget; a task that runs past its time is killed
with its process, which is replaced. Either ends as :class:`~signing_service.errors.DocumentTooComplex`
(422), never a 500. The service's event loop only waits.

Workers are forked from a fork server started before the service opens the token or any connection,
so a new worker never inherits a lock held by another thread (a worker forked from the running
service could hang for ever on one). Each worker has a pipe of its own and shares no lock with any
other: a worker killed at any instant (from outside, or by the kernel) takes nothing with it but its
own task, which is answered 503 (:class:`DocumentWorkerLost`, to be retried), and the worker is
started again. (pebble's pool, used before, passes every task through one pipe guarded by a lock the
workers share: a worker killed while holding it left every later request waiting for ever.) No key
material enters these workers.
"""

from __future__ import annotations

import asyncio
import importlib
import multiprocessing
import pickle
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any, NoReturn, TypeVar, cast

import structlog

from gateway_runtime.collector import collect_cycles_less
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

#: How long a worker may take to start. The first start also starts the fork server, which
#: prepares the stamp's font (seconds; more on a loaded machine): that wait has its own, generous
#: limit, not a document's. Later workers fork from the ready server in milliseconds.
_START_SECONDS = 300.0

#: How often a waiting request looks whether it was abandoned (client gone, service stopping).
_POLL_SECONDS = 0.25


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
    """Worker start: load the verification code, move everything loaded so far out of the
    collector's sight (``gc.freeze``: it is never garbage), collect less often, then allow this
    process ``budget`` bytes of heap beyond what it has now."""
    for module in _PRELOAD:
        importlib.import_module(module)
    collect_cycles_less(young=_GC_YOUNG_THRESHOLD)
    limit = _vm_data_bytes() + budget
    resource.setrlimit(resource.RLIMIT_DATA, (limit, limit))


_READY = "ready"
_TAKEN = "taken"

#: What pickling or unpickling a task's result can raise, besides the pipe's own errors.
_PICKLING_ERRORS = (
    pickle.PicklingError,
    pickle.UnpicklingError,
    TypeError,
    AttributeError,
    ImportError,
)


def _serve(connection: Connection, budget: int) -> None:
    """A worker's life: start, say so, then run one task at a time until the pipe closes. A task's
    exception is sent back as its result; nothing a document does ends the loop but a crash."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _start_worker(budget)
    connection.send(_READY)
    while True:
        try:
            function, args = connection.recv()
        except EOFError:
            return
        connection.send(_TAKEN)
        try:
            outcome: tuple[bool, Any] = (True, function(*args))
        except BaseException as exc:  # noqa: BLE001 — every failure goes back to the service
            outcome = (False, exc)
        try:
            connection.send(outcome)
        except _PICKLING_ERRORS as exc:  # an unpicklable result or exception
            connection.send((False, RuntimeError(f"unsendable result ({type(exc).__name__})")))


#: A worker that ends on these signals crashed in the parser itself: the document's doing.
_CRASHED_ON_THE_DOCUMENT = {-signal.SIGSEGV, -signal.SIGABRT, -signal.SIGBUS, -signal.SIGFPE}

_LOOP: asyncio.AbstractEventLoop | None = None


def worker_loop() -> asyncio.AbstractEventLoop:
    """The event loop a worker keeps for its life (pyHanko's I/O is async)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP


def _context() -> Any:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


class _WorkerDied(Exception):
    def __init__(self, exitcode: int | None) -> None:
        super().__init__(exitcode)
        self.exitcode = exitcode


class _TimedOut(Exception):
    pass


class _Abandoned(Exception):
    pass


class _Worker:
    """One worker process and the pipe to it, started on first use and again after it dies. Used
    by one thread at a time (the sandbox hands it out through a queue)."""

    def __init__(self, context: Any, budget: int) -> None:
        self._context = context
        self._budget = budget
        self._process: Any = None
        self._connection: Connection | None = None

    def start(self) -> tuple[Connection, Any]:
        """Start the process if it is not running, and wait until it is ready for a task."""
        if self._process is not None and self._connection is not None and self._process.is_alive():
            return self._connection, self._process
        self.stop()
        parent, child = self._context.Pipe(duplex=True)
        process = self._context.Process(
            target=_serve, args=(child, self._budget), name="document-worker", daemon=True
        )
        process.start()
        child.close()
        self._process, self._connection = process, parent
        ready = wait([parent, process.sentinel], timeout=_START_SECONDS)
        if parent not in ready:
            self.stop()
            raise RuntimeError("a document worker did not start")
        try:
            started = parent.recv() == _READY
        except (EOFError, OSError):
            started = False
        if not started:
            self.stop()
            raise RuntimeError("a document worker died while starting")
        return parent, process

    def stop(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        if self._process is not None:
            if self._process.is_alive():
                self._process.kill()
            self._process.join(timeout=5)
            self._process = None

    def call(
        self,
        function: Callable[..., Any],
        args: tuple[Any, ...],
        timeout: float,
        abandoned: threading.Event,
    ) -> tuple[bool, Any]:
        """Run ``function(*args)`` in the process; its (succeeded, result or exception).

        The worker says when it has taken the task. One that died before (killed while idle, its
        death not yet seen) ran nothing of it: the task goes to a new worker, once. After that, a
        death costs the task (:class:`_WorkerDied`): it may have been the document's doing."""
        deadline = time.monotonic() + timeout
        for attempt in (1, 2):
            connection, process = self.start()
            try:
                connection.send((function, args))
                self._receive(connection, process, deadline, abandoned)  # _TAKEN
            except (_WorkerDied, OSError):
                self.stop()
                if attempt == 2:
                    raise
                continue
            answer = self._receive(connection, process, deadline, abandoned)
            return cast(tuple[bool, Any], answer)
        raise AssertionError("unreachable")  # pragma: no cover

    def _receive(
        self, connection: Connection, process: Any, deadline: float, abandoned: threading.Event
    ) -> Any:
        while True:
            remaining = deadline - time.monotonic()
            ready = wait(
                [connection, process.sentinel], timeout=max(0, min(_POLL_SECONDS, remaining))
            )
            if connection in ready:
                try:
                    return connection.recv()
                except (EOFError, OSError):  # it died while answering
                    self._died(process)
                except _PICKLING_ERRORS as exc:  # the answer could not be read back
                    return False, RuntimeError(f"unreadable result ({type(exc).__name__})")
            if process.sentinel in ready:
                self._died(process)
            if abandoned.is_set():
                self.stop()
                raise _Abandoned()
            if remaining <= 0:
                self.stop()
                raise _TimedOut()

    def _died(self, process: Any) -> NoReturn:
        process.join(timeout=5)
        exitcode = process.exitcode
        self.stop()
        raise _WorkerDied(exitcode)


class DocumentSandbox:
    def __init__(self, *, workers: int, memory_budget_bytes: int, timeout_seconds: float) -> None:
        self._timeout = timeout_seconds
        context = _context()
        self._workers = [_Worker(context, memory_budget_bytes) for _ in range(workers)]
        self._idle: queue.SimpleQueue[_Worker] = queue.SimpleQueue()
        for worker in self._workers:
            self._idle.put(worker)
        #: One thread per worker: a task holds its thread and its worker until it ends.
        self._threads = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="document")
        self._closed = False
        self._busy = 0
        self._counts = threading.Lock()
        #: Tasks whose worker died under them (from outside, by the kernel, or on the document).
        self.lost_workers = 0

    @property
    def healthy(self) -> bool:
        return not self._closed

    def status(self) -> dict[str, int | str]:
        return {
            "state": "up" if self.healthy else "down",
            "workers": len(self._workers),
            "busy": self._busy,
            "lost_workers": self.lost_workers,
        }

    async def warm_up(self) -> None:
        """Start every worker now (with the code and the stamp font loaded), not on the first
        request."""

        def start_all() -> None:
            for worker in self._workers:
                worker.start()

        await asyncio.get_running_loop().run_in_executor(None, start_all)

    def close(self) -> None:
        self._closed = True
        self._threads.shutdown(wait=False, cancel_futures=True)
        for worker in self._workers:
            worker.stop()

    def _call(
        self, function: Callable[..., Any], args: tuple[Any, ...], abandoned: threading.Event
    ) -> tuple[bool, Any]:
        worker = self._idle.get()
        with self._counts:
            self._busy += 1
        try:
            outcome = worker.call(function, args, self._timeout, abandoned)
            if not outcome[0] and isinstance(outcome[1], MemoryError):
                worker.stop()  # its heap is at the limit: the next task gets a fresh one
            return outcome
        except _WorkerDied:
            with self._counts:
                self.lost_workers += 1
            raise
        finally:
            with self._counts:
                self._busy -= 1
            self._idle.put(worker)

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        if self._closed:
            raise DocumentWorkerLost()
        abandoned = threading.Event()
        loop = asyncio.get_running_loop()
        try:
            succeeded, value = await loop.run_in_executor(
                self._threads, self._call, function, args, abandoned
            )
        except asyncio.CancelledError:
            abandoned.set()  # the request is gone: stop its work, if it started
            raise
        except _TimedOut as exc:
            _log.warning("document.time_limit", function=function.__name__)
            raise DocumentTooComplex(f"not read within {self._timeout:.0f} s") from exc
        except _WorkerDied as exc:
            _log.error("document.worker_died", function=function.__name__, code=exc.exitcode)
            if exc.exitcode in _CRASHED_ON_THE_DOCUMENT:
                raise DocumentTooComplex("reading the document crashed its worker") from exc
            # Killed from outside or by the kernel: the worker is started again, and this
            # request is answered 503, to be retried; nothing blames the client's document.
            raise DocumentWorkerLost() from exc
        except (_Abandoned, RuntimeError) as exc:  # stopping, or the executor is shut down
            raise DocumentWorkerLost() from exc
        if succeeded:
            return cast(T, value)
        return _refusal(function, value)


def _refusal(function: Callable[..., Any], exc: BaseException) -> NoReturn:
    """Raise what a worker's exception means for the request."""
    if isinstance(exc, SigningError):
        raise exc
    if isinstance(exc, MemoryError):
        _log.warning("document.memory_limit", function=function.__name__)
        raise DocumentTooComplex("memory limit reached while reading the document") from exc
    if isinstance(exc, RecursionError):
        _log.warning("document.too_deep", function=function.__name__)
        raise InvalidDocument("objects nested too deeply to read") from exc
    # Only the untrusted document is read here, so any other failure (pyHanko's own assertions on
    # impossible structures, recursion in a cyclic page tree) means the document cannot be read
    # safely: refuse it, and keep its kind for the operator.
    _log.warning("document.unreadable", function=function.__name__, error=type(exc).__name__)
    raise InvalidDocument(f"unreadable PDF structure ({type(exc).__name__})") from exc
