"""Producers' seals: standard HMAC-SHA256, bound to the producer and to every byte of the event, and
the keyring's verdict changes with each manipulation of a fresh seal."""

from __future__ import annotations

import asyncio
import hmac
import os

import pytest

from audit import Actor, AuditEvent, EventTag, Outcome
from audit.producers import (
    ALLOWED_TAGS,
    HmacSealer,
    Producer,
    ProducerKeyError,
    ProducerKeyring,
    decode_key,
    encode_key,
    mac_message,
)

KEY = os.urandom(32)


def _payload() -> bytes:
    return (
        AuditEvent.build(
            tag=EventTag.SIGNING_DOCUMENT_SIGN,
            service="signing",
            actor=Actor(name="client:demo-eoffice"),
            outcome=Outcome.SUCCESS,
        )
        .canonical_json()
        .encode()
    )


@pytest.mark.parametrize("key", [os.urandom(32), os.urandom(64), os.urandom(100)])
def test_the_seal_is_standard_hmac_sha256(key: bytes) -> None:
    payload = _payload()
    expected = hmac.digest(key, mac_message("signing", payload), "sha256")
    assert HmacSealer(Producer.SIGNING, key).seal_one(payload) == expected
    assert asyncio.run(HmacSealer(Producer.SIGNING, key).seal([payload])) == [expected]


def test_a_genuine_seal_verifies_and_every_manipulation_fails() -> None:
    """Attacks: a byte of the event changed, another producer's name, a seal for another event,
    another key, a seal cut short."""
    keyring = ProducerKeyring({"signing": KEY, "accounts": os.urandom(32)})
    payload = _payload()
    seal = HmacSealer(Producer.SIGNING, KEY).seal_one(payload)
    assert keyring.authentic("signing", payload, seal)
    flipped = bytearray(payload)
    flipped[len(flipped) // 2] ^= 1
    assert not keyring.authentic("signing", bytes(flipped), seal)
    assert not keyring.authentic("accounts", payload, seal)
    assert not keyring.authentic("signing", payload + b" ", seal)
    assert not keyring.authentic(
        "signing", payload, HmacSealer(Producer.SIGNING, os.urandom(32)).seal_one(payload)
    )
    assert not keyring.authentic("signing", payload, seal[:16])
    assert not keyring.authentic("scanners", payload, seal)  # a producer with no key here
    assert not keyring.authentic("nobody", payload, seal)


def test_a_producer_may_record_only_its_own_kind_of_events() -> None:
    assert ProducerKeyring.may_record("signing", EventTag.SIGNING_DOCUMENT_SIGN)
    assert not ProducerKeyring.may_record("signing", EventTag.IDP_LOGIN_FAILURE)
    assert not ProducerKeyring.may_record("signing", EventTag.AUDIT_ALERT_RAISE)
    assert ProducerKeyring.may_record("audit", EventTag.IDP_LOGIN_FAILURE)  # the collector
    assert not ProducerKeyring.may_record("accounts", EventTag.SCAN_FINDING_FIXED)
    assert not ProducerKeyring.may_record("nobody", EventTag.SIGNING_DOCUMENT_SIGN)
    every = set().union(*ALLOWED_TAGS.values())
    assert every == set(EventTag)  # every tag has its producer


def test_keys_rotate_and_bad_keys_are_refused() -> None:
    old, new = os.urandom(32), os.urandom(32)
    keyring = ProducerKeyring({"signing": [old, new]})
    payload = _payload()
    for key in (old, new):
        assert keyring.authentic(
            "signing", payload, HmacSealer(Producer.SIGNING, key).seal_one(payload)
        )
    assert decode_key(encode_key(new)) == new
    assert decode_key(encode_key(new) + "==") == new
    with pytest.raises(ProducerKeyError):
        decode_key("c2hvcnQ")  # 5 bytes
    with pytest.raises(ProducerKeyError):
        decode_key("not base64 at all!" * 4)
    with pytest.raises(ValueError, match="nobody"):
        ProducerKeyring({"nobody": KEY})
    with pytest.raises(ProducerKeyError):
        HmacSealer(Producer.SIGNING, b"short")
