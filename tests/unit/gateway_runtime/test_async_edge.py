"""Every route and every dependency of the two services is a coroutine function.

FastAPI runs a plain ``def`` dependency or route in its thread pool: each one costs a request a
hop to a worker thread and back (a wake-up on each side). The HTTP redesign's dependencies were
plain functions, and that made a B-B signature ~2 ms of CPU dearer than before it
(``docs/benchmarks.md``). Nothing in them blocks; anything that does belongs in the sandbox or an
explicit executor, not in a dependency."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator

from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import audit.routes
import signing_service.routes


def _routers() -> Iterator[tuple[str, APIRouter]]:
    for package in (signing_service.routes, audit.routes):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            loaded = importlib.import_module(module.name)
            for name, value in vars(loaded).items():
                if isinstance(value, APIRouter):
                    yield f"{module.name}.{name}", value


def _calls(dependant: Dependant) -> Iterator[object]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _runs_on_the_loop(call: object) -> bool:
    if inspect.isfunction(call) or inspect.ismethod(call):
        return inspect.iscoroutinefunction(call)
    if inspect.isclass(call):
        return False  # FastAPI calls a class in its thread pool
    # An instance (a security scheme such as HTTPBearer): its __call__.
    return inspect.iscoroutinefunction(type(call).__call__)


def test_no_route_or_dependency_runs_in_the_thread_pool() -> None:
    routes = 0
    blocking: set[str] = set()
    for where, router in _routers():
        for route in router.routes:
            if not isinstance(route, APIRoute):
                continue
            routes += 1
            for call in _calls(route.dependant):
                if not _runs_on_the_loop(call):
                    blocking.add(f"{where} {route.path}: {getattr(call, '__qualname__', call)}")
    assert routes > 40, routes  # the routers were found
    assert not blocking, sorted(blocking)
