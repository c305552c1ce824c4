"""The parts of signing that read the uploaded document, run in the sandbox's worker processes.

Signing a PDF means parsing it (to find its pages, fields and signatures), writing the new revision
with the signature's placeholder and appearance, and, for B-LT and B-LTA, reading the signed result
again to add the validation data and a document timestamp. All of that parses untrusted bytes, so it
happens here, under the sandbox's memory and time limits; the service process only computes the CMS
signature over a digest (with the key in the token) and writes it into the placeholder, which is
byte arithmetic, not parsing. No key material ever enters these functions: they see the signer's
certificates only.

Each function takes and returns plain, picklable values, and raises only the signing service's
errors (which cross the process boundary with their detail).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import lru_cache
from io import BytesIO
from typing import Any

import aiohttp
from asn1crypto import x509 as asn1_x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.layout import LayoutError
from pyhanko.pdf_utils.misc import PdfError
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers.pdf_byterange import PreparedByteRangeDigest
from pyhanko.sign.timestamps import HTTPTimeStamper, TimestampRequestError
from pyhanko.sign.validation.dss import async_add_validation_info
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.errors import PathBuildingError, PathValidationError
from pyhanko_certvalidator.registry import SimpleCertificateStore

from signing_service.active_content import find_active_content
from signing_service.appearance import STAMP_SIZE, VisibleStamp, free_stamp_boxes, stamp_style
from signing_service.documents import UntrustedDocument, document_title, entry, open_document
from signing_service.errors import (
    DocumentNotSignable,
    DocumentTooComplex,
    InvalidDocument,
    RevocationUnavailable,
    SigningFailed,
    StampTextTooLong,
    TimestampUnavailable,
)
from signing_service.form_fields import FieldTreeTooLarge, field_states
from signing_service.integrity import signature_fields
from signing_service.repeated_keys import repeated_key
from signing_service.revisions import unlisted_definition
from signing_service.sandbox import worker_loop

#: pyHanko's refusals that come from the document's own state (its locks and seed values), not from us.
_DOCUMENT_STATE_REFUSALS = (
    "Certification signatures must be the first",
    "Author signature forbids all changes",
    "Inconsistency in form field data",
    "Failed to read /Lock",
    "The seed value dictionary",
    "Attempting to sign document with hybrid",
)
#: Visible stamp text longer than this is refused before any layout is tried (the API's limits).
MAX_STAMP_TEXT = {"signer": 120, "title": 80, "unit": 120}


class FieldLock(StrEnum):
    """What a signature locks for later revisions (ISO 32000-2 §12.8.2.4, FieldMDP and /Lock /P)."""

    #: Nothing beyond the document's own DocMDP level.
    NONE = "none"
    #: Every form field, as the signer saw it (FieldMDP /All): later form filling breaks it.
    FIELDS = "fields"
    #: The whole document (FieldMDP /All and DocMDP P=1): only validation data may follow.
    DOCUMENT = "document"


@dataclass(frozen=True)
class SignaturePlan:
    """Everything a worker needs to prepare one signature: no key, only certificates (DER)."""

    field_name_prefix: str
    certificate: bytes
    chain: tuple[bytes, ...]
    reserved_bytes: int
    max_objects: int
    reason: str | None = None
    location: str | None = None
    certify: bool = False
    lock: FieldLock = FieldLock.FIELDS
    allow_active_content: bool = False
    stamp: VisibleStamp | None = None
    #: A certification leaves a place (an empty signature field with its step's lock) for each
    #: later step of its document type: see :func:`_add_places`.
    later_locks: tuple[FieldLock, ...] = ()


@dataclass(frozen=True)
class PreparedSignature:
    """The document with its signature placeholder, and the digest the CMS must sign."""

    content: bytes
    digest: PreparedByteRangeDigest
    md_algorithm: str
    signing_time: datetime
    field_name: str
    #: The document's own title (its metadata), for the record kept of what was signed.
    title: str = ""


def _media_box(page: Any, number: int) -> tuple[float, float, float, float]:
    """A page's /MediaBox, inherited from its parents if need be (A4 if none says)."""
    node = page
    for _ in range(32):
        if "/MediaBox" in node:
            box = node["/MediaBox"]
            try:
                values = [float(v) for v in box]
            except (TypeError, ValueError) as exc:
                raise InvalidDocument(f"page {number}'s /MediaBox is not four numbers") from exc
            if len(values) != 4:
                raise InvalidDocument(f"page {number}'s /MediaBox is not four numbers")
            if values[2] - values[0] < 1 or values[3] - values[1] < 1:
                raise InvalidDocument(f"page {number}'s /MediaBox is not a rectangle")
            return (values[0], values[1], values[2], values[3])
        if "/Parent" not in node:
            break
        node = node["/Parent"]
    return (0.0, 0.0, 595.0, 842.0)


