"""A population-registry simulator: a synthetic province behind the HTTP contract of the adapters.

Citizens are generated deterministically from a seed (the same seed gives the same province): valid
citizen IDs (province code, century and sex digit, birth year), Vietnamese names with diacritics in
NFC, dates of birth, and households of two to six people. ``POST /v1/citizens:lookup`` answers one
citizen ID for a caller holding the API key. ``fail_every`` makes every n-th request answer 503, to
exercise the adapters' retries.

Run: ``uvicorn idp_config.population.simulator:create_app --factory`` with ``SIMULATOR_API_KEY``,
``SIMULATOR_SIZE`` (default 1,200,000) and ``SIMULATOR_SEED``.
"""

from __future__ import annotations

import hmac
import itertools
import os
import random
from collections.abc import Iterator
from datetime import date, timedelta

from fastapi import FastAPI, Header, HTTPException, Request
from pydantic import BaseModel, Field

from idp_config.population.registry import Citizen

FAMILY = [
    "Nguyễn",
    "Trần",
    "Lê",
    "Phạm",
    "Hoàng",
    "Huỳnh",
    "Phan",
    "Vũ",
    "Võ",
    "Đặng",
    "Bùi",
    "Đỗ",
    "Hồ",
    "Ngô",
    "Dương",
    "Lý",
]
MIDDLE_MALE = ["Văn", "Hữu", "Đức", "Minh", "Quốc", "Thành", "Công"]
MIDDLE_FEMALE = ["Thị", "Ngọc", "Thu", "Thanh", "Kim", "Mỹ", "Phương"]
GIVEN_MALE = ["Hùng", "Dũng", "Nam", "Tuấn", "Sơn", "Quang", "Khoa", "Long", "Phúc", "Đạt"]
GIVEN_FEMALE = ["Hoa", "Lan", "Hương", "Mai", "Linh", "Trang", "Thảo", "Ngọc", "Hằng", "Yến"]
PROVINCE = "079"  # Hồ Chí Minh City


def synthetic_province(size: int, seed: int = 2026) -> Iterator[Citizen]:
    """``size`` citizens in households; IDs are unique and structurally valid."""
    rng = random.Random(seed)  # noqa: S311 - synthetic data, reproducible by design; no secret here
    # The last six digits are a serial within each (province, century/sex, year) prefix, as issued.
    serials: dict[str, int] = {}
    made = 0
    for household in itertools.count(1):
        family = rng.choice(FAMILY)
        for _ in range(rng.randint(2, 6)):
            if made >= size:
                return
            male = rng.random() < 0.5
            born = date(1940, 1, 1) + timedelta(days=rng.randrange(0, 365 * 80))
            century = (born.year - 1900) // 100
            sex_digit = 2 * century + (0 if male else 1)
            prefix = f"{PROVINCE}{sex_digit}{born.year % 100:02d}"
            serial = serials.setdefault(prefix, rng.randrange(0, 400_000))
            serials[prefix] = serial + 1
            citizen_id = f"{prefix}{serial:06d}"
            middle = rng.choice(MIDDLE_MALE if male else MIDDLE_FEMALE)
            given = rng.choice(GIVEN_MALE if male else GIVEN_FEMALE)
            yield Citizen(citizen_id, f"{family} {middle} {given}", born, f"HK{household:07d}")
            made += 1


class Lookup(BaseModel):
    citizen_id: str = Field(pattern=r"^[0-9]{12}$")


def create_app(
    api_key: str | None = None,
    size: int | None = None,
    seed: int | None = None,
    fail_every: int = 0,
) -> FastAPI:
    key = api_key or os.environ["SIMULATOR_API_KEY"]
    citizens = {
        c.citizen_id: c
        for c in synthetic_province(
            size or int(os.environ.get("SIMULATOR_SIZE", "1200000")),
            seed if seed is not None else int(os.environ.get("SIMULATOR_SEED", "2026")),
        )
    }
    app = FastAPI(title="Population registry simulator", docs_url=None, redoc_url=None)
    app.state.citizens = citizens
    app.state.requests = 0

    @app.post("/v1/citizens:lookup")
    async def lookup(
        request: Request, body: Lookup, x_api_key: str = Header(default="")
    ) -> dict[str, str | None]:
        if not hmac.compare_digest(x_api_key.encode(), key.encode()):
            raise HTTPException(401, "API key required")
        request.app.state.requests += 1
        if fail_every and request.app.state.requests % fail_every == 0:
            raise HTTPException(503, "temporarily unavailable")
        citizen = request.app.state.citizens.get(body.citizen_id)
        if citizen is None:
            raise HTTPException(404, "no such citizen")
        return {
            "full_name": citizen.full_name,
            "date_of_birth": citizen.date_of_birth.isoformat(),
            "household_id": citizen.household_id,
        }

    return app
