"""Detection rules over the audit stream: each a small unit with its thresholds in
``policies/detection.yaml``.

A rule sees every stored event once, in order, keeps what it needs in a sliding window, and returns
alerts. An alert is itself an audit event (``audit:alert:raise``, class finding, with the rule and the
severity) and is handed to the notification hook. One alert per rule and key per window: a brute-force
attack raises one alert, not one per attempt.

Two rules watch the log's own integrity: ``unauthenticated_event`` (an entry of the stream without a
producer's valid seal was quarantined) and ``event_time_skew`` (an event's own time is far from the
time the log received it). Such an event never enters a window: an event dated 2099 cannot move a
window ahead and silence a rule, and windows and alert suppression only move forward in time.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import secrets
from collections import Counter, defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import httpx
import structlog
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from audit.errors import AuditError
from audit.events import Actor, AuditEvent, EventTag, Outcome
from audit.store import QuarantinedEntry

_log = structlog.get_logger(__name__)

Severity = Literal["critical", "high", "medium", "low"]
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "policies" / "detection.yaml"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    severity: Severity


class _Windowed(_Rule):
    threshold: int = Field(ge=1)
    window_seconds: int = Field(ge=1)


class _Hours(_Rule):
    start_hour: int = Field(ge=0, le=23)
    end_hour: int = Field(ge=0, le=23)
    timezone: str = "Asia/Ho_Chi_Minh"


class TimeSkew(_Rule):
    """How far an event's own time may be from the time it is received before it is flagged."""

    severity: Severity = "high"
    #: Ahead of the receipt time (clocks disagree by far less; beyond is a wrong or forged time).
    future_seconds: int = Field(default=300, ge=1)
    #: Behind it (a spool replayed after an outage, the Keycloak collector catching up, are late
    #: by seconds to hours).
    late_seconds: int = Field(default=86400, ge=1)


class DetectionConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    brute_force_account: _Windowed
    password_spraying: _Windowed
    signing_burst: _Windowed
    verification_failures: _Windowed
    admin_privilege_grant: _Rule
    unusual_hour_login: _Hours
    unauthenticated_event: _Rule
    event_time_skew: TimeSkew


def time_flags(events: Iterable[AuditEvent], received: datetime, skew: TimeSkew) -> dict[str, str]:
    """By event id, the receipt time of the events whose own time is far from it (flagged)."""
    earliest = received - timedelta(seconds=skew.late_seconds)
    latest = received + timedelta(seconds=skew.future_seconds)
    stamp = received.isoformat()
    return {e.event_id: stamp for e in events if not earliest <= e.time <= latest}


def load_detection_config(path: Path = DEFAULT_CONFIG) -> DetectionConfig:
    try:
        return DetectionConfig.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    except (OSError, yaml.YAMLError) as exc:
        raise AuditError(f"{path}: cannot read ({type(exc).__name__})") from exc
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise AuditError(f"{path}: {problems}") from exc


class Notifier(Protocol):
    async def notify(self, alert: AuditEvent) -> None: ...


class WebhookNotifier:
    """POSTs each alert as JSON to a URL (a chat bot, the SOC's ticketing, an SMS gateway)."""

    def __init__(self, url: str, *, http: httpx.AsyncClient | None = None) -> None:
        self._url = url
        self._http = http or httpx.AsyncClient(timeout=5)

    async def notify(self, alert: AuditEvent) -> None:
        try:
            await self._http.post(
                self._url,
                content=alert.canonical_json(),
                headers={"Content-Type": "application/json"},
            )
        except httpx.HTTPError as exc:
            # The alert is in the audit log whatever happens here; the hook is best effort.
            _log.warning("audit.alert_hook_failed", error=type(exc).__name__)


class _Window:
    """Timestamps (and optional values) per key within a sliding window."""

    def __init__(self, seconds: int) -> None:
        self.span = timedelta(seconds=seconds)
        self.items: dict[str, deque[tuple[datetime, str]]] = defaultdict(deque)

    def add(self, key: str, when: datetime, value: str = "") -> deque[tuple[datetime, str]]:
        """Add an occurrence, in time order (a slightly late one goes in its place); what is older
        than the newest occurrence by more than the window leaves it."""
        items = self.items[key]
        if not items or when >= items[-1][0]:
            items.append((when, value))
        else:
            items.insert(bisect.bisect_right([t for t, _ in items], when), (when, value))
        newest = items[-1][0]
        while items and newest - items[0][0] > self.span:
            items.popleft()
        return items