#: Page trees deeper than this are refused (real documents have a handful of levels).
_MAX_PAGE_TREE_DEPTH = 64


def check_structure(reader: Any) -> int:
    """Check what signing relies on — the page tree and the form — and say what is wrong in
    words; return the number of pages."""
    try:
        root_node = reader.root["/Pages"]
    except (KeyError, TypeError, PdfError) as exc:
        raise InvalidDocument("the document has no page tree") from exc
    seen: set[int] = set()
    leaves = 0
    stack: list[tuple[Any, int]] = [(reader.root.raw_get("/Pages"), 0)]
    while stack:
        reference, depth = stack.pop()
        if depth > _MAX_PAGE_TREE_DEPTH:
            raise InvalidDocument(f"the page tree is more than {_MAX_PAGE_TREE_DEPTH} levels deep")
        if isinstance(reference, generic.IndirectObject):
            if reference.idnum in seen:
                raise InvalidDocument(
                    f"the page tree refers back to itself (object {reference.idnum})"
                )
            seen.add(reference.idnum)
        node = reference.get_object()
        if not isinstance(node, generic.DictionaryObject):
            raise InvalidDocument("a page tree node is not a dictionary")
        if entry(node, "/Type") == "/Page" or "/Kids" not in node:
            leaves += 1
            continue
        kids = node.raw_get("/Kids")
        kids = kids.get_object() if isinstance(kids, generic.IndirectObject) else kids
        if not isinstance(kids, generic.ArrayObject):
            raise InvalidDocument("a page tree node's /Kids is not an array")
        stack.extend((kid, depth + 1) for kid in kids)
    declared = entry(root_node, "/Count")
    if not isinstance(declared, int) or int(declared) != leaves:
        raise InvalidDocument(f"the page tree says it has {declared} pages and holds {leaves}")
    form = entry(reader.root, "/AcroForm")
    if form is not None:
        if not isinstance(form, generic.DictionaryObject):
            raise InvalidDocument("the form (/AcroForm) is not a dictionary")
        if "/Fields" in form and not isinstance(entry(form, "/Fields"), generic.ArrayObject):
            raise InvalidDocument("the form's /Fields is not an array")
    return leaves


def _check_annotations(page: Any, number: int) -> None:
    annotations = entry(page, "/Annots")
    if annotations is not None and not isinstance(annotations, generic.ArrayObject):
        raise InvalidDocument(f"page {number}'s /Annots is not an array")


def _check_stamp(stamp: VisibleStamp) -> None:
    for name, value in (("title", stamp.title), ("unit", stamp.unit), ("signer", stamp.signer)):
        if len(value) > MAX_STAMP_TEXT[name]:
            raise StampTextTooLong(f"{name} longer than {MAX_STAMP_TEXT[name]} characters")


