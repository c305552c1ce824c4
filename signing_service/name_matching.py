"""Faster X.509 name comparison for path building, with asn1crypto's exact semantics.

Verifying a signature compares distinguished names many times: issuer against subject while building
each path (signer's and TSA's), ``IssuerAndSerialNumber`` against every certificate in the CMS bag,
CRL and OCSP issuers. asn1crypto implements RFC 5280 §7.1 comparison by re-walking the parsed name and
re-preparing every attribute value (RFC 4518 string preparation, character by character) on every
comparison and on every ``hashable`` call. Profiled in-process on a B-LT transcript, name comparison
was 18 % of a verification, most of it for names long in Vietnamese.

This module computes a name's comparison key once per distinct encoding (cached by its DER bytes,
so a certificate that reappears in every document is prepared once per worker) and compares keys:

* equal DER encodings are equal names;
* otherwise the key is, per RDN, its size and its ``{type: prepared value}`` pairs, which is exactly
  what :meth:`asn1crypto.x509.RelativeDistinguishedName.__eq__` compares (same size, same types,
  same prepared value per type), in order, as :meth:`asn1crypto.x509.RDNSequence.__eq__` does.

``tests/unit/signing_service/test_name_matching.py`` checks both answers against asn1crypto's own on
names that differ in case, spacing, order, multi-valued RDNs and string types.
"""

from __future__ import annotations

from typing import Any

from asn1crypto import x509

_NameKey = tuple[tuple[int, frozenset[tuple[str, str]]], ...]

_ORIGINAL_EQ = x509.Name.__eq__
_ORIGINAL_HASHABLE: Any = x509.Name.hashable
_CACHE_LIMIT = 4096
_keys: dict[bytes, _NameKey] = {}
_hashables: dict[bytes, str] = {}


def _compute_key(name: x509.Name) -> _NameKey:
    rdns = name.chosen
    key: list[tuple[int, frozenset[tuple[str, str]]]] = []
    for rdn in rdns:
        values = rdn._get_values(rdn)
        key.append((len(rdn), frozenset(values.items())))
    return tuple(key)


def _remember(cache: dict[bytes, Any], der: bytes, value: Any) -> None:
    if len(cache) >= _CACHE_LIMIT:
        cache.clear()
    cache[der] = value


def name_key(name: x509.Name) -> _NameKey:
    """The RFC 5280 comparison key of ``name`` (cached by its DER encoding)."""
    der = name.dump()
    key = _keys.get(der)
    if key is None:
        key = _compute_key(name)
        _remember(_keys, der, key)
    return key


def _equal(self: x509.Name, other: object) -> bool:
    if not isinstance(other, x509.Name):
        return False
    if self is other or self.dump() == other.dump():
        return True
    return name_key(self) == name_key(other)


def _hashable(self: x509.Name) -> str:
    der = self.dump()
    value = _hashables.get(der)
    if value is None:
        value = _ORIGINAL_HASHABLE.fget(self)
        _remember(_hashables, der, value)
    return str(value)


def install() -> None:
    """Use the cached comparison for :class:`asn1crypto.x509.Name` in this process (idempotent)."""
    setattr(x509.Name, "__eq__", _equal)  # noqa: B010 - patching the class on purpose
    setattr(x509.Name, "__ne__", lambda self, other: not _equal(self, other))  # noqa: B010
    setattr(x509.Name, "hashable", property(_hashable))  # noqa: B010


def original_equal(a: x509.Name, b: object) -> bool:
    """asn1crypto's own comparison, for the equivalence tests."""
    return bool(_ORIGINAL_EQ(a, b))


def original_hashable(name: x509.Name) -> str:
    return str(_ORIGINAL_HASHABLE.fget(name))
