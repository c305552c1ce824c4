"""The population-registry adapters and the linking decision, against the simulator served over HTTP."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import unicodedata
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import pytest
import uvicorn

from idp_config.population.registry import (
    BulkExtract,
    Decision,
    HttpRegistry,
    RegistryUnavailable,
    decide,
)
from idp_config.population.simulator import create_app, synthetic_province
from tests.conftest import free_port

KEY = "simulator-test-key"
PEOPLE = list(synthetic_province(2000, seed=7))


def _serve(fail_every: int = 0) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(KEY, size=2000, seed=7, fail_every=fail_every),
            host="127.0.0.1",
            port=port,
            log_level="warning",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def simulator() -> Iterator[str]:
    yield from _serve()


@pytest.fixture(scope="module")
def flaky_simulator() -> Iterator[str]:
    yield from _serve(fail_every=2)


def _bare(name: str) -> str:
    return (
        "".join(c for c in unicodedata.normalize("NFD", name) if unicodedata.category(c) != "Mn")
        .replace("đ", "d")
        .replace("Đ", "D")
    )


def test_the_synthetic_province_is_valid_and_vietnamese() -> None:
    from idp_config.population import parse_citizen_id

    households = {p.household_id for p in PEOPLE}
    assert len({p.citizen_id for p in PEOPLE}) == len(PEOPLE)
    assert 2000 / 6 <= len(households) <= 2000 / 2 + 1
    for person in PEOPLE[:200]:
        parsed = parse_citizen_id(person.citizen_id, birth_year=person.date_of_birth.year)
        assert parsed.province_code == "079"
        assert unicodedata.is_normalized("NFC", person.full_name)
    assert any(_bare(p.full_name) != p.full_name for p in PEOPLE)  # diacritics present


def test_http_adapter_links_reviews_and_refuses(simulator: str) -> None:
    person = PEOPLE[10]

    async def run() -> list[tuple[Decision, str]]:
        registry = HttpRegistry(simulator, KEY)
        try:
            verdicts = [
                await decide(registry, person.citizen_id, person.full_name, person.date_of_birth),
                await decide(
                    registry, person.citizen_id, _bare(person.full_name), person.date_of_birth
                ),
                await decide(
                    registry,
                    person.citizen_id,
                    person.full_name,
                    person.date_of_birth + timedelta(days=1)
                    if person.date_of_birth.month < 12
                    else person.date_of_birth - timedelta(days=1),
                ),
                await decide(
                    registry, person.citizen_id[:-1], person.full_name, person.date_of_birth
                ),
            ]
            # A structurally valid ID that nobody holds.
            unknown = next(
                f"{person.citizen_id[:6]}{n:06d}"
                for n in range(1_000_000)
                if f"{person.citizen_id[:6]}{n:06d}" not in {p.citizen_id for p in PEOPLE}
            )
            verdicts.append(await decide(registry, unknown, person.full_name, person.date_of_birth))
            return [(v.decision, v.reason.en) for v in verdicts]
        finally:
            await registry.aclose()

    exact, bare, wrong_birthday, short, unknown = asyncio.run(run())
    assert exact[0] is Decision.LINK
    if _bare(person.full_name) != person.full_name:
        assert bare == (Decision.REVIEW, "name matches only without diacritics")
    assert wrong_birthday == (Decision.REVIEW, "date of birth differs from the population database")
    assert short[0] is Decision.REFUSE and "12 digits" in short[1]
    assert unknown == (Decision.REVIEW, "citizen ID not found in the population database")


def test_http_adapter_retries_503_and_fails_clearly_without_the_key(
    simulator: str, flaky_simulator: str
) -> None:
    person = PEOPLE[3]

    async def run() -> None:
        flaky = HttpRegistry(flaky_simulator, KEY, retries=3)
        try:
            for _ in range(4):  # every second request fails; each lookup still succeeds
                assert (await flaky.lookup(person.citizen_id)).citizen is not None
        finally:
            await flaky.aclose()
        wrong = HttpRegistry(simulator, "not-the-key", retries=0)
        try:
            with pytest.raises(RegistryUnavailable) as error:
                await wrong.lookup(person.citizen_id)
            assert "401" in str(error.value.detail)
            assert person.citizen_id not in str(error.value.detail)
        finally:
            await wrong.aclose()

    asyncio.run(run())


def test_bulk_extract_keeps_good_rows_and_names_bad_ones(tmp_path: Path) -> None:
    good = PEOPLE[:3]
    rows = [
        "citizen_id,full_name,date_of_birth,household_id",
        *(
            f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}"
            for p in good
        ),
        "07920300123,Nguyễn Văn A,2003-01-01,HK1",  # 11 digits
        f"{good[0].citizen_id[:4]}99{good[0].citizen_id[6:]},Trần Thị B,1999-02-30,HK2",  # impossible date
        f"{good[1].citizen_id},,1990-01-01,HK3",  # empty name
    ]
    path = tmp_path / "extract.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    extract = BulkExtract.load(path)
    assert len(extract.problems) == 3
    assert extract.problems[0].startswith("row 5: must have 12 digits")
    assert "row 6" in extract.problems[1] and "row 7" in extract.problems[2]
    found = asyncio.run(extract.lookup(good[2].citizen_id)).citizen
    assert found is not None and found.full_name == good[2].full_name

    as_json = tmp_path / "extract.json"
    as_json.write_text(
        json.dumps(
            [
                {
                    "citizen_id": p.citizen_id,
                    "full_name": p.full_name,
                    "date_of_birth": p.date_of_birth.isoformat(),
                }
                for p in good
            ],
            ensure_ascii=False,
        ),
        encoding="utf-8",
    )
    verdict = asyncio.run(
        decide(
            BulkExtract.load(as_json), good[0].citizen_id, good[0].full_name, good[0].date_of_birth
        )
    )
    assert verdict.decision is Decision.LINK
    assert date.today().year - good[0].date_of_birth.year < 100
