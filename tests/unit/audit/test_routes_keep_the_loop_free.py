"""The audit service's routes never read the store on the event loop.

The ingestor, the checkpointer, the witnesses and ``/health`` share the audit service's event loop
with the dashboard. A dashboard query takes up to a second on a year of events (a free-text search
over the whole log, seven; ``GET /v1/chain`` verifies the whole log, thirty): run on the loop, it
stops the ingest and every other request for that long. Every store call in an ``async`` route goes
through ``asyncio.to_thread``; this test reads the routes' code and names any that does not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import audit.routes

ROUTES = Path(audit.routes.__file__).parent


#: Given the store, reads nothing from it (it keeps a reference for the calls made in a thread).
_KEEPS_A_REFERENCE = {"StoredTree"}


def _gives_the_store(node: ast.AST) -> bool:
    """``store`` or ``….store``: what reaches the database."""
    if isinstance(node, ast.Name):
        return node.id == "store"
    return isinstance(node, ast.Attribute) and node.attr == "store"


def _helpers_reading_the_store(tree: ast.Module) -> set[str]:
    """The module's synchronous functions that reach the store (``_scope_alerts(services, …)``)."""
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and any(_gives_the_store(n) for n in ast.walk(node))
    }


def _is_to_thread(call: ast.Call) -> bool:
    func = call.func
    return isinstance(func, ast.Attribute) and func.attr == "to_thread"


class _OnTheLoop(ast.NodeVisitor):
    """Store calls made in an ``async def``'s own body (a nested ``def`` runs where it is sent)."""

    def __init__(self, helpers: set[str]) -> None:
        self.found: list[str] = []
        self._helpers = helpers
        self._where = ""

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        self._where = node.name
        for statement in node.body:
            self._walk(statement)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        return  # synchronous helpers are checked where an async route calls them

    def _walk(self, node: ast.AST) -> None:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Call):
            if _is_to_thread(node):
                for argument in [*node.args, *(k.value for k in node.keywords)]:
                    if not _gives_the_store(argument):
                        self._walk(argument)
                return
            func = node.func
            name = func.id if isinstance(func, ast.Name) else None
            reads = isinstance(func, ast.Attribute) and _gives_the_store(func.value)
            passes = name not in _KEEPS_A_REFERENCE and any(
                _gives_the_store(a) for a in [*node.args, *(k.value for k in node.keywords)]
            )
            if reads or passes or name in self._helpers:
                self.found.append(f"{self._where}:{node.lineno}: {ast.unparse(node)[:80]}")
        for child in ast.iter_child_nodes(node):
            self._walk(child)


def _store_calls_on_the_loop(source: str) -> list[str]:
    tree = ast.parse(source)
    visitor = _OnTheLoop(_helpers_reading_the_store(tree))
    visitor.visit(tree)
    return visitor.found


def test_no_async_route_reads_the_store_on_the_event_loop() -> None:
    found: list[str] = []
    routes = 0
    for path in sorted(ROUTES.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        routes += source.count("async def ")
        found += [f"{path.relative_to(ROUTES)}:{f}" for f in _store_calls_on_the_loop(source)]
    assert routes > 20  # the routes were read
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
    fine = await asyncio.to_thread(store.search, 1)
    also = await asyncio.to_thread(last_period_summary, services.store, "day")
    def read():
        return store.count()
    done = await asyncio.to_thread(read)
    nested = await asyncio.to_thread(f, store.count())
    cards = _cards(services, None)
    good = await asyncio.to_thread(_cards, services, None)
    tree = StoredTree(store)
    auditor = request_auditor(request, services)
"""
    found = _store_calls_on_the_loop(blocking)
    assert [f.split(": ", 1)[1] for f in found] == [
        "store.search(1)",
        "last_period_summary(services.store, 'day')",
        "store.count()",
        "_cards(services, None)",
    ]
