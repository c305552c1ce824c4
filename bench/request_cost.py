"""CPU per signature request, in the signing service's process tree and beside it (audit, Redis).

A machine this noisy moves throughput by ±20 % from one run to the next; the CPU time a request
costs moves much less, which is what settles a before/after question (issue 14: did the HTTP
redesign make the cheapest request dearer?). Starts its own stack, warms up, then ``--rounds``
times: ``--clients`` concurrent callers sign the ten-page transcript at ``--level`` for
``--seconds``, and the CPU time (user + system, children included) of each component's process
tree is divided by the requests answered.

To compare two commits, put this file (it uses only the HTTP API and the stack) in a worktree of
each and alternate them on the same machine:
``git worktree add /tmp/wt-C C && cd /tmp/wt-C && UV_PROJECT_ENVIRONMENT=.venv uv sync --frozen &&
cp <this file> bench/ && .venv/bin/python -m bench.request_cost``.

Run: ``.venv/bin/python -m bench.request_cost [--rounds 3] [--seconds 10] [--level B-B] [--visible] [--verify]``
(``--verify``: verification of a document the service signed at ``--level``; ``client`` is the
benchmark's own CPU per request, which shares the two cores).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import tempfile
import time
from pathlib import Path

import httpx

from bench import run_stopping_cleanly
from bench.signing_throughput import service_rate, ten_page_transcript, token_for
from devstack import Ports, Stack

_TICK = os.sysconf("SC_CLK_TCK")
#: The test PKI answers the TSA, OCSP and CRL requests: in production those run elsewhere.
COMPONENTS = ("signing", "audit", "redis", "pki")


def tree_cpu_seconds(root: int) -> float:
    """User + system time of ``root`` and every descendant alive, with their reaped children."""
    parents: dict[int, int] = {}
    seconds: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            raw = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        fields = raw[raw.rindex(")") + 2 :].split()  # after the command name, which may hold spaces
        parents[int(entry.name)] = int(fields[1])
        # utime, stime, cutime, cstime
        seconds[int(entry.name)] = sum(int(x) for x in fields[11:15]) / _TICK
    tree = {root}
    grew = True
    while grew:
        grew = False
        for pid, parent in parents.items():
            if parent in tree and pid not in tree:
                tree.add(pid)
                grew = True
    return sum(seconds.get(pid, 0.0) for pid in tree)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--level", default="B-B")
    parser.add_argument(
        "--verify",
        action="store_true",
        help="verify a document signed at --level (B-LT: as EU DSS recognises it) instead",
    )
    parser.add_argument(
        "--visible", action="store_true", help="with a visible stamp (text and QR code)"
    )
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="request-cost-"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    info = stack.up()
    try:
        pids = {name: int((folder / "run" / f"{name}.pid").read_text()) for name in COMPONENTS}
        document = ten_page_transcript()
        token = token_for(stack, info, "demo-eoffice")
        url = f"{info.signing_url}/v1/documents:sign"
        params = {"level": args.level}
        what = f"sign {args.level}"
        if args.visible:
            params |= {"visible": "true"}
            what += " visible"
        if args.verify:
            signed = httpx.post(
                url,
                params=params,
                content=document,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
                timeout=60,
            )
            signed.raise_for_status()
            document, url, params = signed.content, f"{info.signing_url}/v1/documents:verify", {}
            what = f"verify {args.level}"
        asyncio.run(service_rate(url, token, document, 3, 2, params))  # warm up
        for _ in range(args.rounds):
            before = {name: tree_cpu_seconds(pid) for name, pid in pids.items()}
            client_before = time.process_time()
            started = time.perf_counter()
            rate, p95 = asyncio.run(
                service_rate(url, token, document, args.seconds, args.clients, params)
            )
            requests = rate * (time.perf_counter() - started)
            cost = {
                name: (tree_cpu_seconds(pid) - before[name]) / requests * 1000
                for name, pid in pids.items()
            }
            cost["client"] = (time.process_time() - client_before) / requests * 1000
            print(
                f"{what} {rate:5.1f} docs/s p95 {p95:4.0f} ms, {requests:4.0f} requests; "
                + ", ".join(f"{name} {ms:5.2f} ms CPU" for name, ms in cost.items()),
                flush=True,
            )
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    run_stopping_cleanly(main)
