"""Who may write to the audit log, and how the audit service knows an event came from them.

Every producing service has a name (:class:`Producer`), a closed set of event tags it may record, and
a secret key of its own. It seals each event with ``HMAC-SHA256(key, domain || producer || event)``;
the audit service holds every producer's key (the keyring) and stores an event as genuine only if
its seal matches *and* its tag is one that producer records. Anything else read from the stream is
quarantined and raises an alert. Holding the Redis password is therefore not enough to write
history: a writer needs a producer's key, and then can only write that producer's kind of events.

Why a MAC and not a signature: the ingest must keep up with at least 20,000 durable events per
second on two cores. Checking an Ed25519 or ECDSA signature costs 50-100 µs, i.e. one to two cores
at that rate; an HMAC with a prepared key costs about 1 µs. What a signature would add — that the
verifier cannot forge — does not apply here: the verifier is the audit service, which writes the
store and could write anything there anyway (its own tamper evidence is the hash chain and the
signed checkpoints). Keys stay where each service keeps its other secrets: the signing service's in
its PKCS#11 token (a non-extractable generic secret used through ``CKM_SHA256_HMAC``: the process
that parses untrusted PDFs never holds it), the others' in their environment / secret store.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from enum import StrEnum
from typing import Protocol

from audit.errors import AuditError
from audit.events import EventTag

_DOMAIN = b"edu-gateway/audit-event/v1\n"
#: A producer key is at least this long (bytes).
MIN_KEY_BYTES = 32


class Producer(StrEnum):
    """The services that record audit events. Add here, with the tags it may record."""

    SIGNING = "signing"
    AUDIT = "audit"  # the audit service itself, and the Keycloak event collector inside it
    ACCOUNTS = "accounts"  # idp-config issue-accounts
    SCANNERS = "scanners"  # gateway-scan


def _tags(*prefixes: str) -> frozenset[EventTag]:
    return frozenset(t for t in EventTag if t.value.startswith(prefixes))


#: What each producer may record: a valid seal on a tag outside its set is still refused, so a
#: compromised signing service cannot forge login failures, account changes or alerts.
ALLOWED_TAGS: Mapping[Producer, frozenset[EventTag]] = {
    Producer.SIGNING: _tags("signing:"),
    Producer.AUDIT: _tags("audit:", "idp:login:", "idp:token:", "idp:user:", "idp:admin:"),
    Producer.ACCOUNTS: _tags("idp:account:"),
    Producer.SCANNERS: _tags("scan:"),
}


class ProducerKeyError(AuditError):
    """A producer key that cannot be used (missing, too short, not base64)."""

    code = "audit-producer-key"
    status_code = 500
    message_vi = "Khoá xác thực sự kiện kiểm toán của dịch vụ không hợp lệ; kiểm tra cấu hình."
    message_en = "The service's audit event key is missing or invalid; check the configuration."


def decode_key(text: str) -> bytes:
    """A producer key as configured: base64 (standard or URL-safe, padding optional), ≥ 32 bytes."""
    standard = text.strip().rstrip("=").replace("-", "+").replace("_", "/")
    try:
        value = base64.b64decode(standard + "=" * (-len(standard) % 4), validate=True)
    except ValueError as exc:
        raise ProducerKeyError("a producer key is not base64") from exc
    if len(value) < MIN_KEY_BYTES:
        raise ProducerKeyError(f"a producer key has fewer than {MIN_KEY_BYTES} bytes")
    return value


def encode_key(value: bytes) -> str:
    return base64.urlsafe_b64encode(value).decode().rstrip("=")


def mac_message(producer: str, payload: bytes) -> bytes:
    """What a seal covers: the domain, the producer's name and the event exactly as sent."""
    return _DOMAIN + producer.encode("utf-8") + b"\n" + payload


