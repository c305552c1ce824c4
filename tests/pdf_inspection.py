"""Reading signed PDFs back as a viewer would, for assertions (not part of the gateway)."""

from __future__ import annotations

from io import BytesIO, StringIO

from pdfminer.converter import TextConverter
from pdfminer.layout import LAParams
from pdfminer.pdfdocument import PDFDocument
from pdfminer.pdfinterp import PDFPageInterpreter, PDFResourceManager
from pdfminer.pdfpage import PDFPage
from pdfminer.pdfparser import PDFParser
from pdfminer.pdftypes import resolve1
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter


def annotation_texts(pdf: bytes) -> list[str]:
    """The text of every annotation appearance (signature stamps), one string per annotation."""
    document = PDFDocument(PDFParser(BytesIO(pdf)))
    manager = PDFResourceManager()
    texts: list[str] = []
    for page in PDFPage.create_pages(document):
        for ref in resolve1(page.annots) or []:
            annotation = resolve1(ref)
            appearance = resolve1(annotation.get("AP") or {}).get("N")
            if appearance is None:
                continue
            stream = resolve1(appearance)
            out = StringIO()
            device = TextConverter(manager, out, laparams=LAParams())
            interpreter = PDFPageInterpreter(manager, device)
            device.begin_page(page, (1, 0, 0, 1, 0, 0))
            interpreter.render_contents(resolve1(stream.attrs.get("Resources")) or {}, [stream])
            device.end_page(page)
            texts.append(out.getvalue())
    return texts


def replace_page_text(pdf: bytes, old: bytes, new: bytes) -> bytes:
    """An incremental update that rewrites page 1's content: the "changed grade after signing" attack."""
    writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
    page = writer.root["/Pages"]["/Kids"][0].get_object()
    stream = page["/Contents"]
    assert old in stream.data
    page["/Contents"] = writer.add_object(
        generic.StreamObject(stream_data=stream.data.replace(old, new))
    )
    writer.update_container(page)
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def stamp_fonts(pdf: bytes) -> list[tuple[str, bool]]:
    """(BaseFont, embedded?) of every font used by the annotation appearances of every page."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(BytesIO(pdf))
    found: list[tuple[str, bool]] = []

    def walk(xobject: generic.PdfObject, depth: int = 0) -> None:
        resources = xobject.get("/Resources", generic.DictionaryObject())  # type: ignore[attr-defined]
        for font in resources.get("/Font", generic.DictionaryObject()).values():
            font = font.get_object()
            descendants = font.get("/DescendantFonts")
            leaf = descendants[0].get_object() if descendants else font
            descriptor = leaf.get("/FontDescriptor")
            embedded = descriptor is not None and any(
                key in descriptor.get_object() for key in ("/FontFile", "/FontFile2", "/FontFile3")
            )
            found.append((str(font["/BaseFont"]), embedded))
        if depth < 5:
            for child in resources.get("/XObject", generic.DictionaryObject()).values():
                walk(child.get_object(), depth + 1)

    for page_ref in reader.root["/Pages"]["/Kids"]:
        for annotation in page_ref.get_object().get("/Annots", generic.ArrayObject()):
            appearance = annotation.get_object().get("/AP")
            if appearance is not None:
                walk(appearance["/N"].get_object())
    return found


def _qr_drawing(url: str) -> bytes:
    """The drawing commands pyHanko's stamp makes for a QR code of ``url`` (its own recipe:
    error correction M, vector modules)."""
    import qrcode
    from pyhanko.pdf_utils.qr import PdfStreamQRImage

    qr = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M)
    qr.add_data(url)
    qr.make()
    drawing: bytes = qr.make_image(image_factory=PdfStreamQRImage).render_command_stream()
    return drawing


def qr_codes_drawn(pdf: bytes, urls: list[str]) -> list[str]:
    """Which of ``urls`` a signature stamp's QR code encodes (compared with the QR code of each
    URL drawn the same way, so the code itself is read, not a link annotation)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(BytesIO(pdf))
    streams: list[bytes] = []

    def walk(xobject: generic.PdfObject, depth: int = 0) -> None:
        if isinstance(xobject, generic.StreamObject):
            streams.append(xobject.data)
        resources = xobject.get("/Resources", generic.DictionaryObject())  # type: ignore[attr-defined]
        if depth < 5:
            for child in resources.get("/XObject", generic.DictionaryObject()).values():
                walk(child.get_object(), depth + 1)

    for page in reader.root["/Pages"]["/Kids"]:
        for annotation in page.get_object().get("/Annots", generic.ArrayObject()):
            appearance = annotation.get_object().get("/AP")
            if appearance is not None:
                walk(appearance["/N"].get_object())
    return [url for url in urls if any(_qr_drawing(url) in data for data in streams)]
