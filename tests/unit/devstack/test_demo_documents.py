"""The demo documents say what they say: Vietnamese with every diacritic, extractable."""

from __future__ import annotations

from io import BytesIO
from pathlib import Path

from pdfminer.high_level import extract_text
from pyhanko.pdf_utils.reader import PdfFileReader

from devstack.demo import seed_documents, transcript_pdf


def _page_fonts(pdf: bytes) -> list[tuple[str, bool]]:
    reader = PdfFileReader(BytesIO(pdf))
    found = []
    for font in reader.root["/Pages"]["/Kids"][0]["/Resources"]["/Font"].values():
        font = font.get_object()
        descendants = font.get("/DescendantFonts")
        leaf = descendants[0].get_object() if descendants else font
        descriptor = leaf.get("/FontDescriptor")
        descriptor = descriptor.get_object() if descriptor is not None else None
        found.append(
            (str(font["/BaseFont"]), descriptor is not None and "/FontFile2" in descriptor)
        )
    return found


def test_vietnamese_lines_are_shown_in_an_embedded_font_and_read_back_exactly() -> None:
    lines = ["HỌC BẠ ĐIỆN TỬ", "Nguyễn Thị Thuỳ Dương — Lớp 10A1", "ị ụ ợ ữ ỹ đ Đ ₫"]
    pdf = transcript_pdf(lines, pages=2)
    text = extract_text(BytesIO(pdf))
    for line in lines:
        assert text.count(line) == 2, (line, text)
    assert "Trang 2/2" in text and "?" not in text
    [(name, embedded)] = _page_fonts(pdf)
    assert embedded and "NotoSans" in name


def test_text_helvetica_can_show_stays_a_literal_string_in_helvetica() -> None:
    """Tests rewrite those bytes to play the "grade changed after signing" attack."""
    pdf = transcript_pdf(["Lop 10A1", "Diem (Toan): 8.5"])
    assert b"(Lop 10A1) Tj" in pdf and b"(Diem \\(Toan\\): 8.5) Tj" in pdf
    assert _page_fonts(pdf) == [("/Helvetica", False)]
    assert "Diem (Toan): 8.5" in extract_text(BytesIO(pdf))


def test_the_seeded_samples_have_their_diacritics_and_are_kept(tmp_path: Path) -> None:
    seed_documents(tmp_path)
    transcript = extract_text(BytesIO((tmp_path / "hoc-ba-mau.pdf").read_bytes()))
    assert "HỌC BẠ ĐIỆN TỬ (MẪU)" in transcript and "Hạnh kiểm: Tốt" in transcript
    letter = extract_text(BytesIO((tmp_path / "cong-van-mau.pdf").read_bytes()))
    assert "CÔNG VĂN (MẪU)" in letter
    (tmp_path / "cong-van-mau.pdf").write_bytes(b"%PDF- mine")
    seed_documents(tmp_path)
    assert (tmp_path / "cong-van-mau.pdf").read_bytes() == b"%PDF- mine"