class _PreparedHmac:
    """HMAC-SHA256 (RFC 2104) of one producer's events, with the padded key's two hash states —
    and the inner one already over the seal's fixed prefix (domain, producer) — computed once.

    ``hmac.digest`` recomputes them on every call (about 4 µs for an event here); copying prepared
    states costs about 1 µs, which the ingest's budget notices. Checked against ``hmac.digest`` in
    the unit tests.
    """

    def __init__(self, key: bytes, producer: str) -> None:
        block = key if len(key) <= 64 else hashlib.sha256(key).digest()
        block = block.ljust(64, b"\0")
        self._inner = hashlib.sha256(bytes(b ^ 0x36 for b in block))
        self._inner.update(mac_message(producer, b""))
        self._outer = hashlib.sha256(bytes(b ^ 0x5C for b in block))

    def seal(self, payload: bytes) -> bytes:
        """The seal of ``payload``: ``HMAC(key, mac_message(producer, payload))``."""
        inner = self._inner.copy()
        inner.update(payload)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()


class EventSealer(Protocol):
    """Seals events for one producer. Contract: one MAC per payload, in order; raises
    :class:`~audit.errors.AuditUnavailable` if the key cannot be used (nothing is then recorded)."""

    @property
    def producer(self) -> str: ...

    async def seal(self, payloads: Sequence[bytes]) -> list[bytes]: ...


class HmacSealer:
    """Seals with a key held in this process (services whose secrets live in their environment)."""

    def __init__(self, producer: Producer | str, key: bytes) -> None:
        if len(key) < MIN_KEY_BYTES:
            raise ProducerKeyError(f"the {producer} key has fewer than {MIN_KEY_BYTES} bytes")
        self._producer = str(producer)
        self._hmac = _PreparedHmac(key, self._producer)

    @property
    def producer(self) -> str:
        return self._producer

    def seal_one(self, payload: bytes) -> bytes:
        return self._hmac.seal(payload)

    async def seal(self, payloads: Sequence[bytes]) -> list[bytes]:
        return [self.seal_one(p) for p in payloads]


class ProducerKeyring:
    """The audit service's keys of every producer: checks a seal, and the producer's right to the tag.

    A producer may have more than one key at a time (rotation: add the new key, switch the
    producer to it, then remove the old one).
    """

    def __init__(self, keys: Mapping[str, bytes | Sequence[bytes]]) -> None:
        self._keys: dict[str, list[_PreparedHmac]] = {}
        for name, value in keys.items():
            producer = Producer(name)  # an unknown name is a configuration error
            values = [value] if isinstance(value, bytes) else list(value)
            for key in values:
                if len(key) < MIN_KEY_BYTES:
                    raise ProducerKeyError(
                        f"the {producer} key has fewer than {MIN_KEY_BYTES} bytes"
                    )
            self._keys[producer.value] = [_PreparedHmac(k, producer.value) for k in values]
        #: The producers this keyring knows (checked for every entry: computed once).
        self.producers: frozenset[str] = frozenset(self._keys)

    def authentic(self, producer: str, payload: bytes, mac: bytes) -> bool:
        """Whether ``mac`` is ``producer``'s seal on ``payload`` (constant time per key)."""
        keys = self._keys.get(producer)
        if not keys:
            return False
        # Usually one key (two while one rotates). A loop, not any(<generator>): this runs for
        # every event ingested, and the generator cost more than the HMAC itself (profiled).
        for key in keys:  # noqa: SIM110 - see above
            if hmac.compare_digest(key.seal(payload), mac):
                return True
        return False

    @staticmethod
    def may_record(producer: str, tag: EventTag) -> bool:
        # By the producer's name: making a Producer of it for every event cost ~5 µs (profiled).
        return tag in _ALLOWED_BY_NAME.get(producer, frozenset())


#: :data:`ALLOWED_TAGS` by producer name (the stream carries the name).
_ALLOWED_BY_NAME: dict[str, frozenset[EventTag]] = {
    producer.value: frozenset(tags) for producer, tags in ALLOWED_TAGS.items()
}
