"""Which events a security officer may see: the department's see everything, a district office's see
the events of that district (the office and its schools), a school's its own.

The officer's unit is the ``unit_code`` claim of their token (the ``audit`` scope carries it); the
tree of units is the sector's schools list, the same file the realm's organisation is generated from.
An officer without a unit, or with a unit the tree does not know, sees nothing: the scope fails
closed. Events that belong to no unit (the gateway's own, service accounts') are the department's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from organisation import ROOT_CODE, Unit, load_schools


@dataclass(frozen=True)
class OfficerScope:
    """``units`` is ``None`` for the whole sector, else the unit codes the officer may see."""

    unit: str | None
    name: str
    units: frozenset[str] | None

    @property
    def whole_sector(self) -> bool:
        return self.units is None

    def allows(self, unit: str | None) -> bool:
        return self.units is None or (unit is not None and unit in self.units)


class UnitTree:
    def __init__(self, units: Iterable[Unit]) -> None:
        self._units = {unit.code: unit for unit in units}

    @classmethod
    def from_schools_file(cls, path: Path) -> UnitTree:
        return cls(load_schools(path))

    def scope_of(self, claims: Mapping[str, Any]) -> OfficerScope:
        raw = claims.get("unit_code")
        values = raw if isinstance(raw, list) else [raw] if raw else []
        codes = [str(v) for v in values if v]
        if len(codes) != 1 or codes[0] not in self._units:
            return OfficerScope(codes[0] if codes else None, "—", frozenset())
        unit = self._units[codes[0]]
        if unit.code == ROOT_CODE:
            return OfficerScope(unit.code, unit.name, None)
        below = frozenset(
            code for code, other in self._units.items() if other.path[: len(unit.path)] == unit.path
        )
        return OfficerScope(unit.code, unit.name, below)
