"""The audit service never reads or writes its store on the event loop.

The ingestor, the checkpointer, the witnesses and ``/health`` share the audit service's event loop
with the dashboard. A dashboard query takes up to a second on a year of events (a free-text search
over the whole log, seven; ``GET /v1/chain`` verifies the whole log, thirty): run on the loop, it
stops the ingest and every other request for that long. So every store call made in an ``async``
function goes to a thread — in the routes, to their own pool (``read_in_thread``), so that officers'
searches never queue in front of the ingestor's commits. This test reads the code and names any call
that does not.

What it follows: the store (``store``, ``….store``, ``self._store`` and names given them), methods
called on it, the module's own helpers that reach it, and in the routes the store handed to any
function. What it
does not: a function of another module handed the services, a generator read on the loop, a
``lambda`` called on the loop (each taken as work sent elsewhere).
"""

from __future__ import annotations

import ast
from pathlib import Path

import audit
import audit.routes

PACKAGE = Path(audit.__file__).parent
ROUTES = Path(audit.routes.__file__).parent
#: How routes send work to a thread (their own pool); elsewhere asyncio's ways are fine too.
ROUTES_THREAD = {"read_in_thread"}
ANY_THREAD = {"read_in_thread", "to_thread", "run_in_executor"}


def _root(node: ast.AST) -> ast.AST:
    """``store`` of ``store.search``, ``services.store`` of ``services.store.count``."""
    while isinstance(node, ast.Attribute) and node.attr not in {"store", "_store"}:
        node = node.value
    return node


class _OnTheLoop:
    """Store calls made in an ``async def``'s own body (a nested ``def`` runs where it is sent)."""

    def __init__(self, helpers: set[str], threads: set[str], *, strict: bool) -> None:
        self.found: list[str] = []
        self._strict = strict
        self._helpers = helpers
        self._threads = threads
        self._names: set[str] = set()
        self._where = ""

    def _is_store(self, node: ast.AST) -> bool:
        node = _root(node)
        if isinstance(node, ast.Name):
            return node.id in self._names
        return isinstance(node, ast.Attribute) and node.attr in {"store", "_store"}

    def check(self, function: ast.AsyncFunctionDef) -> None:
        self._where, self._names = function.name, {"store"}
        for statement in function.body:
            self._walk(statement)

    def _walk(self, node: ast.AST, *, deferred: bool = False) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if (
            isinstance(node, ast.Assign)
            and not isinstance(node.value, ast.Call)
            and self._is_store(node.value)  # an alias: events = services.store
        ):
            self._names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            arguments = [*node.args, *(k.value for k in node.keywords)]
            if name in self._threads or (deferred and name == "partial"):
                for argument in arguments:  # sent to the thread: only calls made here count
                    if not self._is_store(argument):
                        self._walk(argument, deferred=True)
                return
            reads = isinstance(func, ast.Attribute) and self._is_store(func.value)
            passes = self._strict and any(self._is_store(a) for a in arguments)
            if reads or passes or (isinstance(func, ast.Name) and func.id in self._helpers):
                self.found.append(f"{self._where}:{node.lineno}: {ast.unparse(node)[:80]}")
        for child in ast.iter_child_nodes(node):
            self._walk(child)


def _names_the_store(node: ast.AST) -> bool:
    if isinstance(node, ast.Name):
        return node.id == "store"
    return isinstance(node, ast.Attribute) and node.attr in {"store", "_store"}


def _store_calls_on_the_loop(source: str, threads: set[str] = ROUTES_THREAD) -> list[str]:
    tree = ast.parse(source)
    helpers = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(_names_the_store(n) for n in ast.walk(node))
    }
    # Outside the routes, the store is handed to what is built at start (services, tasks): there,
    # only its own methods called on the loop count.
    checker = _OnTheLoop(helpers, threads, strict=threads == ROUTES_THREAD)
    for node in ast.walk(tree):
        if isinstance(node, ast.AsyncFunctionDef):
            checker.check(node)
    return checker.found


def test_nothing_in_the_audit_service_touches_the_store_on_the_event_loop() -> None:
    found: list[str] = []
    checked = 0
    for path in sorted(PACKAGE.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        checked += source.count("async def ")
        threads = ROUTES_THREAD if path.is_relative_to(ROUTES) else ANY_THREAD
        found += [
            f"{path.relative_to(PACKAGE)}:{f}" for f in _store_calls_on_the_loop(source, threads)
        ]
    assert checked > 40  # the code was read
    assert found == []


def test_the_check_names_a_store_call_made_on_the_loop() -> None:
    """The check itself: what it must catch, and what it must let through."""
    blocking = """
def _cards(services, units):
    return services.store.search(units)

async def page(services):
    store = services.store
    rows = store.search(1)
    summary = last_period_summary(services.store, "day")
    fine = await read_in_thread(store.search, 1)
    also = await read_in_thread(last_period_summary, services.store, "day")
    def read():
        return store.count()
    done = await read_in_thread(read)
    nested = await read_in_thread(f, store.count())
    cards = _cards(services, None)
    good = await read_in_thread(_cards, services, None)
    shared_pool = await asyncio.to_thread(store.count)
    events = services.store
    events.search(2)
    tree = StoredTree(store)
    auditor = request_auditor(request, services)

class Ingestor:
    async def commit(self, batch):
        self._store.append(batch)
"""
    found = _store_calls_on_the_loop(blocking)
    assert [f.split(": ", 1)[1] for f in found] == [
        "store.search(1)",
        "last_period_summary(services.store, 'day')",
        "store.count()",
        "_cards(services, None)",
        "asyncio.to_thread(store.count)",
        "events.search(2)",
        "StoredTree(store)",
        "self._store.append(batch)",
    ]
    elsewhere = """
class Ingestor:
    async def commit(self, batch):
        await loop.run_in_executor(self._pool, functools.partial(self._store.append, batch))
        await asyncio.to_thread(self._store.append, batch)
        self._store.count()
"""
    assert [f.split(": ", 1)[1] for f in _store_calls_on_the_loop(elsewhere, ANY_THREAD)] == [
        "self._store.count()"
    ]
