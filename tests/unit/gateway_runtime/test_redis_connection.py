"""Reading the Redis URL of a service: one server, or the sentinels of a replicated primary."""

from __future__ import annotations

import pytest

from gateway_runtime.redis_connection import RedisAddress, RedisAddressError


def test_one_server_is_taken_as_it_is() -> None:
    address = RedisAddress.parse("redis://127.0.0.1:6380/0")
    assert address.url == "redis://127.0.0.1:6380/0"
    assert address.replicas == 0  # one server: its fsynced append-only file makes a write durable


def test_sentinels_name_the_primary_and_the_replicas_to_wait_for() -> None:
    address = RedisAddress.parse(
        "redis+sentinel://10.0.0.1:26379,10.0.0.2:26379,[::1]:26380/gateway/2?replicas=2"
    )
    assert address.url is None
    assert address.sentinels == (("10.0.0.1", 26379), ("10.0.0.2", 26379), ("::1", 26380))
    assert (address.service, address.db, address.replicas) == ("gateway", 2, 2)
    # Behind Sentinel a write counts once one replica holds it, unless said otherwise.
    assert RedisAddress.parse("redis+sentinel://h:1/gateway").replicas == 1


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:6379", "unknown Redis URL scheme"),
        ("redis+sentinel://h:1", "a sentinel URL is"),
        ("redis+sentinel:///gateway", "a sentinel URL is"),
        ("redis+sentinel://h:1/gateway/0/extra", "a sentinel URL is"),
        ("redis+sentinel://h/gateway", "a sentinel is host:port"),
        ("redis+sentinel://h:x/gateway", "a sentinel is host:port"),
        ("redis+sentinel://h:1/gateway/zero", "whole numbers"),
        ("redis+sentinel://h:1/gateway?replicas=-1", "cannot be negative"),
    ],
)
def test_a_url_that_cannot_work_says_why(url: str, reason: str) -> None:
    with pytest.raises(RedisAddressError, match=reason):
        RedisAddress.parse(url)


def test_a_password_in_the_url_is_refused_without_repeating_it() -> None:
    with pytest.raises(RedisAddressError) as refused:
        RedisAddress.parse("redis+sentinel://audit:s3cret-pw@h:1/gateway")
    assert "s3cret-pw" not in str(refused.value)
