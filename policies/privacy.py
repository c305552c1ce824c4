"""The personal-data policy (``policies/privacy.yaml``, Law 91/2025/QH15): breach deadline and data classes."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from policies.errors import PolicyFileError

PRIVACY_POLICY_FILE = Path(__file__).parent / "privacy.yaml"


class PrivacyPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    breach_notification_hours: int = Field(ge=1, le=720)
    basic_personal_fields: list[str] = Field(min_length=1)
    sensitive_personal_fields: list[str] = Field(min_length=1)
    #: Days the audit log keeps each event class before archiving it (at least a year).
    audit_retention_days: dict[
        Literal["authentication", "api_activity", "account_change", "finding"],
        Annotated[int, Field(ge=365, le=36500)],
    ]

    def breach_deadline(self, declared_at: datetime) -> datetime:
        return declared_at + timedelta(hours=self.breach_notification_hours)


def load_privacy_policy(path: Path = PRIVACY_POLICY_FILE) -> PrivacyPolicy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        return PrivacyPolicy.model_validate(raw)
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise PolicyFileError(f"{path}: cannot read YAML ({type(exc).__name__})") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(file)'}: {e['msg']}" for e in exc.errors()
        )
        raise PolicyFileError(f"{path}: {problems}") from exc


@lru_cache(maxsize=1)
def default_privacy_policy() -> PrivacyPolicy:
    return load_privacy_policy()
