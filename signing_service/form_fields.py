"""Form fields as a signer saw them, and as they are now.

DocMDP's "form filling" permission (and pyHanko's difference analysis with it) lets any field's value
change after a signature. A transcript's grade in a text field, filled and visible when the teacher
signed, must not: :func:`changed_fields` compares what each field showed in a signed revision (its
value, its appearance streams, where and whether it is displayed) with what it shows now, so that the
verifier can tell *refilling* what the signer saw from *filling* an empty field.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pyhanko.pdf_utils import generic

from signing_service.documents import entry

#: Field trees deeper than this, or with more fields, are not compared field by field; the caller
#: treats that as "cannot tell" (a change is then assumed).
_MAX_DEPTH = 32
_MAX_FIELDS = 10_000
#: What a field shows: its value, its appearance, where and whether it is displayed.
_SHOWN = ("/V", "/AP", "/AS", "/Rect", "/F", "/MK", "/Opt")
#: What a viewer redraws a field from when the form asks it to (``/NeedAppearances true``): the
#: field's default appearance (font and size), alignment, flags (comb, password), length, styles.
_REDRAWN_FROM = ("/DA", "/Q", "/Ff", "/MaxLen", "/DS", "/RV")
#: The same, for the whole form: its default appearance, alignment and resources (the fonts).
_FORM_REDRAWN_FROM = ("/DA", "/Q", "/DR")
#: What a field takes from its parent field when it does not say it itself (ISO 32000-1 §12.7.3.1
#: and §12.7.3.3): a grade's font and colour may live in its parent's ``/DA`` only.
_INHERITED = ("/FT", "/Ff", "/V", "/DV", "/DA", "/Q", "/DS", "/RV")


class FieldTreeTooLarge(Exception):
    """The form is too deep or too large to compare field by field."""


@dataclass(frozen=True)
class FieldState:
    name: str
    field_type: str | None
    filled: bool
    #: SHA-256 over everything the field shows (value, appearance streams' bytes, rectangle, flags).
    shown: bytes
    #: SHA-256 over what a viewer redraws it from when the form says ``/NeedAppearances true``
    #: (``None`` otherwise: its appearance streams are what is shown).
    redrawn: bytes | None = None


def _is_filled(value: Any) -> bool:
    if value is None or isinstance(value, generic.NullObject):
        return False
    if isinstance(value, generic.NameObject):
        return value != "/Off"
    if isinstance(value, (generic.TextStringObject, generic.ByteStringObject, str, bytes)):
        return len(value) > 0
    if isinstance(value, generic.ArrayObject):
        return len(value) > 0
    return True


def _fingerprint(value: Any, digest: Any, seen: set[tuple[int, int]], depth: int) -> None:
    """Feed a canonical reading of ``value`` (indirect objects followed) into ``digest``."""
    if depth > _MAX_DEPTH:
        raise FieldTreeTooLarge()
    if isinstance(value, generic.IndirectObject):
        key = (value.idnum, value.generation)
        if key in seen:
            digest.update(b"R%d" % value.idnum)
            return
        seen.add(key)
        value = value.get_object()
    if isinstance(value, generic.StreamObject):
        digest.update(b"S")
        digest.update(hashlib.sha256(value.encoded_data or b"").digest())
        for key in sorted(value):
            if key not in {"/Length", "/Filter", "/DecodeParms"}:
                digest.update(str(key).encode())
                _fingerprint(value.raw_get(key), digest, seen, depth + 1)
    elif isinstance(value, generic.DictionaryObject):
        digest.update(b"D")
        for key in sorted(value):
            if key in {"/P", "/Parent"}:  # back-pointers: the page and the parent field
                continue
            digest.update(str(key).encode())
            _fingerprint(value.raw_get(key), digest, seen, depth + 1)
        digest.update(b"E")
    elif isinstance(value, generic.ArrayObject):
        digest.update(b"A")
        for item in value:
            _fingerprint(item, digest, seen, depth + 1)
        digest.update(b"E")
    else:
        digest.update(type(value).__name__.encode() + b":" + repr(value).encode())


#: Field flags that do not change how a field is drawn: ReadOnly (which a later signature's lock
#: sets), Required, NoExport.
_UNDRAWN_FLAGS = 0b111


def _digest_of(
    field: generic.DictionaryObject,
    widgets: list[generic.DictionaryObject],
    keys: tuple[str, ...],
) -> Any:
    digest = hashlib.sha256()
    seen: set[tuple[int, int]] = set()
    for part in [field, *widgets]:
        for key in keys:
            if key not in part:
                continue
            digest.update(key.encode())
            value = part.raw_get(key)
            if key == "/Ff" and isinstance(value, generic.NumberObject):
                digest.update(b"%d" % (int(value) & ~_UNDRAWN_FLAGS))
            else:
                _fingerprint(value, digest, seen, 0)
        digest.update(b"|")
    return digest


def _shown(field: generic.DictionaryObject, widgets: list[generic.DictionaryObject]) -> bytes:
    return bytes(_digest_of(field, widgets, _SHOWN).digest())


def _redrawn(
    field: generic.DictionaryObject,
    widgets: list[generic.DictionaryObject],
    redrawn_with: bytes | None,
) -> bytes | None:
    """What a viewer redraws the field from, when the form asks it to (``redrawn_with``: the form's
    own inputs); ``None`` when viewers show the appearance streams."""
    if redrawn_with is None:
        return None
    digest = _digest_of(field, widgets, _REDRAWN_FROM)
    digest.update(b"form:" + redrawn_with)
    return bytes(digest.digest())


def _redrawn_with(form: Any) -> bytes | None:
    """With ``/NeedAppearances true`` a viewer ignores the fields' appearance streams and draws
    each value again with the form's fonts: a font swapped in ``/DR`` after signing (the shadow
    attack's *replace*) shows another text for the same value. The digest of those inputs, or
    ``None`` when the form does not ask for it."""
    asked = entry(form, "/NeedAppearances")
    if not (isinstance(asked, generic.BooleanObject) and bool(asked)):
        return None
    return bytes(_digest_of(form, [], _FORM_REDRAWN_FROM).digest())


def field_states(root: generic.DictionaryObject) -> dict[str, FieldState]:
    """Every terminal field of the document catalogue ``root``'s form, by fully qualified name."""
    try:
        form = root["/AcroForm"]
        fields = form["/Fields"]
    except (KeyError, TypeError):
        return {}
    if not isinstance(fields, generic.ArrayObject):
        return {}
    redrawn_with = _redrawn_with(form)
    states: dict[str, FieldState] = {}
    for name, field, widgets in _walk(fields, "", {}, set(), 0):
        field_type = entry(field, "/FT")
        states[name] = FieldState(
            name=name,
            field_type=str(field_type) if field_type is not None else None,
            filled=_is_filled(entry(field, "/V")),
            shown=_shown(field, widgets),
            redrawn=_redrawn(field, widgets, redrawn_with),
        )
        if len(states) > _MAX_FIELDS:
            raise FieldTreeTooLarge()
    return states


