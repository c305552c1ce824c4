"""Security policies as code: TCVN 11930 / Decree 85, OWASP ASVS, the Personal Data Protection Law 91/2025 and the sector's own rules.

One place to change a rule: ``idp_config`` refuses to apply a realm that breaks them, and the scanners
measure live systems against the same rules. Public surface: :func:`load_rules`, :func:`evaluate_realm`,
:class:`Rule`, :class:`Violation`, :class:`PolicyViolation`.
"""

from policies.engine import (
    default_rules,
    evaluate_accounts,
    evaluate_dast,
    evaluate_gateway,
    evaluate_realm,
    evaluate_records,
    evaluate_response,
    evaluate_tls,
    load_rules,
    privileged_account_roles,
)
from policies.errors import PolicyError, PolicyFileError, PolicyViolation
from policies.models import Rule, Severity, Violation, compliance_score

__all__ = [
    "PolicyError",
    "PolicyFileError",
    "PolicyViolation",
    "Rule",
    "Severity",
    "Violation",
    "compliance_score",
    "default_rules",
    "evaluate_accounts",
    "evaluate_dast",
    "evaluate_gateway",
    "evaluate_realm",
    "evaluate_records",
    "evaluate_response",
    "evaluate_tls",
    "load_rules",
    "privileged_account_roles",
]