def _field_lock(lock: FieldLock, reader: Any) -> fields.FieldMDPSpec | None:
    """FieldMDP for ``lock``: the fields that exist now, as the signer sees them (/Include: the
    signatures that come after this one create fields of their own, which an /All lock would
    forbid), or every field when the whole document is locked."""
    if lock is FieldLock.DOCUMENT:
        return fields.FieldMDPSpec(fields.FieldMDPAction.ALL)
    if lock is FieldLock.NONE:
        return None
    try:
        states = field_states(reader.root)
    except FieldTreeTooLarge as exc:
        raise DocumentTooComplex("the form has too many fields to lock") from exc
    # Empty signature fields (places left for later signers) are not "as the signer saw them":
    # locking them would make their signing a change to a locked field.
    names = sorted(
        name for name, state in states.items() if state.field_type != "/Sig" or state.filled
    )
    if not names:
        return None
    return fields.FieldMDPSpec(fields.FieldMDPAction.INCLUDE, fields=names)


def _page(reader: Any, index: int) -> Any:
    try:
        return reader.find_page_for_modification(index)[0].get_object()
    except (PdfError, KeyError, IndexError, TypeError, RecursionError) as exc:
        raise InvalidDocument(f"page {index + 1} cannot be read ({type(exc).__name__})") from exc


def _stamp_page(plan: SignaturePlan, pages: int) -> int:
    """The index of the page the stamp goes on (the last one for an invisible signature's places)."""
    page = plan.stamp.page if plan.stamp is not None else -1
    index = pages - 1 if page == -1 else page - 1
    if not 0 <= index < pages:
        raise DocumentNotSignable(f"page {page} does not exist (the document has {pages})")
    return index


#: More annotations on one page than this are not looked at for free room (stamps may overlap).
_MAX_ANNOTATIONS_LOOKED_AT = 2000


def _rect(annotation: Any) -> tuple[float, float, float, float] | None:
    """An annotation's /Rect as (left, bottom, right, top); None if it has none that reads."""
    try:
        values = [float(v) for v in entry(annotation.get_object(), "/Rect", ())]
    except (PdfError, KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError):
        return None
    if len(values) != 4:
        return None
    return (
        min(values[0], values[2]),
        min(values[1], values[3]),
        max(values[0], values[2]),
        max(values[1], values[3]),
    )


def _taken_boxes(page: Any) -> list[tuple[float, ...]]:
    """The rectangles of a page's annotations (fields, earlier stamps, links): a new stamp or
    place is put beside them, never over them."""
    annotations = entry(page, "/Annots")
    if not isinstance(annotations, generic.ArrayObject):
        return []
    found = (
        _rect(annotations.raw_get(i))
        for i in range(min(len(annotations), _MAX_ANNOTATIONS_LOOKED_AT))
    )
    return [rect for rect in found if rect is not None]


def _field_spec(
    plan: SignaturePlan, field_name: str, reader: Any, pages: int
) -> fields.SigFieldSpec:
    lock = _field_lock(plan.lock, reader)
    update = fields.MDPPerm.NO_CHANGES if plan.lock is FieldLock.DOCUMENT else None
    if plan.stamp is None:
        # An invisible signature's widget goes on the first page.
        _check_annotations(_page(reader, 0), 1)
        return fields.SigFieldSpec(field_name, field_mdp_spec=lock, doc_mdp_update_value=update)
    _check_stamp(plan.stamp)
    index = _stamp_page(plan, pages)
    page_object = _page(reader, index)
    _check_annotations(page_object, index + 1)
    [box] = free_stamp_boxes(_media_box(page_object, index + 1), _taken_boxes(page_object), 1)
    return fields.SigFieldSpec(
        field_name,
        on_page=index,
        box=box,
        field_mdp_spec=lock,
        doc_mdp_update_value=update,
    )


#: Annotation flags of a widget nobody sees: Invisible, Hidden, NoView (ISO 32000-2 §12.5.3).
_UNSEEN = 1 | 2 | 32


def _lock_of(field: Any) -> FieldLock | None:
    """What an empty signature field's /Lock will lock once signed, as a step's lock (None: a
    lock no step of ours makes)."""
    lock = entry(field, "/Lock")
    if lock is None:
        return FieldLock.NONE
    action, update = entry(lock, "/Action"), entry(lock, "/P")
    if action == "/All" and update == 1:
        return FieldLock.DOCUMENT
    if action == "/Include" and update is None:
        return FieldLock.FIELDS
    return None


