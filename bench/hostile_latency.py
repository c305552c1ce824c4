"""Does the signing service keep answering while hostile documents are parsed?

Starts its own stack in ``.work/bench-*`` and measures ``GET /health`` latency twice in the same run: with
the service idle (the reference), and while clients keep sending documents that take seconds to read
(20,000 objects each, to verification, and decompression bombs to signing). Every parse happens in the
sandbox's worker processes; the event loop only waits, so the two should be close. The goal: /health
within 100 ms while hostile documents are parsed.

Run: ``.venv/bin/python -m bench.hostile_latency [--probes 200] [--clients 4]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path

import httpx

from bench import run_stopping_cleanly
from bench.signing_throughput import token_for
from devstack import Ports, Stack
from tests.hostile_pdfs import many_objects, xref_stream_bomb

ROOT = Path(__file__).resolve().parent.parent


def _probe(url: str, count: int) -> list[float]:
    latencies = []
    with httpx.Client(timeout=30) as client:
        for _ in range(count):
            started = time.perf_counter()
            client.get(url).raise_for_status()
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.02)
    return latencies


def _row(name: str, latencies: list[float]) -> str:
    ordered = sorted(latencies)
    p95 = ordered[int(len(ordered) * 0.95) - 1]
    return f"| {name:42} | {statistics.median(ordered):6.1f} | {p95:6.1f} | {ordered[-1]:7.1f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--probes", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".work"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    print("starting the stack…", flush=True)
    info = stack.up()
    try:
        health = f"{info.signing_url}/health"
        headers = {
            "Authorization": f"Bearer {token_for(stack, info, 'demo-eoffice')}",
            "Content-Type": "application/pdf",
        }
        idle = _probe(health, args.probes)
        stop = threading.Event()
        parsed = [0]
        slow, bomb = many_objects(20_000), xref_stream_bomb(200 * 1024 * 1024)

        def flood(endpoint: str, document: bytes) -> None:
            with httpx.Client(timeout=120) as client:
                while not stop.is_set():
                    response = client.post(
                        f"{info.signing_url}/v1/documents:{endpoint}",
                        content=document,
                        headers=headers,
                    )
                    assert response.status_code < 500, response.text
                    parsed[0] += 1

        threads = [
            threading.Thread(target=flood, args=("verify", slow) if i % 2 == 0 else ("sign", bomb))
            for i in range(args.clients)
        ]
        for thread in threads:
            thread.start()
        time.sleep(1.0)
        try:
            loaded = _probe(health, args.probes)
        finally:
            stop.set()
            for thread in threads:
                thread.join()
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\n/health latency in ms, {args.probes} probes each; {parsed[0]} hostile documents read\n"
    )
    print(f"| {'while':42} | median |    p95 |     max |")
    print(f"|{'-' * 44}|-------:|-------:|--------:|")
    print(_row("idle (reference)", idle))
    print(_row(f"{args.clients} clients sending hostile documents", loaded))
    print(
        f"\nratio (p95 loaded / p95 idle): "
        f"{sorted(loaded)[int(len(loaded) * 0.95) - 1] / sorted(idle)[int(len(idle) * 0.95) - 1]:.1f}"
    )


if __name__ == "__main__":
    run_stopping_cleanly(main)
