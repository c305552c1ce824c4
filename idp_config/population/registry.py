"""Adapters to the population database, behind one small interface, and the linking decision.

The national database is reached through the government's data-exchange gateway, which this project
cannot call; so every adapter answers the same question — *does this citizen ID belong to this name
and date of birth?* — and :func:`decide` turns the answer into *link*, *review* or *refuse*:

- :class:`BulkExtract`: citizens from CSV/JSON files delivered under a data-sharing agreement;
- :class:`HttpRegistry`: a citizen-verification service over HTTPS, with client TLS and an API key,
  timeouts, retries with back-off on 5xx and transport errors, and a rate limit;
- ``idp_config/population/simulator.py``: a synthetic province served over the HTTP contract, for dev
  and tests.

Citizen IDs are checked structurally (:func:`parse_citizen_id`) before any adapter is asked, and never
appear in errors or logs.
"""

from __future__ import annotations

import asyncio
import csv
import json
import time
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

import httpx

from gateway_runtime.errors import GatewayError
from idp_config.population.citizen_id import InvalidCitizenId, parse_citizen_id
from idp_config.population.names import NameMatch, compare_names


class RegistryUnavailable(GatewayError):
    code = "population-registry-unavailable"
    status_code = 503
    message_vi = "Không kết nối được cơ sở dữ liệu dân cư."
    message_en = "The population database cannot be reached."


@dataclass(frozen=True)
class Citizen:
    citizen_id: str
    full_name: str
    date_of_birth: date
    household_id: str | None = None


@dataclass(frozen=True)
class Answer:
    """What the registry says about one citizen ID (``None``: no such citizen)."""

    citizen: Citizen | None


class PopulationRegistry(Protocol):
    async def lookup(self, citizen_id: str) -> Answer: ...


class Decision(StrEnum):
    LINK = "link"
    REVIEW = "review"
    REFUSE = "refuse"


@dataclass(frozen=True)
class Reason:
    """Why a record goes to review (or is linked), for the IT officer: Vietnamese first."""

    vi: str
    en: str

    def __str__(self) -> str:
        return f"{self.vi} / {self.en}"


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    reason: Reason
    household_id: str | None = None


NOT_FOUND = Reason(
    "không có số định danh này trong Cơ sở dữ liệu quốc gia về dân cư",
    "citizen ID not found in the population database",
)
BIRTH_DATE_DIFFERS = Reason(
    "ngày sinh khác Cơ sở dữ liệu quốc gia về dân cư",
    "date of birth differs from the population database",
)
EXACT_MATCH = Reason("khớp hoàn toàn", "exact match")
NAME_WITHOUT_DIACRITICS = Reason(
    "họ tên chỉ khớp khi bỏ dấu", "name matches only without diacritics"
)
NAME_DIFFERS = Reason(
    "họ tên khác Cơ sở dữ liệu quốc gia về dân cư", "name differs from the population database"
)


async def decide(
    registry: PopulationRegistry, citizen_id: str, full_name: str, date_of_birth: date
) -> Verdict:
    """Link only an exact match (NFC name and date of birth); a name equal only without diacritics
    goes to review; anything else is refused with its reason."""
    try:
        parsed = parse_citizen_id(citizen_id, birth_year=date_of_birth.year)
    except InvalidCitizenId as exc:
        return Verdict(
            Decision.REFUSE,
            Reason("số định danh cá nhân không hợp lệ", f"invalid citizen ID: {exc.detail}"),
        )
    answer = await registry.lookup(parsed.value)
    if answer.citizen is None:
        return Verdict(Decision.REVIEW, NOT_FOUND)
    citizen = answer.citizen
    if citizen.date_of_birth != date_of_birth:
        return Verdict(Decision.REVIEW, BIRTH_DATE_DIFFERS)
    match = compare_names(citizen.full_name, full_name)
    if match is NameMatch.EXACT:
        return Verdict(Decision.LINK, EXACT_MATCH, citizen.household_id)
    if match is NameMatch.WITHOUT_DIACRITICS:
        return Verdict(Decision.REVIEW, NAME_WITHOUT_DIACRITICS)
    return Verdict(Decision.REVIEW, NAME_DIFFERS)