def _place_for(reader: Any, lock: FieldLock) -> str | None:
    """The empty signature field a certification left for a step that locks ``lock``: one widget
    merged with its field, on a page, seen, the stamp's size, locked as the step must lock (a
    place that locks less than the whole document will not do for a step that locks it); or None."""
    try:
        empty = list(fields.enumerate_sig_fields(reader, filled_status=False))
    except (PdfError, KeyError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidDocument(
            f"the form's signature fields cannot be read ({type(exc).__name__})"
        ) from exc
    for name, _, reference in empty:
        field = reference.get_object()
        flags = entry(field, "/F", 0)
        if "/Kids" in field or entry(field, "/P") is None or not isinstance(flags, int):
            continue
        rect = _rect(field)
        if rect is None or flags & _UNSEEN:
            continue
        width, height = rect[2] - rect[0], rect[3] - rect[1]
        if not (0.8 <= width / STAMP_SIZE[0] <= 1.25 and 0.8 <= height / STAMP_SIZE[1] <= 1.25):
            continue
        kind = _lock_of(field)
        if kind is None or (kind is FieldLock.DOCUMENT) is not (lock is FieldLock.DOCUMENT):
            continue
        return str(name)
    return None


def _certified(reader: Any) -> bool:
    """Whether the document holds a certification signature (``/Perms /DocMDP``)."""
    return entry(entry(reader.root, "/Perms"), "/DocMDP") is not None


def _add_places(
    writer: IncrementalPdfFileWriter,
    reader: Any,
    plan: SignaturePlan,
    taken_names: set[str],
    pages: int,
) -> None:
    """Leave an empty signature field for each later step, in the certification's own revision:
    after a certification, the only visible signature PDF permits is one filling a field that was
    there when it was made (ISO 32000-2 §12.8.2.2: P=2 allows form filling and signing, not new
    annotations), so without these places the principal's stamp on a transcript the homeroom
    teacher certified would break the teacher's signature. Each place carries its step's lock, which
    pyHanko applies when it is filled; the places sit beside the stamps, never over them."""
    index = _stamp_page(plan, pages)
    page_object = _page(reader, index)
    taken = _taken_boxes(page_object)
    media = _media_box(page_object, index + 1)
    if plan.stamp is not None:
        taken += free_stamp_boxes(media, taken, 1)  # the certification's own stamp
    boxes = free_stamp_boxes(media, taken, len(plan.later_locks))
    number = 1
    for lock, box in zip(plan.later_locks, boxes, strict=True):
        while f"{plan.field_name_prefix}{number}" in taken_names:
            number += 1
        name = f"{plan.field_name_prefix}{number}"
        taken_names.add(name)
        fields.append_signature_field(
            writer,
            fields.SigFieldSpec(
                name,
                on_page=index,
                box=box,
                field_mdp_spec=_field_lock(lock, reader),
                doc_mdp_update_value=fields.MDPPerm.NO_CHANGES
                if lock is FieldLock.DOCUMENT
                else None,
            ),
        )


@lru_cache(maxsize=64)
def _service_certificate(der: bytes) -> asn1_x509.Certificate:
    """One of the service's own certificates (a signer's, its chain; never one from a document),
    parsed once per worker: every signature reads the same few."""
    return asn1_x509.Certificate.load(der)


def _unsigned_signer(plan: SignaturePlan) -> signers.ExternalSigner:
    """A pyHanko signer that knows the certificates and no key: enough to lay out the signature and
    to compute the digest; the CMS is made in the service process with the token's key."""
    registry = SimpleCertificateStore.from_certs([_service_certificate(der) for der in plan.chain])
    return signers.ExternalSigner(
        _service_certificate(plan.certificate), registry, signature_value=256
    )


async def _prepare(document: UntrustedDocument, plan: SignaturePlan) -> PreparedSignature:
    reader = open_document(document)
    xrefs = reader.xrefs
    objects = sum(len(xrefs.explicit_refs_in_revision(r)) for r in range(xrefs.total_revisions))
    if objects > plan.max_objects:
        raise DocumentTooComplex(f"{objects} objects; the limit is {plan.max_objects}")
    pages = check_structure(reader)
    # Every filled signature field, not only those pyHanko can read: one it skips (an unknown
    # /SubFilter) may lock the document all the same.
    signatures = signature_fields(reader, painting=False)
    if plan.certify and (signatures.embedded or signatures.unsupported or signatures.unreadable):
        raise DocumentNotSignable("a certification signature must be the document's first")
    for name, subfilter in signatures.unsupported:
        raise DocumentNotSignable(
            f"signature {name[:40]!r} is in a format the service cannot check "
            f"({subfilter[:40]}): what it locks cannot be read, and another signature could "
            "break it"
        )
    for name, problem in signatures.unreadable:
        raise InvalidDocument(
            f"signature {name[:40]!r} cannot be read ({problem}): what it locks cannot be checked"
        )
    for embedded in signatures.embedded:
        # A signature that locks the whole document (DocMDP P=1, through its field's lock or as
        # a certification): another signature would break it (pyHanko checks only the latter).
        try:
            level = embedded.docmdp_level
        except (PdfError, KeyError, ValueError, TypeError) as exc:
            raise InvalidDocument(
                f"the lock of signature {str(embedded.field_name)[:40]!r} cannot be read"
            ) from exc
        if level is fields.MDPPerm.NO_CHANGES:
            raise DocumentNotSignable(
                f"signature {str(embedded.field_name)[:40]!r} locks the document: nothing but "
                "validation data may follow it"
            )
    if not plan.allow_active_content:
        active = [c for c in find_active_content(reader.root) if c.kind.runs_code]
        if active:
            kinds = ", ".join(sorted({c.kind.value for c in active}))
            raise DocumentNotSignable(
                f"the document contains active content ({kinds}); "
                "the signing policy of this document type does not allow it"
            )
    repeated = repeated_key(document, reader)
    if repeated is not None:
        raise DocumentNotSignable(
            f"the document names a key twice in one dictionary ({repeated}): viewers differ on "
            "which value they show, so what is signed would not be one document"
        )
    unlisted = unlisted_definition(document, reader)
    if unlisted is not None:
        raise DocumentNotSignable(
            f"object {unlisted[0]} is also defined at offset {unlisted[1]}, where no "
            "cross-reference section lists it: a viewer that rebuilds the cross-reference table "
            "(as viewers do with a damaged file) would show that definition, not the one checked "
            "and signed"
        )
    existing = {name for name, _, _ in fields.enumerate_sig_fields(reader)}
    # After a certification, a visible signature fills the place left for its step (its box, its
    # page, its lock); anywhere else it makes a field of its own, as an invisible one always does.
    certified = plan.stamp is not None and _certified(reader)
    place = _place_for(reader, plan.lock) if certified else None
    new_field: fields.SigFieldSpec | None = None
    if place is not None and plan.stamp is not None:
        _check_stamp(plan.stamp)
        field_name = place
    else:
        if certified:
            raise DocumentNotSignable(
                "the document is certified and has no signature place left for a stamp of this "
                "step (one that locks as it must): a new visible signature would break the "
                "certification (sign without visible=true)"
            )
        number = len(existing) + 1
        while f"{plan.field_name_prefix}{number}" in existing:
            number += 1
        field_name = f"{plan.field_name_prefix}{number}"
        new_field = _field_spec(plan, field_name, reader, pages)
    meta = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=plan.reason,
        location=plan.location,
        certify=plan.certify,
        docmdp_permissions=fields.MDPPerm.NO_CHANGES
        if plan.lock is FieldLock.DOCUMENT
        else fields.MDPPerm.FILL_FORMS,
    )
    pdf_signer = signers.PdfSigner(
        meta,
        signer=_unsigned_signer(plan),
        stamp_style=stamp_style() if plan.stamp is not None else None,
        new_field_spec=new_field,
    )
    # The update is written over the reader that was checked, its objects already parsed: a
    # second reader would parse the document again (and could in principle read it otherwise).
    writer = IncrementalPdfFileWriter.from_reader(reader)
    if plan.certify and plan.later_locks:
        _add_places(writer, reader, plan, existing | {field_name}, pages)
    session = pdf_signer.init_signing_session(writer)
    tbs = session.prepare_tbs_document(
        validation_info=None,
        bytes_reserved=plan.reserved_bytes,
        appearance_text_params=(
            plan.stamp.text_params(session.system_time) if plan.stamp is not None else None
        ),
    )
    output = BytesIO()
    digest, _ = tbs.digest_tbs_document(output=output)
    return PreparedSignature(
        content=output.getvalue(),
        digest=digest,
        md_algorithm=session.md_algorithm,
        signing_time=session.system_time,
        field_name=field_name,
        title=document_title(reader),
    )


