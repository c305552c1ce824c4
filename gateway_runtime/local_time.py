"""Times shown to people: the province's local time (Asia/Ho_Chi_Minh), always with its zone.

Machine formats (events, exports, the API, logs) stay UTC in ISO 8601; only what a person reads on a
page, a report or a stamp goes through :func:`for_people`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

PEOPLES_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

#: Day first, as Vietnamese readers write it, then the zone the reader can check.
PEOPLES_FORMAT = "%d/%m/%Y %H:%M:%S"


def zone_label(moment: datetime) -> str:
    """``UTC+07:00`` for a moment in the local zone."""
    offset = moment.strftime("%z")
    return f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"


def local(moment: datetime) -> datetime:
    """``moment`` in the people's zone (a naive moment is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(PEOPLES_ZONE)


def for_people(moment: datetime | str | None) -> str:
    """``01/12/2026 21:03:04 (UTC+07:00)``; ``-`` for nothing; text that is no time as it is."""
    if moment is None or moment == "":
        return "-"
    if isinstance(moment, str):
        try:
            parsed = datetime.fromisoformat(moment.replace("Z", "+00:00"))
        except ValueError:
            return moment
    else:
        parsed = moment
    shown = local(parsed)
    return f"{shown.strftime(PEOPLES_FORMAT)} ({zone_label(shown)})"
