"""The strict reading of a hybrid update (a table whose ``/XRefStm`` names a cross-reference stream):
its stream's entries are accounted for like the table's, and nothing else is.

Attack classes: a shadow attack through ``/XRefStm`` (a stream prepared elsewhere in the file, or a
stream beside a table that no trailer names), and an object listed in two places by one update."""

from __future__ import annotations

import re
from io import BytesIO

from pyhanko.pdf_utils.reader import PdfFileReader

from devstack.demo import transcript_pdf
from signing_service.revisions import analyse_updates
from tests import pdf_attacks as attack


def _analysis(base: bytes, updated: bytes) -> tuple[bool, str | None]:
    reader = PdfFileReader(BytesIO(updated), strict=False)
    result = analyse_updates(updated, len(base), reader)
    return result.complete, result.problem


def test_an_honest_hybrid_update_is_accounted_for_with_its_stream_entries() -> None:
    base = transcript_pdf(["HOC BA"])
    updated = attack.hybrid_update(base)
    reader = PdfFileReader(BytesIO(updated), strict=False)
    analysis = analyse_updates(updated, len(base), reader)
    assert analysis.complete, analysis.problem
    (update,) = analysis.updates
    dss = int(PdfFileReader(BytesIO(base), strict=False).trailer["/Size"])
    assert update.compressed == {dss}  # listed by the /XRefStm only: judged by the full analysis


def test_an_xrefstm_naming_a_stream_outside_the_update_is_unaccounted() -> None:
    """The stream prepared before signing (in the signed bytes), named by a later update."""
    base = attack.hybrid_prepared_pdf()
    complete, problem = _analysis(base, attack.hybrid_xref_stream_update(base, with_dss=False))
    assert not complete and "names no cross-reference stream of this update" in str(problem)


def test_an_object_listed_in_two_places_by_one_update_is_unaccounted() -> None:
    base = transcript_pdf(["HOC BA"])
    complete, problem = _analysis(base, attack.hybrid_update(base, conflicting=True))
    assert not complete and "listed differently in the table and in its /XRefStm" in str(problem)


def test_a_stream_beside_a_table_that_no_trailer_names_is_unaccounted() -> None:
    base = transcript_pdf(["HOC BA"])
    updated = attack.hybrid_update(base)
    unnamed = re.sub(rb" /XRefStm \d+", b"", updated[len(base) :])
    complete, problem = _analysis(base, base + unnamed)
    assert not complete and "a cross-reference stream beside the table" in str(problem)
