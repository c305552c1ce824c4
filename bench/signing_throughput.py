"""Signing and verification throughput: the service against naive pyHanko, in the same run.

Starts its own stack (real Keycloak, Redis, SoftHSM2 token, test PKI, services) in ``.work/bench``, then:

* naive pyHanko: ``signers.sign_pdf`` with a ``SimpleSigner`` loaded from a PKCS#12 file for every
  document (what a straightforward integration does), one process;
* the service: ``POST /v1/documents:sign`` at B-B and B-T from concurrent HTTP clients, key in SoftHSM2,
  every signature audited; and B-T with a visible stamp (Vietnamese text in Noto Sans, QR code), the
  real workload, beside naive pyHanko with the same font and stamp;
* a batch (``--batch`` copies, a class's transcripts) at B-T with visible stamps, from the start of
  its upload until the service reports every document signed;
* the first sign and the first verify after the stack reports ready (cold start);
* verification of a B-LT document through ``POST /v1/documents:verify``, as the service writes it:
  the validation data in a revision of its own after the signature (the layout EU DSS recognises as
  B-LT), which the verifier diffs against the signed revision;
* the cost of the verifier's own checks (strict reading of every byte after the signature, form
  fields, removed signatures, active content, the timestamp token, DER of the signed attributes):
  the full verifier against pyHanko's validation alone, on that B-LT document, in one process.

Run: ``.venv/bin/python -m bench.signing_throughput [--seconds 20] [--clients 8]``
Prints a table; the ratios are what counts on a noisy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import tempfile
import time
from io import BytesIO
from pathlib import Path

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from pyhanko.keys import load_cert_from_pemder
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko_certvalidator import ValidationContext

from bench import run_stopping_cleanly
from devstack import Ports, Stack, StackInfo
from devstack.demo import transcript_pdf
from devstack.pki import ISSUING
from devstack.pki import ROOT as ROOT_CA

ROOT = Path(__file__).resolve().parent.parent


def ten_page_transcript() -> bytes:
    subjects = "Toan 8.5 Van 7.0 Anh 9.0 Ly 8.0 Hoa 7.5 Sinh 8.0 Su 7.0 Dia 8.5 GDCD 9.0 Tin 9.5"
    lines = [f"Hoc sinh {i:02d}: {subjects} TB 8.2 HK Tot" for i in range(50)]
    return transcript_pdf(["HOC BA DIEN TU - LOP 10A1", *lines], pages=10)


def naive_pkcs12(stack: Stack) -> Path:
    """A PKCS#12 file (passphrase ``bench-pass``) with a key certified by the test PKI."""
    folder = stack.folder / "bench"
    folder.mkdir(exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Naive signer")]))
        .sign(key, hashes.SHA256())
    )
    cert = stack.pki.issue_from_csr(csr.public_bytes(serialization.Encoding.DER))
    p12 = folder / "naive.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"naive",
            key,
            cert,
            [stack.pki.certificate(ISSUING)],
            serialization.BestAvailableEncryption(b"bench-pass"),
        )
    )
    return p12


def naive_pyhanko(p12: Path, document: bytes, seconds: float, *, visible: bool = False) -> float:
    """Documents per second of the straightforward way, measured for ``seconds``; ``visible``
    adds a QR stamp in Noto Sans with pyHanko's own font handling."""
    from pyhanko.pdf_utils.font.opentype import GlyphAccumulatorFactory
    from pyhanko.pdf_utils.text import TextBoxStyle
    from pyhanko.sign.fields import SigFieldSpec
    from pyhanko.stamp import QRStampStyle

    from signing_service.appearance import DEFAULT_FONT

    style = QRStampStyle(
        stamp_text="Ký bởi / Signed by: %(signer)s\nThời gian / Time: %(ts)s",
        text_box_style=TextBoxStyle(font=GlyphAccumulatorFactory(str(DEFAULT_FONT), font_size=8)),
    )
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        signer = signers.SimpleSigner.load_pkcs12(str(p12), passphrase=b"bench-pass")
        assert signer is not None
        signers.PdfSigner(
            signers.PdfSignatureMetadata(field_name="Signature1"),
            signer=signer,
            stamp_style=style if visible else None,
            new_field_spec=SigFieldSpec("Signature1", on_page=-1, box=(259, 36, 559, 120))
            if visible
            else None,
        ).sign_pdf(
            IncrementalPdfFileWriter(BytesIO(document)),
            output=BytesIO(),
            appearance_text_params={"url": "https://example.invalid/verify?ref=x"}
            if visible
            else None,
        )
        count += 1
    return count / (time.perf_counter() - started)


