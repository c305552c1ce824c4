"""wapiti's JSON report, named in the rules' vocabulary and judged by the DAST rules."""

from __future__ import annotations

from policies import evaluate_dast
from policies.dast_checks import DastObservation
from scanners.dast import wapiti_alerts

# The shape of wapiti 3.2's JSON report (``-f json``), cut to what the adapter reads.
REPORT = {
    "vulnerabilities": {
        "Reflected Cross Site Scripting": [
            {
                "method": "GET",
                "path": "/search",
                "info": "Reflected Cross Site Scripting vulnerability found via injection in q\nmore",
                "level": 2,
                "parameter": "q",
                "module": "xss",
            },
            {"method": "GET", "path": "/search", "info": "again", "parameter": "q"},
        ],
        "SQL Injection": [{"method": "GET", "path": "/item", "info": "SQLi", "parameter": "id"}],
        "Blind SQL Injection": [
            {"method": "POST", "path": "/login", "info": "blind", "parameter": "user"}
        ],
        "Content Security Policy Configuration": [{"method": "GET", "path": "/", "info": "x"}],
        "Open Redirect": [],
    },
    "anomalies": {
        "Internal Server Error": [
            {"method": "GET", "path": "/item", "info": "500", "parameter": "id"}
        ]
    },
    "infos": {"crawled_pages_nbr": 7},
}


def test_each_wapiti_category_becomes_its_rule_once_per_place() -> None:
    alerts = wapiti_alerts(REPORT)
    assert {a.category for a in alerts} == {"xss", "sqli", "server-error"}
    assert alerts[0].info.startswith("Reflected") and "\n" not in alerts[0].info
    found = evaluate_dast(DastObservation("http://a/", "wapiti", alerts))
    assert sorted((v.rule_id, v.subject) for v in found) == [
        ("DAST-001", "GET /search (q)"),  # two alerts, one place: one finding
        ("DAST-002", "GET /item (id)"),
        ("DAST-002", "POST /login (user)"),
        ("DAST-008", "GET /item (id)"),
    ]
    assert all(v.evidence.startswith("wapiti: ") for v in found)


def test_an_empty_or_partial_report_has_no_finding() -> None:
    assert wapiti_alerts({}) == []
    assert wapiti_alerts({"vulnerabilities": {"SQL Injection": None}}) == []