class Detector:
    def __init__(self, config: DetectionConfig, *, alert_key: bytes | None = None) -> None:
        """``alert_key``: the secret that names alerts (the service derives it from its own seal
        key, so that an alert raised again after a restart keeps its id). Alert ids must not be
        foreseeable by a producer: one that stored an event under the id of an alert still to come
        had that alert dropped as a duplicate. Without it, a random key of this process."""
        self.config = config
        self._alert_key = alert_key or secrets.token_bytes(32)
        self._windows = {
            name: _Window(getattr(config, name).window_seconds)
            for name in (
                "brute_force_account",
                "password_spraying",
                "signing_burst",
                "verification_failures",
            )
        }
        self._last_alert: dict[tuple[str, str], datetime] = {}
        #: Suppression of the integrity rules, by receipt time (event times are not trusted there).
        self._last_integrity_alert: dict[tuple[str, str], datetime] = {}

    def _alert_id(self, name: str) -> str:
        return hmac.new(self._alert_key, name.encode(), hashlib.sha256).hexdigest()[:32]

    def _alert(
        self,
        rule: str,
        key: str,
        event: AuditEvent,
        severity: str,
        summary: str,
        suppress_for: timedelta,
    ) -> AuditEvent | None:
        last = self._last_alert.get((rule, key))
        if last is not None and event.time - last < suppress_for:
            return None
        self._last_alert[(rule, key)] = max(event.time, last) if last is not None else event.time
        return AuditEvent(
            event_id=self._alert_id(f"alert:{rule}:{key}:{event.event_id}"),
            tag=EventTag.AUDIT_ALERT_RAISE,
            event_class=EventTag.AUDIT_ALERT_RAISE.event_class,
            time=event.time,
            service="audit",
            actor=event.actor,
            source_ip=event.source_ip,
            target={
                "rule": rule,
                "severity": severity,
                "key": key[:120],
                "summary": summary,
                "trigger_event": event.event_id,
            },
            outcome=Outcome.FAILURE,
            correlation_id=event.correlation_id,
            unit=event.unit,
        )

    def observe(
        self, events: Iterable[AuditEvent], *, flagged: Mapping[str, str] | None = None
    ) -> list[AuditEvent]:
        """Alerts raised by ``events``. ``flagged``: by event id, the receipt time of the events
        whose own time is far from it; those raise ``event_time_skew`` and enter no rule."""
        alerts: list[AuditEvent] = []
        skewed = flagged or {}
        for event in events:
            if event.event_id in skewed:
                alert = self._skew_alert(event, skewed[event.event_id])
                if alert is not None:
                    alerts.append(alert)
                continue
            if event.tag is EventTag.AUDIT_ALERT_RAISE:
                continue
            for alert in self._rules(event):
                if alert is not None:
                    alerts.append(alert)
        return alerts

    def _skew_alert(self, event: AuditEvent, received_at: str) -> AuditEvent | None:
        """One alert per service and direction per hour (of receipt): the flagged record itself
        names the others."""
        received = datetime.fromisoformat(received_at)
        direction = "future" if event.time > received else "late"
        key = f"{event.service}:{direction}"
        last = self._last_integrity_alert.get(("event_time_skew", key))
        if last is not None and received - last < timedelta(hours=1):
            return None
        self._last_integrity_alert[("event_time_skew", key)] = received
        rule = self.config.event_time_skew
        return AuditEvent(
            event_id=self._alert_id(f"alert:event_time_skew:{event.event_id}"),
            tag=EventTag.AUDIT_ALERT_RAISE,
            event_class=EventTag.AUDIT_ALERT_RAISE.event_class,
            time=received,
            service="audit",
            actor=event.actor,
            source_ip=event.source_ip,
            target={
                "rule": "event_time_skew",
                "severity": rule.severity,
                "key": key[:120],
                "summary": f"event dated {event.time.isoformat()} received {received_at}"[:200],
                "trigger_event": event.event_id,
            },
            outcome=Outcome.FAILURE,
            correlation_id=event.correlation_id,
            unit=event.unit,
        )

    def quarantined(self, entries: Sequence[QuarantinedEntry]) -> list[AuditEvent]:
        """Alerts for stream entries refused at ingest: one per claimed producer and reason per
        minute, counting the entries of the batch (the quarantine keeps each of them)."""
        groups = Counter((e.producer or "-", e.reason) for e in entries)
        first: dict[tuple[str, str], QuarantinedEntry] = {}
        for entry in entries:
            first.setdefault((entry.producer or "-", entry.reason), entry)
        alerts: list[AuditEvent] = []
        rule = self.config.unauthenticated_event
        for (producer, reason), count in groups.items():
            entry = first[(producer, reason)]
            received = datetime.fromisoformat(entry.received_at)
            key = f"{producer}:{reason}"
            last = self._last_integrity_alert.get(("unauthenticated_event", key))
            if last is not None and received - last < timedelta(minutes=1):
                continue
            self._last_integrity_alert[("unauthenticated_event", key)] = received
            alerts.append(
                self._ingest_alert(
                    "unauthenticated_event",
                    entry.entry_id,
                    received,
                    severity=rule.severity,
                    key=key[:120],
                    summary=f"{count} stream entries quarantined ({reason})",
                    claimed_producer=producer,
                    reason=reason,
                    quarantine_entry=entry.entry_id,
                )
            )
        return alerts

    def stream_tampered(self, what: str, summary: str, received: datetime) -> AuditEvent | None:
        """An alert that the stream itself was tampered with (``what``: the kind of tampering and
        what identifies this instance of it), once per ``what``."""
        key = ("stream_tampered", what)
        if key in self._last_integrity_alert:
            return None
        self._last_integrity_alert[key] = received
        return self._ingest_alert(
            "stream_tampered",
            what,
            received,
            severity=self.config.unauthenticated_event.severity,
            key=what[:120],
            summary=summary[:300],
        )

    def _ingest_alert(
        self, rule: str, name: str, received: datetime, *, severity: str, **target: str
    ) -> AuditEvent:
        """An alert about the stream's entries rather than an event's content: raised by the
        ingest, at the time it received them (event times are not trusted there)."""
        return AuditEvent(
            event_id=self._alert_id(f"alert:{rule}:{name}"),
            tag=EventTag.AUDIT_ALERT_RAISE,
            event_class=EventTag.AUDIT_ALERT_RAISE.event_class,
            time=received,
            service="audit",
            actor=Actor(name="audit-ingest"),
            target={"rule": rule, "severity": severity, **target},
            outcome=Outcome.FAILURE,
        )

    def _rules(self, event: AuditEvent) -> Iterable[AuditEvent | None]:
        c = self.config
        if event.tag is EventTag.IDP_LOGIN_FAILURE:
            rule = c.brute_force_account
            hits = self._windows["brute_force_account"].add(event.actor.name, event.time)
            if len(hits) >= rule.threshold:
                yield self._alert(
                    "brute_force_account",
                    event.actor.name,
                    event,
                    rule.severity,
                    f"{len(hits)} failed logins in {rule.window_seconds} s",
                    timedelta(seconds=rule.window_seconds),
                )
            if event.source_ip:
                rule = c.password_spraying
                tried = self._windows["password_spraying"].add(
                    event.source_ip, event.time, event.actor.name
                )
                accounts = {name for _, name in tried}
                if len(accounts) >= rule.threshold:
                    yield self._alert(
                        "password_spraying",
                        event.source_ip,
                        event,
                        rule.severity,
                        f"{len(accounts)} accounts failed from one address",
                        timedelta(seconds=rule.window_seconds),
                    )
        elif event.tag is EventTag.IDP_LOGIN_SUCCESS:
            rule_hours = c.unusual_hour_login
            local = event.time.astimezone(ZoneInfo(rule_hours.timezone))
            start, end = rule_hours.start_hour, rule_hours.end_hour
            late = (
                local.hour >= start or local.hour < end
                if start > end
                else start <= local.hour < end
            )
            if late:
                yield self._alert(
                    "unusual_hour_login",
                    event.actor.name,
                    event,
                    rule_hours.severity,
                    f"login at {local:%H:%M} local time",
                    timedelta(hours=1),
                )
        elif event.tag is EventTag.SIGNING_DOCUMENT_SIGN:
            rule = c.signing_burst
            hits = self._windows["signing_burst"].add(event.actor.name, event.time)
            if len(hits) >= rule.threshold:
                yield self._alert(
                    "signing_burst",
                    event.actor.name,
                    event,
                    rule.severity,
                    f"{len(hits)} signatures in {rule.window_seconds} s",
                    timedelta(seconds=rule.window_seconds),
                )
        elif event.tag is EventTag.SIGNING_DOCUMENT_VERIFY:
            if event.target.get("indication") == "TOTAL_FAILED":
                rule = c.verification_failures
                document = event.target.get("document_sha256", "")
                hits = self._windows["verification_failures"].add(document, event.time)
                if len(hits) >= rule.threshold:
                    yield self._alert(
                        "verification_failures",
                        document,
                        event,
                        rule.severity,
                        f"{len(hits)} failed verifications of one document",
                        timedelta(seconds=rule.window_seconds),
                    )
        elif event.tag is EventTag.IDP_ADMIN_CHANGE and (
            event.target.get("resource_type", "").endswith("ROLE_MAPPING")
            and event.target.get("operation") == "CREATE"
        ):
            yield self._alert(
                "admin_privilege_grant",
                event.target.get("resource_path", ""),
                event,
                c.admin_privilege_grant.severity,
                "role granted through the admin API",
                timedelta(0),
            )
