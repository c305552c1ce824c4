"""The signing service's memory while whole classes' batches are uploaded at once.

A batch may hold 2 GiB and, for a person, waits for their approval; its files must not all sit in
the service's memory meanwhile. Starts its own stack; ``--batches`` callers each upload a seal batch
of ``--documents`` transcripts of about ``--megabytes`` MB each (the ten-page transcript with an
incompressible stream added in an update, so every document is a valid, distinct PDF), all at the
same time, while the resident memory of the signing service's process tree (the HTTP workers and
the sandbox workers) is sampled every 20 ms until every upload is answered. Reported: the peak
growth over the idle tree, against the bytes uploaded at once (the ratio is what to compare).

Run: ``.venv/bin/python -m bench.batch_upload_memory [--batches 3] [--documents 40] [--megabytes 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import threading
import time
from io import BytesIO
from pathlib import Path

import httpx
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from bench import run_stopping_cleanly
from bench.signing_throughput import ten_page_transcript, token_for
from devstack import Ports, Stack


def _document(base: bytes, megabytes: float) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(base))
    stream = generic.StreamObject(stream_data=os.urandom(int(megabytes * 1024 * 1024)))
    writer.add_object(stream)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def _tree(root: int) -> dict[int, int]:
    """``root`` and its descendants, each with its depth below ``root``."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                raw = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(raw[raw.rindex(")") + 2 :].split()[1])
    tree, grew = {root: 0}, True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree[pid] = tree[parent] + 1
                grew = True
    return tree


def tree_rss_bytes(root: int) -> dict[int, int]:
    """The resident memory (RSS, as ``ps`` shows it) of ``root`` and each descendant, by pid."""
    found: dict[int, int] = {}
    for pid in _tree(root):
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    found[pid] = int(line.split()[1]) * 1024
        except OSError:
            continue
    return found


#: The signing service's tree: its supervisor, the HTTP workers, each worker's sandbox processes.
_ROLES = {0: "supervisor", 1: "HTTP worker", 2: "sandbox worker"}


async def _upload(url: str, token: str, documents: list[bytes], key: str) -> int:
    files = [
        ("documents", (f"hs-{i:02d}.pdf", d, "application/pdf")) for i, d in enumerate(documents)
    ]
    async with httpx.AsyncClient(timeout=600) as client:
        answer = await client.post(
            url,
            params={"level": "B-B", "document_type": "thong-bao"},
            files=files,
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": key},
        )
    return answer.status_code


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=3)
    parser.add_argument("--documents", type=int, default=40)
    parser.add_argument("--megabytes", type=float, default=5.0)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="batch-memory-"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    info = stack.up()
    try:
        root = int((folder / "run" / "signing.pid").read_text())
        token = token_for(stack, info, "demo-eoffice")
        base = ten_page_transcript()
        batches = [
            [_document(base, args.megabytes) for _ in range(args.documents)]
            for _ in range(args.batches)
        ]
        sent = sum(len(d) for batch in batches for d in batch)
        time.sleep(2)
        idle_by_pid = tree_rss_bytes(root)
        idle = sum(idle_by_pid.values())
        peak, done = idle, threading.Event()
        peak_by_pid = dict(idle_by_pid)

        def sample() -> None:
            nonlocal peak
            while not done.is_set():
                now = tree_rss_bytes(root)
                peak = max(peak, sum(now.values()))
                for pid, rss in now.items():
                    peak_by_pid[pid] = max(peak_by_pid.get(pid, 0), rss)
                time.sleep(0.02)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.perf_counter()
        url = f"{info.signing_url}/v1/batches"

        async def all_at_once() -> list[int]:
            return await asyncio.gather(
                *(_upload(url, token, b, f"bench-{os.getpid()}-{i}") for i, b in enumerate(batches))
            )

        statuses = asyncio.run(all_at_once())
        elapsed = time.perf_counter() - started
        done.set()
        sampler.join()
        mib = 1024 * 1024
        print(
            f"{args.batches} batches x {args.documents} documents of {args.megabytes} MB "
            f"({sent / mib:.0f} MiB at once), answered {statuses} in {elapsed:.1f} s: "
            f"signing tree RSS idle {idle / mib:.0f} MiB, peak {peak / mib:.0f} MiB, "
            f"growth {(peak - idle) / mib:.0f} MiB = {(peak - idle) / sent:.2f}x the bytes sent",
            flush=True,
        )
        depth = _tree(root)
        for pid, rss in sorted(peak_by_pid.items(), key=lambda item: -item[1])[:8]:
            grew = (rss - idle_by_pid.get(pid, 0)) / mib
            role = _ROLES.get(depth.get(pid, -1), "gone")
            print(f"  pid {pid} ({role}): peak {rss / mib:.0f} MiB, +{grew:.0f} MiB")
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    run_stopping_cleanly(main)
