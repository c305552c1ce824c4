"""Is this DER? A strict reader of the distinguished encoding rules, for the signed attributes of a CMS
signature.

CMS (RFC 5652 §5.4) signs the DER encoding of the signed attributes. A signer that stores them in
another encoding (a SET OF out of order, a length in more bytes than needed) and signs those bytes
produces a signature that verifies only for a verifier hashing the bytes as stored; EU DSS and the
ETSI plugtests reject it, and so do we. asn1crypto could re-encode the attributes to compare, but that
rebuilds every nested value (a third of a verification, measured); this walks the bytes once.
"""

from __future__ import annotations

_SET = 0x31
#: The signed attributes' own tag: [0] IMPLICIT SET OF Attribute.
_IMPLICIT_SET = 0xA0
_MAX_DEPTH = 32


class NotDer(ValueError):
    """The bytes are not a DER encoding; the message says where and why."""


def _header(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """``(tag, start of content, end of content)`` of the element at ``pos``."""
    if pos >= end:
        raise NotDer(f"truncated element at {pos}")
    tag = data[pos]
    pos += 1
    if tag & 0x1F == 0x1F:
        if pos >= end or data[pos] == 0x80:
            raise NotDer(f"non-minimal tag number at {pos}")
        while pos < end and data[pos] & 0x80:
            pos += 1
        pos += 1
    if pos >= end:
        raise NotDer(f"missing length at {pos}")
    first = data[pos]
    pos += 1
    if first == 0x80:
        raise NotDer(f"indefinite length at {pos - 1}")
    if first < 0x80:
        length = first
    else:
        count = first & 0x7F
        if count > 4 or pos + count > end:
            raise NotDer(f"length of {count} bytes at {pos - 1}")
        if data[pos] == 0:
            raise NotDer(f"length with a leading zero byte at {pos - 1}")
        length = int.from_bytes(data[pos : pos + count], "big")
        if length < 0x80:
            raise NotDer(f"long form for a short length at {pos - 1}")
        pos += count
    if pos + length > end:
        raise NotDer(f"element at {pos} runs past its container")
    return tag, pos, pos + length


def _check(data: bytes, pos: int, end: int, depth: int) -> None:
    if depth > _MAX_DEPTH:
        raise NotDer("nested too deeply")
    while pos < end:
        start = pos
        tag, content, pos = _header(data, pos, end)
        if tag & 0x20:  # constructed
            _check(data, content, pos, depth + 1)
            if tag in (_SET, _IMPLICIT_SET):
                _check_set_order(data, content, pos)
        elif tag == 0x01 and (pos - content != 1 or data[content] not in (0x00, 0xFF)):
            raise NotDer(f"BOOLEAN not encoded as 00 or FF at {start}")
        elif tag == 0x02 and pos - content > 1:
            first, second = data[content], data[content + 1]
            if (first == 0x00 and second < 0x80) or (first == 0xFF and second >= 0x80):
                raise NotDer(f"INTEGER with a redundant leading byte at {start}")


def _check_set_order(data: bytes, pos: int, end: int) -> None:
    elements = []
    while pos < end:
        start = pos
        _, _, pos = _header(data, pos, end)
        elements.append(data[start:pos])
    if elements != sorted(elements):
        raise NotDer("SET OF elements not in DER order")


def check_der(encoded: bytes) -> None:
    """Raise :class:`NotDer` unless ``encoded`` is exactly one DER-encoded element."""
    _, _, end = _header(encoded, 0, len(encoded))
    if end != len(encoded):
        raise NotDer(f"{len(encoded) - end} bytes after the element")
    _check(encoded, 0, len(encoded), 0)