def prepare_signature(document: UntrustedDocument, plan: SignaturePlan) -> PreparedSignature:
    """Lay out a new signature on ``document`` (field, lock, appearance, placeholder) and compute
    the digest to sign. Runs in a sandbox worker."""
    try:
        return worker_loop().run_until_complete(_prepare(document, plan))
    except LayoutError as exc:
        raise DocumentNotSignable("the visible stamp does not fit on the page") from exc
    except PyHankoSigningError as exc:
        message = str(exc)
        if message.startswith(_DOCUMENT_STATE_REFUSALS):
            raise DocumentNotSignable(message[:200]) from exc
        raise DocumentNotSignable(
            f"the document cannot take a signature ({message[:120]})"
        ) from exc


async def _extend(
    signed: bytes,
    field_name: str,
    trust_roots_der: list[bytes],
    tsa_url: str | None,
    archive_timestamp: bool,
) -> bytes:
    reader = open_document(UntrustedDocument(signed))
    embedded = next((e for e in reader.embedded_signatures if e.field_name == field_name), None)
    if embedded is None:
        raise SigningFailed(f"signature {field_name} not found after signing")
    context = ValidationContext(
        trust_roots=[asn1_x509.Certificate.load(der) for der in trust_roots_der],
        allow_fetching=True,
        revocation_mode="require",
    )
    # The validation data (the signer's chain and the signature timestamp's, with OCSP responses
    # and CRLs) goes in a revision of its own after the signature, as EN 319 142-1 lays out B-LT:
    # EU DSS links a DSS to a signature only when it comes in a later revision.
    output = BytesIO()
    await async_add_validation_info(
        embedded,
        context,
        skip_timestamp=False,
        add_vri_entry=False,
        force_write=True,
        output=output,
    )
    if not archive_timestamp:
        return output.getvalue()
    if not tsa_url:
        raise TimestampUnavailable("no TSA configured")
    async with aiohttp.ClientSession() as session:
        stamper = signers.PdfTimeStamper(HTTPTimeStamper(tsa_url, timeout=10, session=session))
        writer = IncrementalPdfFileWriter(BytesIO(output.getvalue()), strict=False)
        stamped = BytesIO()
        await stamper.async_timestamp_pdf(
            writer, "sha256", bytes_reserved=16 * 1024, output=stamped
        )
    return stamped.getvalue()


def extend_signature(
    signed: bytes,
    field_name: str,
    trust_roots_der: list[bytes],
    tsa_url: str | None,
    archive_timestamp: bool,
) -> bytes:
    """B-LT: add the validation data in a revision of its own; B-LTA: then a document timestamp.
    Runs in a sandbox worker (the signed document still carries the uploaded content)."""
    try:
        return worker_loop().run_until_complete(
            _extend(signed, field_name, trust_roots_der, tsa_url, archive_timestamp)
        )
    except (TimestampRequestError, aiohttp.ClientError, TimeoutError) as exc:
        raise TimestampUnavailable() from exc
    except (PathBuildingError, PathValidationError) as exc:
        raise RevocationUnavailable() from exc
    except PyHankoSigningError as exc:
        if isinstance(exc.__cause__, PathBuildingError | PathValidationError):
            raise RevocationUnavailable() from exc
        raise SigningFailed(f"validation data could not be added ({type(exc).__name__})") from exc
