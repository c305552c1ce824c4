"""Where stamps go on a page: beside what is there, never over it, and a bounded search."""

from __future__ import annotations

import pytest

from signing_service import appearance
from signing_service.appearance import STAMP_SIZE, free_stamp_boxes

A4 = (0.0, 0.0, 595.0, 842.0)
A4_LANDSCAPE = (0.0, 0.0, 842.0, 595.0)


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_stamps_never_overlap_each_other_or_what_the_page_holds() -> None:
    taken = [(300.0, 30.0, 560.0, 125.0), (40.0, 700.0, 200.0, 760.0)]  # a stamp, a link
    for page in (A4, A4_LANDSCAPE):
        boxes = free_stamp_boxes(page, taken, 4)
        assert len(boxes) == 4
        for index, box in enumerate(boxes):
            assert (box[2] - box[0], box[3] - box[1]) == STAMP_SIZE
            assert page[0] <= box[0] and box[2] <= page[2] and page[1] <= box[1] <= page[3]
            assert not any(_overlap(box, other) for other in taken), box
            assert not any(_overlap(box, other) for other in boxes[index + 1 :]), boxes
    # Side by side where the page is wide enough, as on paper.
    first, second = free_stamp_boxes(A4_LANDSCAPE, [], 2)
    assert first[1] == second[1] and second[2] < first[0]


def test_a_page_with_no_room_left_still_gets_a_stamp_and_the_search_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Attack: a page the size of a wall (MediaBox 10^7 points: 10^10 candidate places) covered by
    one annotation, so that no place is free: the search gives up after a few hundred candidates
    instead of tying up the worker, and the stamp goes to the usual corner."""
    compared: list[int] = []
    overlap = appearance._overlap

    def counted(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
        compared.append(1)
        return overlap(a, b)

    monkeypatch.setattr(appearance, "_overlap", counted)
    wall = (0.0, 0.0, 1e7, 1e7)
    [box] = free_stamp_boxes(wall, [wall], 1)
    assert len(compared) <= 1000, len(compared)
    assert box == free_stamp_boxes(wall, [], 1)[0]
