"""Demo documents: small PDFs for trying the signing API (and for the tests)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from keycloak import KeycloakAdmin
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter

#: Vietnamese text in the sample documents and wherever Helvetica cannot say it: the stamp's font
#: (Noto Sans cut to the Vietnamese repertoire), embedded as a subset of the glyphs the text uses.
from signing_service.appearance import DEFAULT_FONT
from signing_service.stamp_font import PreparedFontFactory

_FONT_SIZE = 12
_LEADING = 14


def _escape(text: str) -> bytes:
    raw = text.encode("cp1252")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _helvetica_says(text: str) -> bool:
    """Whether Helvetica in WinAnsiEncoding can show ``text`` (no Vietnamese beyond Latin-1)."""
    try:
        text.encode("cp1252")
    except UnicodeEncodeError:
        return False
    return True


def transcript_pdf(lines: list[str], *, pages: int = 1, title: str | None = None) -> bytes:
    """A plain A4 PDF with ``lines`` of text on each of ``pages`` pages (and ``title`` in its
    information dictionary).

    Text that Helvetica can show is written in Helvetica, a literal string per line (tests find and
    rewrite those bytes). Anything else — Vietnamese — is written in the embedded Noto Sans subset,
    with a ToUnicode map, so that it is shown and extracted with every diacritic."""
    writer = PdfFileWriter()
    if title is not None:
        writer.set_info(
            generic.DictionaryObject({generic.pdf_name("/Title"): generic.TextStringObject(title)})
        )
    all_lines = [*lines, *(f"Trang {number}/{pages}" for number in range(1, pages + 1))]
    if all(_helvetica_says(line) for line in all_lines):
        font: generic.PdfObject = writer.add_object(
            generic.DictionaryObject(
                {
                    generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                    generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                    generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
                    generic.pdf_name("/Encoding"): generic.pdf_name("/WinAnsiEncoding"),
                }
            )
        )

        def show(line: str) -> bytes:
            return b"(" + _escape(line) + b") Tj"

        prepare = None
    else:
        engine = PreparedFontFactory(str(DEFAULT_FONT), font_size=_FONT_SIZE).create_font_engine(
            writer
        )
        font = engine.as_resource()

        def show(line: str) -> bytes:
            return engine.shape(line).graphics_ops

        prepare = engine.prepare_write
    for number in range(1, pages + 1):
        ops = [b"BT /F1 %d Tf %d TL 72 770 Td" % (_FONT_SIZE, _LEADING)]
        for line in [*lines, f"Trang {number}/{pages}"]:
            ops.append(b"T* " + show(line))
        ops.append(b"ET")
        content = writer.add_object(generic.StreamObject(stream_data=b"\n".join(ops)))
        page = generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Page"),
                generic.pdf_name("/MediaBox"): generic.ArrayObject(
                    [generic.NumberObject(v) for v in (0, 0, 595, 842)]
                ),
                generic.pdf_name("/Contents"): content,
                generic.pdf_name("/Resources"): generic.DictionaryObject(
                    {
                        generic.pdf_name("/Font"): generic.DictionaryObject(
                            {generic.pdf_name("/F1"): font}
                        )
                    }
                ),
            }
        )
        writer.insert_page(page)
    if prepare is not None:
        prepare()  # type: ignore[no-untyped-call]  # embeds the subset and the ToUnicode map
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


def teacher_accounts(admin: KeycloakAdmin, prefix: str, count: int, password: str) -> list[str]:
    """``count`` ordinary teachers' accounts (no second factor) named ``<prefix>.0000`` …, each with
    ``password``, for load and failure tests (kept if they exist)."""
    names = []
    role = admin.get_realm_role("teacher")
    for index in range(count):
        name = f"{prefix}.{index:04d}"
        user_id = admin.create_user(
            {
                "username": name,
                "enabled": True,
                "firstName": "Giáo viên",
                "lastName": f"Thử {index}",
                "attributes": {"unit_code": ["79760101"]},
                "credentials": [{"type": "password", "value": password, "temporary": False}],
            },
            exist_ok=True,
        )
        admin.assign_realm_roles(user_id, [role])
        names.append(name)
    return names


def seed_documents(folder: Path) -> None:
    """Sample unsigned documents to try the API with, in ``folder`` (kept if already there)."""
    folder.mkdir(exist_ok=True)
    samples = {
        "hoc-ba-mau.pdf": [
            "HỌC BẠ ĐIỆN TỬ (MẪU)",
            "Lớp 10A1 — Năm học 2026-2027",
            "Học sinh: Nguyễn Thị Thuỳ Dương",
            "Toán 8,5 · Ngữ văn 9,0 · Tiếng Anh 8,0 · Lịch sử 7,5",
            "Hạnh kiểm: Tốt · Học lực: Giỏi",
        ],
        "cong-van-mau.pdf": [
            "CÔNG VĂN (MẪU)",
            "Sở Giáo dục và Đào tạo — Văn phòng",
            "V/v: Hướng dẫn ký số học bạ điện tử năm học 2026-2027",
        ],
    }
    for name, lines in samples.items():
        path = folder / name
        if not path.exists():
            path.write_bytes(transcript_pdf(lines, pages=2))
