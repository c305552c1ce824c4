"""What a visible stamp costs a document worker: its preparation with and without a stamp, and the
stamp's QR code made by ``qrcode`` alone and by :mod:`signing_service.qr_symbols`, in one process.

The preparation is the worker's part of a signature (:func:`signing_service.preparation.prepare_signature`
on the ten-page transcript: reading and checking it, laying out the stamp, writing the update, the
digest), with the cycle collector set as the workers set it. Every document gets a verification
address of its own, as in the service, so nothing of one QR code is reused for the next. No stack
is started: the certificate is a throw-away self-signed one.

Run: ``.venv/bin/python -m bench.visible_stamp [--documents 300] [--rounds 3]``
Prints CPU milliseconds per document for each round; the ratios are what counts on a noisy machine.
"""

from __future__ import annotations

import argparse
import secrets
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import qrcode
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from qrcode.main import QRCode

from bench import run_stopping_cleanly
from bench.signing_throughput import ten_page_transcript
from gateway_runtime.collector import collect_cycles_less
from signing_service import qr_symbols, sandbox
from signing_service.appearance import VisibleStamp
from signing_service.documents import UntrustedDocument
from signing_service.preparation import SignaturePlan, prepare_signature

#: As the dev stack's public address makes them (``/verify?ref=`` and a 128-bit reference).
ADDRESS = "http://127.0.0.1:18443/verify?ref="


def _certificate() -> bytes:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Sở GD&ĐT")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.DER)


def _cpu_ms(once: Callable[[str], object], count: int) -> float:
    addresses = [ADDRESS + secrets.token_hex(16) for _ in range(count)]
    started = time.process_time()
    for address in addresses:
        once(address)
    return (time.process_time() - started) / count * 1000


def _qr_code(address: str) -> QRCode:
    symbol = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    symbol.add_data(address)
    symbol.make()
    return symbol


def _qrcodes_own(address: str) -> QRCode:
    """The same symbol made with ``qrcode``'s own functions."""
    with qr_symbols.qrcode_alone():
        return _qr_code(address)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--documents", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    certificate = _certificate()
    document = UntrustedDocument(ten_page_transcript())

    def plan(address: str | None) -> SignaturePlan:
        stamp = (
            VisibleStamp(
                signer="Sở Giáo dục và Đào tạo",
                unit="Trường THPT Nguyễn Du",
                verify_url=address,
                seal=True,
            )
            if address is not None
            else None
        )
        return SignaturePlan(
            field_name_prefix="Signature",
            certificate=certificate,
            chain=(certificate,),
            reserved_bytes=24 * 1024,
            max_objects=200_000,
            stamp=stamp,
        )

    qr_symbols.install()
    for _ in range(20):  # warm: the font, the caches a worker fills on its first documents
        prepare_signature(document, plan(ADDRESS + secrets.token_hex(16)))
        prepare_signature(document, plan(None))
    collect_cycles_less(young=sandbox._GC_YOUNG_THRESHOLD)
    sample = ADDRESS + secrets.token_hex(16)
    if _qr_code(sample).modules != _qrcodes_own(sample).modules:
        raise SystemExit("the QR code made here is not qrcode's")
    version = _qr_code(sample).version
    print(f"ten-page transcript, {args.documents} documents a row; QR code version {version}-M\n")
    print("| round | prepare, no stamp | prepare, stamp | x | QR, qrcode | QR, here | x |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for round_ in range(1, args.rounds + 1):
        invisible = _cpu_ms(lambda _: prepare_signature(document, plan(None)), args.documents)
        visible = _cpu_ms(lambda a: prepare_signature(document, plan(a)), args.documents)
        theirs = _cpu_ms(_qrcodes_own, args.documents)
        ours = _cpu_ms(_qr_code, args.documents)
        print(
            f"| {round_} | {invisible:.2f} ms | {visible:.2f} ms | {visible / invisible:.2f} "
            f"| {theirs:.2f} ms | {ours:.2f} ms | {theirs / ours:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    run_stopping_cleanly(main)
