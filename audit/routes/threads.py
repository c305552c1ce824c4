"""Where the routes' store work runs: threads of their own, never the event loop.

The ingestor, the checkpointer, the witnesses and ``/health`` share the audit service's event loop,
and the ingestor commits in a thread of its own (:mod:`audit.ingest`). The routes' reads — a
search of a second, ``GET /v1/chain`` for thirty on 10 million events — run here, in a pool sized for
the store's readers and one or two long reads beside them, so that officers searching at once queue
among themselves and never in front of a commit (asyncio's default pool, which the ingestor and the
checkpointer also use, has six threads on two cores).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from audit.store import READERS

P = ParamSpec("P")
T = TypeVar("T")

_POOL = ThreadPoolExecutor(max_workers=READERS + 2, thread_name_prefix="audit-read")


async def read_in_thread(function: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> T:
    """``function(*args, **kwargs)`` in the routes' pool (with the request's context, as
    :func:`asyncio.to_thread` passes it)."""
    context = contextvars.copy_context()
    call = functools.partial(context.run, function, *args, **kwargs)
    return await asyncio.get_running_loop().run_in_executor(_POOL, call)