class BulkExtract:
    """Citizens from a bulk extract (CSV with ``citizen_id,full_name,date_of_birth,household_id``,
    or a JSON list of such objects). Bad rows are reported, the others kept."""

    def __init__(self, citizens: dict[str, Citizen], problems: list[str]) -> None:
        self._citizens = citizens
        self.problems = problems

    @classmethod
    def load(cls, path: Path) -> BulkExtract:
        text = path.read_text(encoding="utf-8-sig")
        rows: list[dict[str, Any]] = (
            json.loads(text)
            if path.suffix.lower() == ".json"
            else list(csv.DictReader(text.splitlines()))
        )
        citizens: dict[str, Citizen] = {}
        problems: list[str] = []
        for number, row in enumerate(rows, start=2 if path.suffix.lower() != ".json" else 1):
            try:
                parsed = parse_citizen_id(str(row.get("citizen_id", "")))
                born = date.fromisoformat(str(row.get("date_of_birth", "")))
                name = str(row.get("full_name", "")).strip()
                if not name:
                    raise ValueError("empty full_name")
            except (InvalidCitizenId, ValueError) as exc:
                detail = exc.detail if isinstance(exc, InvalidCitizenId) else str(exc)
                problems.append(f"row {number}: {detail}")
                continue
            citizens[parsed.value] = Citizen(
                parsed.value, name, born, str(row.get("household_id") or "") or None
            )
        return cls(citizens, problems)

    async def lookup(self, citizen_id: str) -> Answer:
        return Answer(self._citizens.get(citizen_id))


class HttpRegistry:
    """A citizen-verification service: ``POST {base}/v1/citizens:lookup`` ``{"citizen_id"}``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        client_cert: tuple[Path, Path] | None = None,
        ca_file: Path | None = None,
        timeout: float = 5.0,
        retries: int = 3,
        per_second: float = 50.0,
    ) -> None:
        self._base = base_url.rstrip("/")
        self._retries = retries
        self._interval = 1.0 / per_second
        self._next_slot = 0.0
        self._slot_lock = asyncio.Lock()
        self._client = httpx.AsyncClient(
            timeout=timeout,
            headers={"x-api-key": api_key},
            cert=(str(client_cert[0]), str(client_cert[1])) if client_cert else None,
            verify=str(ca_file) if ca_file else True,
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def _throttle(self) -> None:
        async with self._slot_lock:
            now = time.monotonic()
            wait = self._next_slot - now
            self._next_slot = max(now, self._next_slot) + self._interval
        if wait > 0:
            await asyncio.sleep(wait)

    async def lookup(self, citizen_id: str) -> Answer:
        for attempt in range(self._retries + 1):
            await self._throttle()
            try:
                response = await self._client.post(
                    f"{self._base}/v1/citizens:lookup", json={"citizen_id": citizen_id}
                )
            except httpx.TransportError as exc:
                if attempt == self._retries:
                    raise RegistryUnavailable(type(exc).__name__) from exc
            else:
                if response.status_code == 404:
                    return Answer(None)
                if response.status_code == 200:
                    body = response.json()
                    return Answer(
                        Citizen(
                            citizen_id,
                            str(body["full_name"]),
                            date.fromisoformat(str(body["date_of_birth"])),
                            body.get("household_id"),
                        )
                    )
                if response.status_code < 500 and response.status_code != 429:
                    raise RegistryUnavailable(f"the registry answered HTTP {response.status_code}")
                if attempt == self._retries:
                    raise RegistryUnavailable(
                        f"HTTP {response.status_code} after {attempt + 1} tries"
                    )
            await asyncio.sleep(0.05 * 2**attempt)
        raise RegistryUnavailable("no answer")  # pragma: no cover - the loop returns or raises
