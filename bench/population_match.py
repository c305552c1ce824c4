"""Matching education records against the population database: 1.2 M citizens, 700 k records.

The province comes from the simulator's generator, written as a bulk extract (CSV) and loaded with the
bulk adapter (every row checked). The records are 700,000 of those citizens as schools would export them,
2 % perturbed: names typed without diacritics, a wrong date of birth, an ID nobody holds. Every record goes
through the linking decision. Goal (issue 3): under 60 s on this 2-core machine.

Run: ``.venv/bin/python -m bench.population_match``
"""

from __future__ import annotations

import asyncio
import random
import tempfile
import time
import unicodedata
from collections import Counter
from datetime import timedelta
from pathlib import Path

from bench import run_stopping_cleanly
from idp_config.population.registry import BulkExtract, decide
from idp_config.population.simulator import synthetic_province


def _bare(name: str) -> str:
    decomposed = unicodedata.normalize("NFD", name)
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn").replace("Đ", "D")


def main(citizens: int = 1_200_000, records: int = 700_000) -> None:
    started = time.perf_counter()
    people = list(synthetic_province(citizens))
    with tempfile.TemporaryDirectory() as folder:
        extract = Path(folder) / "extract.csv"
        with extract.open("w", encoding="utf-8") as out:
            out.write("citizen_id,full_name,date_of_birth,household_id\n")
            for p in people:
                out.write(
                    f"{p.citizen_id},{p.full_name},{p.date_of_birth.isoformat()},{p.household_id}\n"
                )
        generated = time.perf_counter() - started
        started = time.perf_counter()
        registry = BulkExtract.load(extract)
        loaded = time.perf_counter() - started
    rng = random.Random(1)  # noqa: S311 - synthetic benchmark data
    batch = []
    for p in rng.sample(people, records):
        roll = rng.random()
        name, born, cid = p.full_name, p.date_of_birth, p.citizen_id
        if roll < 0.01:
            name = _bare(name)
        elif roll < 0.015:
            born = born + timedelta(days=1)
        elif roll < 0.02:
            cid = cid[:6] + f"{(int(cid[6:]) + 500_000) % 1_000_000:06d}"
        batch.append((cid, name, born))

    async def run() -> Counter[str]:
        outcome: Counter[str] = Counter()
        for cid, name, born in batch:
            verdict = await decide(registry, cid, name, born)
            outcome[f"{verdict.decision.value}: {verdict.reason}"] += 1
        return outcome

    started = time.perf_counter()
    outcome = asyncio.run(run())
    matched = time.perf_counter() - started
    print(f"\n{citizens:,} citizens, {records:,} records\n")
    print("| step | seconds |")
    print("|---|---:|")
    print(
        f"| generate the province and write the extract (not part of the goal) | {generated:.1f} |"
    )
    print(f"| load and check the bulk extract | {loaded:.1f} |")
    print(f"| decide every record | {matched:.1f} |")
    print(f"| **load + match** | **{loaded + matched:.1f}** |")
    print()
    for reason, count in outcome.most_common():
        print(f"- {reason}: {count:,}")


if __name__ == "__main__":
    run_stopping_cleanly(main)