def _walk(
    kids: generic.ArrayObject,
    prefix: str,
    inherited: dict[str, Any],
    seen: set[tuple[int, int]],
    depth: int,
) -> Iterator[tuple[str, generic.DictionaryObject, list[generic.DictionaryObject]]]:
    """Each terminal field with its widgets, the entries it inherits written into it (a copy, its
    raw values), so that a parent's ``/DA`` changed after signing changes the field's digest."""
    if depth > _MAX_DEPTH:
        raise FieldTreeTooLarge()
    for kid in kids:
        if isinstance(kid, generic.IndirectObject):
            key = (kid.idnum, kid.generation)
            if key in seen:
                continue
            seen.add(key)
        field = kid.get_object()
        if not isinstance(field, generic.DictionaryObject):
            continue
        partial = entry(field, "/T")
        name = f"{prefix}.{partial}" if prefix and partial is not None else str(partial or prefix)
        passed = inherited | {key: field.raw_get(key) for key in _INHERITED if key in field}
        children = entry(field, "/Kids")
        child_fields: list[generic.DictionaryObject] = []
        widgets: list[generic.DictionaryObject] = []
        if isinstance(children, generic.ArrayObject):
            for child in children:
                child_obj = child.get_object()
                if isinstance(child_obj, generic.DictionaryObject):
                    (child_fields if "/T" in child_obj else widgets).append(child_obj)
        if child_fields and isinstance(children, generic.ArrayObject):
            yield from _walk(children, name, passed, seen, depth + 1)
        else:
            missing = {key: value for key, value in passed.items() if key not in field}
            if not missing:  # nothing inherited: the field as it is (most forms)
                yield name, field, widgets
                continue
            view = generic.DictionaryObject({key: field.raw_get(key) for key in field})
            view.update(missing)
            yield name, view, widgets


def changed_fields(
    signed: dict[str, FieldState], now: dict[str, FieldState]
) -> tuple[list[str], list[str]]:
    """``(refilled, filled)``: fields that were filled when signed and show something else now
    (or are gone), and fields that were empty when signed and are filled now. Signature fields are
    judged by the signature validation itself and left out here."""
    refilled: list[str] = []
    filled: list[str] = []
    for name, before in signed.items():
        if before.field_type == "/Sig":
            continue
        after = now.get(name)
        if before.filled:
            # What viewers redraw from matters only while they redraw: a later signature that
            # drops /NeedAppearances (pyHanko does) sends them back to the compared streams.
            redrawn_otherwise = after is not None and after.redrawn not in (None, before.redrawn)
            if after is None or after.shown != before.shown or redrawn_otherwise:
                refilled.append(name)
        elif after is not None and after.shown != before.shown:
            filled.append(name)
    return sorted(refilled), sorted(filled)
