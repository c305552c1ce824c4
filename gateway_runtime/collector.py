"""How the gateway's processes use Python's cycle collector: less often than its default.

The collector runs a young collection every 700 allocations of container objects by default, and
every 10th of those collects the next generation too. A process that keeps thousands of objects
alive for a moment (the audit ingest holds a batch of 2,000 events while it commits; a document
worker holds a PDF's object graph) then collects thousands of times a second, and every collection
that promotes survivors brings the full one, which scans the whole heap, closer. Measured:
7.6 µs of the audit ingest's ~40 µs per event; 15 % of a verification in a document worker
(``docs/benchmarks.md``). The audit service and the document workers call :func:`collect_cycles_less`;
the signing service's own process, whose requests hold few objects at a time, showed no gain (an A/B
of visible signatures) and keeps Python's default.
"""

from __future__ import annotations

import gc

#: A young collection every this many allocations (Python's default: 700), in the audit service.
SERVICE_YOUNG_THRESHOLD = 20_000


def collect_cycles_less(young: int = SERVICE_YOUNG_THRESHOLD) -> None:
    """Collect reference cycles less often, and never scan again what was built until now.

    Called once a process has started. ``gc.freeze`` moves every object alive now (modules,
    settings, routes, clients) out of the collector's reach for good: they live as long as the
    process. Cycles made later are still collected, after ``young`` allocations instead of 700;
    the garbage that piles up in between is a few MB at most.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(young, 20, 100)
