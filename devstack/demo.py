"""Demo documents: small PDFs for trying the signing API (and for the tests)."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from keycloak import KeycloakAdmin
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.writer import PdfFileWriter


def _escape(text: str) -> bytes:
    raw = text.encode("latin-1", errors="replace")
    return raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def transcript_pdf(lines: list[str], *, pages: int = 1, title: str | None = None) -> bytes:
    """A plain A4 PDF with ``lines`` of Helvetica text on each of ``pages`` pages (and ``title``
    in its information dictionary)."""
    writer = PdfFileWriter()
    if title is not None:
        writer.set_info(
            generic.DictionaryObject({generic.pdf_name("/Title"): generic.TextStringObject(title)})
        )
    font = writer.add_object(
        generic.DictionaryObject(
            {
                generic.pdf_name("/Type"): generic.pdf_name("/Font"),
                generic.pdf_name("/Subtype"): generic.pdf_name("/Type1"),
                generic.pdf_name("/BaseFont"): generic.pdf_name("/Helvetica"),
                generic.pdf_name("/Encoding"): generic.pdf_name("/WinAnsiEncoding"),
            }
        )
    )
    for number in range(1, pages + 1):
        ops = [b"BT /F1 12 Tf 14 TL 72 770 Td"]
        for line in [*lines, f"Trang {number}/{pages}"]:
            ops.append(b"(" + _escape(line) + b") '")
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
        "hoc-ba-mau.pdf": ["HOC BA DIEN TU (MAU)", "Lop 10A1 - Nam hoc 2026-2027"],
        "cong-van-mau.pdf": ["CONG VAN (MAU)", "So GD&DT - Van phong"],
    }
    for name, lines in samples.items():
        path = folder / name
        if not path.exists():
            path.write_bytes(transcript_pdf(lines, pages=2))
