"""Loading the rule files and judging a configuration against them.

Rule files are YAML under ``policies/rules/``; unknown keys, unknown checks and malformed values are
refused with an error naming the file, the rule and the field (as pyHanko's configuration does).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from policies.account_checks import ACCOUNT_CHECKS
from policies.checks import CHECKS
from policies.dast_checks import DAST_CHECKS, DastObservation
from policies.errors import PolicyFileError
from policies.gateway_checks import GATEWAY_CHECKS, GatewayObservation
from policies.models import Acceptances, Rule, RuleFile, Violation, with_acceptances
from policies.privacy_checks import RECORDS_CHECKS, RecordsObservation
from policies.tls_checks import TLS_CHECKS, TlsObservation
from policies.web_checks import WEB_CHECKS, HttpObservation

RULES_FOLDER = Path(__file__).parent / "rules"
_CHECK_NAMES: dict[str, Collection[str]] = {
    "realm": CHECKS.keys(),
    "web": WEB_CHECKS.keys(),
    "accounts": ACCOUNT_CHECKS.keys(),
    "tls": TLS_CHECKS.keys(),
    "gateway": GATEWAY_CHECKS.keys(),
    "records": RECORDS_CHECKS.keys(),
    "dast": DAST_CHECKS.keys(),
}


def load_rules(folder: Path = RULES_FOLDER) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, Path] = {}
    for path in sorted(folder.glob("*.yaml")):
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
            raise PolicyFileError(f"{path}: cannot read YAML ({type(exc).__name__})") from exc
        try:
            parsed = RuleFile.model_validate(raw)
        except ValidationError as exc:
            problems = []
            for error in exc.errors():
                location = list(error["loc"])
                if len(location) >= 2 and location[0] == "rules" and isinstance(location[1], int):
                    items = (raw or {}).get("rules") or []
                    index = location[1]
                    rule_id = (
                        items[index].get("id")
                        if index < len(items) and isinstance(items[index], dict)
                        else None
                    )
                    location[1] = rule_id or f"#{index + 1}"
                problems.append(f"{'.'.join(str(p) for p in location)}: {error['msg']}")
            raise PolicyFileError(f"{path}: {'; '.join(problems)}") from exc
        for rule in parsed.rules:
            if rule.check not in _CHECK_NAMES[rule.target]:
                raise PolicyFileError(
                    f"{path}: rules.{rule.id}.check: unknown check {rule.check!r}"
                )
            if rule.id in seen:
                raise PolicyFileError(f"{path}: rule {rule.id} is also defined in {seen[rule.id]}")
            seen[rule.id] = path
            rules.append(rule)
    return rules


@lru_cache(maxsize=1)
def default_rules() -> tuple[Rule, ...]:
    return tuple(load_rules())


def _evaluate(
    target: str,
    run: Callable[[Rule], Iterator[tuple[str, str]]],
    rules: tuple[Rule, ...] | list[Rule] | None,
) -> list[Violation]:
    """Run every rule of ``target`` (default: the shipped rules) and collect its violations."""
    return [
        Violation(
            rule_id=rule.id,
            severity=rule.severity,
            subject=subject,
            evidence=evidence,
            title=rule.title,
            remediation=rule.remediation,
        )
        for rule in (rules if rules is not None else default_rules())
        if rule.target == target
        for subject, evidence in run(rule)
    ]


def evaluate_realm(
    realm: dict[str, Any],
    clients: list[dict[str, Any]],
    rules: tuple[Rule, ...] | list[Rule] | None = None,
    *,
    accepted: Acceptances | None = None,
) -> list[Violation]:
    """Every violation of the identity rules by a realm and its clients; those the realm's files
    accept (``accepted``: reason by rule id and subject) are marked so, not left out."""
    found = _evaluate("realm", lambda rule: CHECKS[rule.check](realm, clients, rule.params), rules)
    return with_acceptances(found, accepted or {})


def evaluate_response(
    observation: HttpObservation, rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the web rules by one HTTP response of a registered system."""
    return _evaluate("web", lambda rule: WEB_CHECKS[rule.check](observation, rule.params), rules)


def evaluate_accounts(
    accounts: list[dict[str, Any]], rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the account rules; each account is ``{"username", "roles",
    "credential_types", "enabled"}`` as the account-hygiene scanner reads it from Keycloak."""
    return _evaluate(
        "accounts", lambda rule: ACCOUNT_CHECKS[rule.check](accounts, rule.params), rules
    )


def privileged_account_roles(rules: tuple[Rule, ...] | list[Rule] | None = None) -> frozenset[str]:
    """The roles the account rules call privileged (``privileged_roles``): the account scanner
    reads who holds them (directly, through groups and composite roles) for every account, and
    the other roles only of the accounts a rule judges by them."""
    return frozenset(
        str(role)
        for rule in (rules if rules is not None else default_rules())
        if rule.target == "accounts"
        for role in rule.params.get("privileged_roles", [])
    )


def evaluate_tls(
    observation: TlsObservation, rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the TLS rules by one endpoint, as sslyze measured it."""
    return _evaluate("tls", lambda rule: TLS_CHECKS[rule.check](observation, rule.params), rules)


def evaluate_gateway(
    observation: GatewayObservation, rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the rules on the gateway itself."""
    return _evaluate(
        "gateway", lambda rule: GATEWAY_CHECKS[rule.check](observation, rule.params), rules
    )


def evaluate_records(
    observation: RecordsObservation, rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the personal-data rules by the audit log and its exports."""
    return _evaluate(
        "records", lambda rule: RECORDS_CHECKS[rule.check](observation, rule.params), rules
    )


def evaluate_dast(
    observation: DastObservation, rules: tuple[Rule, ...] | list[Rule] | None = None
) -> list[Violation]:
    """Every violation of the dynamic-scan rules in what a DAST engine reported for one system."""
    return _evaluate("dast", lambda rule: DAST_CHECKS[rule.check](observation, rule.params), rules)