def first_requests(info: StackInfo, token: str, document: bytes) -> tuple[float, float]:
    """Seconds taken by the first sign and the first verify after the stack is up."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
    started = time.perf_counter()
    signed = httpx.post(
        f"{info.signing_url}/v1/documents:sign",
        params={"level": "B-T", "visible": "true"},
        content=document,
        headers=headers,
        timeout=120,
    )
    signed.raise_for_status()
    first_sign = time.perf_counter() - started
    started = time.perf_counter()
    httpx.post(
        f"{info.signing_url}/v1/documents:verify",
        content=signed.content,
        headers=headers,
        timeout=120,
    ).raise_for_status()
    return first_sign, time.perf_counter() - started


def checks_cost(stack: Stack, signed: bytes, seconds: float) -> tuple[float, float]:
    """(full verifier, pyHanko's validation alone) in documents per second, one process, the same
    revocation cache and difference policy: what the verifier's own checks cost."""
    from pyhanko.sign.validation.pdf_embedded import async_validate_pdf_signature

    from signing_service.documents import UntrustedDocument, open_document
    from signing_service.integrity import DIFF_POLICY
    from signing_service.revocation import RevocationCache
    from signing_service.verification import async_verify_document

    roots = [load_cert_from_pemder(str(stack.pki.cert_path(ROOT_CA)))]
    document = UntrustedDocument(signed)

    async def rate(once: object) -> float:
        cache = RevocationCache()
        count = 0
        try:
            await once(cache)  # type: ignore[operator]
            started = time.perf_counter()
            while time.perf_counter() - started < seconds:
                await once(cache)  # type: ignore[operator]
                count += 1
            return count / (time.perf_counter() - started)
        finally:
            await cache.close()

    async def full(cache: RevocationCache) -> None:
        report = await async_verify_document(document, roots, cache=cache, cache_seconds=300)
        assert report.indication == "TOTAL_PASSED", report

    async def pyhanko_only(cache: RevocationCache) -> None:
        fetchers = await cache.fetchers(300, 5)
        reader = open_document(document)
        for embedded in reader.embedded_signatures:
            context = ValidationContext(
                trust_roots=roots,
                allow_fetching=True,
                revocation_mode="hard-fail",
                fetchers=fetchers,
            )
            status = await async_validate_pdf_signature(
                embedded,
                signer_validation_context=context,
                ts_validation_context=context,
                diff_policy=DIFF_POLICY,
            )
            assert status.bottom_line

    return asyncio.run(rate(full)), asyncio.run(rate(pyhanko_only))


async def service_rate(
    url: str, token: str, document: bytes, seconds: float, clients: int, params: dict[str, str]
) -> tuple[float, float]:
    """(documents per second, p95 latency in ms) with ``clients`` concurrent callers."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"}
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds
    limits = httpx.Limits(max_connections=clients)

    async with httpx.AsyncClient(timeout=60, limits=limits) as client:

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                response = await client.post(url, params=params, content=document, headers=headers)
                response.raise_for_status()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - started
    latencies.sort()
    p95 = latencies[int(len(latencies) * 0.95) - 1] * 1000 if latencies else float("nan")
    return len(latencies) / elapsed, p95


def batch_rate(url: str, token: str, document: bytes, count: int) -> float:
    """Documents per second of one batch (a class's transcripts, each with its visible stamp),
    from the start of its upload until the service reports every document signed."""
    started = time.perf_counter()
    accepted = httpx.post(
        f"{url}/v1/batches",
        params={"level": "B-T", "visible": "true"},
        files=[
            ("documents", (f"hoc-ba-{i}.pdf", document, "application/pdf")) for i in range(count)
        ],
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(16)},
        timeout=300,
    )
    accepted.raise_for_status()
    status_url = f"{url}/v1/batches/{accepted.json()['batch_id']}"
    deadline = started + 600
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        while True:
            status = client.get(status_url).json()
            if status["status"] == "completed":
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"the batch was not signed within 600 s: {status}")
            time.sleep(0.05)
    elapsed = time.perf_counter() - started
    if status["signed"] != count:
        raise SystemExit(f"the batch signed {status['signed']} of {count}: {status}")
    return count / elapsed


def token_for(stack: Stack, info: StackInfo, client_id: str) -> str:
    response = httpx.post(
        f"{info.issuer}/protocol/openid-connect/token",
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": stack.client_secret(client_id),
        },
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--batch", type=int, default=200, help="documents in the batch row")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="bench-", dir=ROOT / ".work"))
    stack = Stack(folder, Ports.consecutive(Ports.free_block()))
    print("starting the stack…", flush=True)
    info = stack.up()
    try:
        document = ten_page_transcript()
        token = token_for(stack, info, "demo-eoffice")
        sign_url = f"{info.signing_url}/v1/documents:sign"
        cold_sign, cold_verify = first_requests(info, token, document)
        # Warm up (JWKS fetch, worker processes, TSA connection).
        asyncio.run(service_rate(sign_url, token, document, 2, 2, {"level": "B-T"}))

        rows: list[tuple[str, float, float]] = []
        p12 = naive_pkcs12(stack)
        naive = naive_pyhanko(p12, document, args.seconds)
        rows.append(("naive pyHanko (PKCS#12, 1 process)", naive, float("nan")))
        for level in ("B-B", "B-T"):
            rate, p95 = asyncio.run(
                service_rate(
                    sign_url, token, document, args.seconds, args.clients, {"level": level}
                )
            )
            rows.append((f"service sign {level} (SoftHSM2, audited)", rate, p95))
        naive_visible = naive_pyhanko(p12, document, args.seconds, visible=True)
        rows.append(("naive pyHanko visible stamp (Noto Sans)", naive_visible, float("nan")))
        visible = {"level": "B-T", "visible": "true"}
        rate, p95 = asyncio.run(
            service_rate(sign_url, token, document, args.seconds, args.clients, visible)
        )
        rows.append(("service sign B-T visible stamp", rate, p95))
        batch = batch_rate(info.signing_url, token, document, args.batch)
        rows.append((f"service batch of {args.batch}, B-T visible stamp", batch, float("nan")))
        lt_response = httpx.post(
            sign_url,
            params={"level": "B-LT"},
            content=document,
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/pdf"},
            timeout=60,
        )
        lt_response.raise_for_status()
        lt = lt_response.content
        verify_url = f"{info.signing_url}/v1/documents:verify"
        rate, p95 = asyncio.run(service_rate(verify_url, token, lt, args.seconds, args.clients, {}))
        rows.append(("service verify B-LT (DSS in its own revision)", rate, p95))
        full, bare = checks_cost(stack, lt, args.seconds / 2)
        rows.append(("verifier in-process, 1 core: all checks", full, float("nan")))
        rows.append(("verifier in-process, 1 core: pyHanko alone", bare, float("nan")))
    finally:
        stack.down()
        shutil.rmtree(folder, ignore_errors=True)

    print(
        f"\ndocument: {len(document) / 1024:.0f} KiB, 10 pages; {args.clients} clients, "
        f"{args.seconds:.0f} s per row\n"
    )
    print(f"| {'what':48} | docs/s | x naive | p95 ms |")
    print(f"|{'-' * 50}|-------:|--------:|-------:|")
    for name, rate, p95 in rows:
        print(f"| {name:48} | {rate:6.1f} | {rate / naive:7.1f} | {p95:6.0f} |")
    print(f"\nthe verifier's own checks cost: {bare / full:.2f}x the time of pyHanko's validation")
    by_name = {name: rate for name, rate, _ in rows}
    invisible, stamped = (
        by_name["service sign B-T (SoftHSM2, audited)"],
        by_name["service sign B-T visible stamp"],
    )
    print(f"a visible stamp costs: {invisible / stamped:.2f}x the time of an invisible B-T")
    batch = by_name[f"service batch of {args.batch}, B-T visible stamp"]
    print(f"a batch signs its visible stamps at {batch / stamped:.2f}x the rate of single requests")
    print(f"first requests after start: sign {cold_sign:.2f} s, verify {cold_verify:.2f} s")


if __name__ == "__main__":
    run_stopping_cleanly(main)
