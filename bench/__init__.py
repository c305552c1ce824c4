"""Benchmarks: each module is run as ``python -m bench.<name>`` (see ``docs/benchmarks.md``)."""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from types import FrameType


def _stop(signum: int, frame: FrameType | None) -> None:
    sys.exit(128 + signum)


def run_stopping_cleanly(main: Callable[[], None]) -> None:
    """Run a bench's ``main`` so that SIGTERM (a CI job cancelled, ``timeout``) ends it as Ctrl-C
    does: the ``finally`` blocks run and stop the services it started (Keycloak, Redis, PostgreSQL,
    the signing service), instead of leaving them running with their ports and memory."""
    signal.signal(signal.SIGTERM, _stop)
    main()
