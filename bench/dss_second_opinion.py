"""The EU DSS second opinion's cost: time per validation once warm, and the JVM's memory.

Starts its own stack (real Keycloak, Redis, SoftHSM2 token, test PKI, services) and the DSS validator
(built first if its sources changed: the build time is printed), signs ``--documents`` copies of a
transcript of ``--pages`` pages (10 by default: the most DSS renders for its visual comparison) at
each PAdES level through the service, then validates each document one after
the other with DSS and, as the reference of the same run, with the service's own
``POST /v1/documents:verify``. DSS fetches OCSP responses and CRLs from the test PKI for every
document (no cache); the service caches revocation answers for 300 s per worker. A second DSS
validator with the visual comparison off (``visual_comparison_pages=0``) shows what rendering the
pages costs.

Run: ``.venv/bin/python -m bench.dss_second_opinion [--documents 20] [--pages 10]``
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx

from bench import run_stopping_cleanly
from bench.signing_throughput import ROOT, token_for
from devstack import Ports, Stack
from devstack.demo import transcript_pdf
from devstack.dss_validator import install, start_dss_validator
from devstack.process import ManagedProcess

LEVELS = ("B-B", "B-T", "B-LT", "B-LTA")


def _milliseconds(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return statistics.median(ordered) * 1000, p95 * 1000


def _memory_kib(pid: int) -> tuple[int, int]:
    """(resident now, peak resident) of a process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=20)
    parser.add_argument("--pages", type=int, default=10)
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".work"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    print("starting the stack…", flush=True)
    info = stack.up()
    try:
        started = time.perf_counter()
        install(stack.cache)
        build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        dss = start_dss_validator(
            stack.cache, folder, port=Ports.free_block(1), trust_anchors=stack.pki.trust_store
        )
        start_seconds = time.perf_counter() - started
        no_visual = start_dss_validator(
            stack.cache,
            folder,
            port=Ports.free_block(1),
            trust_anchors=stack.pki.trust_store,
            visual_comparison_pages=0,
            name="dss-validator-no-visual",
        )
        rows: list[tuple[str, float, float, float, float, float]] = []
        subjects = "Toan 8.5 Van 7.0 Anh 9.0 Ly 8.0 Hoa 7.5 Sinh 8.0 Su 7.0 Dia 8.5 GDCD 9.0"
        lines = [f"Hoc sinh {i:02d}: {subjects} TB 8.2 HK Tot" for i in range(50)]
        document = transcript_pdf(["HOC BA DIEN TU - LOP 10A1", *lines], pages=args.pages)
        token = token_for(stack, info, "demo-eoffice")
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
        signed: dict[str, list[bytes]] = {}
        for level in LEVELS:
            signed[level] = []
            for _ in range(args.documents):
                response = httpx.post(
                    f"{info.signing_url}/v1/documents:sign",
                    params={"level": level},
                    content=document,
                    headers=headers,
                    timeout=60,
                )
                response.raise_for_status()
                signed[level].append(response.content)

        started = time.perf_counter()
        first = dss.validate(signed["B-LTA"][0])
        first_seconds = time.perf_counter() - started
        assert first.signatures_count == 1
        for level in LEVELS:  # warm-up: the JIT, class loading, connections to the test PKI
            for pdf in signed[level][:3]:
                dss.validate(pdf)
                no_visual.validate(pdf)

        with httpx.Client(timeout=60) as client:
            for level in LEVELS:
                dss_times: list[float] = []
                for pdf in signed[level]:
                    started = time.perf_counter()
                    report = dss.validate(pdf)
                    dss_times.append(time.perf_counter() - started)
                    assert report.signatures[0].indication == "TOTAL_PASSED"
                no_visual_times: list[float] = []
                for pdf in signed[level]:
                    started = time.perf_counter()
                    no_visual.validate(pdf)
                    no_visual_times.append(time.perf_counter() - started)
                service_times: list[float] = []
                for pdf in signed[level]:
                    started = time.perf_counter()
                    response = client.post(
                        f"{info.signing_url}/v1/documents:verify", content=pdf, headers=headers
                    )
                    service_times.append(time.perf_counter() - started)
                    assert response.json()["indication"] == "TOTAL_PASSED"
                dss_median, dss_p95 = _milliseconds(dss_times)
                no_visual_median, _ = _milliseconds(no_visual_times)
                service_median, _ = _milliseconds(service_times)
                rows.append(
                    (
                        level,
                        dss_median,
                        dss_p95,
                        no_visual_median,
                        service_median,
                        dss_median / service_median,
                    )
                )
        pid = dss.process.pid()
        assert pid is not None
        rss, peak = _memory_kib(pid)
    finally:
        for name in ("dss-validator", "dss-validator-no-visual"):
            ManagedProcess(name, folder).stop()
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\nDSS validator: build {build_seconds:.1f} s (0 if already built), start {start_seconds:.1f} s, "
        f"first validation {first_seconds * 1000:.0f} ms; JVM resident {rss / 1024:.0f} MiB "
        f"(peak {peak / 1024:.0f} MiB); {args.documents} documents per level, "
        f"{len(document) / 1024:.0f} KiB {args.pages}-page PDF, one request at a time\n"
    )
    print(
        "| level | DSS median ms | DSS p95 ms | DSS, no visual comparison, median ms "
        "| service verify median ms | DSS / service |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for level, dss_median, dss_p95, no_visual_median, service_median, ratio in rows:
        print(
            f"| {level} | {dss_median:.0f} | {dss_p95:.0f} | {no_visual_median:.0f} "
            f"| {service_median:.0f} | {ratio:.1f}x |"
        )


if __name__ == "__main__":
    run_stopping_cleanly(main)
