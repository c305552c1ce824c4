"""The memo of validated paths, alone: when a remembered path stops being used, and what is never
remembered. Its attack suite, on real chains, is ``tests/integration/test_path_memo.py``."""

from __future__ import annotations

import datetime as dt

import pytest
from asn1crypto import core
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from signing_service.path_memo import MemoisedContext, PathMemo, first_renewal


def _certificate(
    expires: dt.datetime = dt.datetime(2027, 1, 1, tzinfo=dt.UTC),
) -> asn1_x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "CA")])
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .serial_number(1)
        .not_valid_before(dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
        .not_valid_after(expires)
        .public_key(key.public_key())
        .sign(key, hashes.SHA256())
    )
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _ocsp_response(
    next_update: dt.datetime | None, certs: tuple[asn1_x509.Certificate, ...] = ()
) -> asn1_ocsp.OCSPResponse:
    return asn1_ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {
                "response_type": "basic_ocsp_response",
                "response": {
                    "tbs_response_data": {
                        "responder_id": {"by_key": b"\x00" * 20},
                        "produced_at": dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
                        "responses": [
                            {
                                "cert_id": {
                                    "hash_algorithm": {"algorithm": "sha1"},
                                    "issuer_name_hash": b"\x00" * 20,
                                    "issuer_key_hash": b"\x00" * 20,
                                    "serial_number": 1,
                                },
                                "cert_status": asn1_ocsp.CertStatus(name="good", value=core.Null()),
                                "this_update": dt.datetime(2026, 12, 2, tzinfo=dt.UTC),
                                **({} if next_update is None else {"next_update": next_update}),
                            }
                        ],
                    },
                    "signature_algorithm": {"algorithm": "sha256_rsa"},
                    "signature": b"\x00",
                    **({"certs": list(certs)} if certs else {}),
                },
            },
        }
    )


def test_a_remembered_path_is_not_used_after_its_first_renewal() -> None:
    now = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    memo = PathMemo()
    memo.remember((b"anchor", b"leaf"), now + dt.timedelta(minutes=5))
    assert memo.valid_until((b"anchor", b"leaf"), now)
    assert not memo.valid_until((b"anchor", b"other leaf"), now)
    assert not memo.valid_until((b"anchor", b"leaf"), now + dt.timedelta(minutes=5))
    assert not memo.valid_until((b"anchor", b"leaf"), now)  # dropped once past
    assert memo.hits == 1


@pytest.mark.parametrize("missing", ["ocsp", "crl", None])
def test_a_path_is_remembered_until_the_first_renewal_of_what_checked_it(
    missing: str | None,
) -> None:
    """The first of: a certificate's expiry, an OCSP response's or CRL's next update; revocation
    data that states no next update is never remembered."""
    cert = _certificate()
    response = _ocsp_response(
        None if missing == "ocsp" else dt.datetime(2026, 12, 3, tzinfo=dt.UTC)
    )
    revocation_list = asn1_crl.CertificateList(
        {
            "tbs_cert_list": {
                "version": "v2",
                "signature": {"algorithm": "sha256_rsa"},
                "issuer": cert.subject,
                "this_update": asn1_x509.Time(
                    name="utc_time", value=dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
                ),
                **(
                    {}
                    if missing == "crl"
                    else {
                        "next_update": asn1_x509.Time(
                            name="utc_time", value=dt.datetime(2026, 12, 4, tzinfo=dt.UTC)
                        )
                    }
                ),
            },
            "signature_algorithm": {"algorithm": "sha256_rsa"},
            "signature": b"\x00",
        }
    )
    renewal = first_renewal([cert], [response], [revocation_list])
    if missing is None:
        assert renewal == dt.datetime(2026, 12, 3, tzinfo=dt.UTC)  # the OCSP response's
    else:
        assert renewal is None
    assert first_renewal([cert], [], []) == cert.not_valid_after


def test_a_delegated_responders_expiry_ends_the_memory() -> None:
    """pyHanko checks the OCSP responder's own certificate at the current time: a path checked with
    a response whose responder expires before the response's next update is remembered until then."""
    responder = _certificate(expires=dt.datetime(2026, 12, 2, 12, tzinfo=dt.UTC))
    response = _ocsp_response(dt.datetime(2026, 12, 3, tzinfo=dt.UTC), (responder,))
    assert first_renewal([_certificate()], [response], []) == responder.not_valid_after


def test_a_memoised_context_is_for_the_current_time_only() -> None:
    with pytest.raises(ValueError, match="current time"):
        MemoisedContext(memo=PathMemo(), moment=dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
