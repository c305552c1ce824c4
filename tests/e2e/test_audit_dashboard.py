"""A security officer reads the audit log in a real browser, behind the SSO.

Headless Chromium logs in through Keycloak's page as the demo security officer, sees the charts, finds the
verification events of a document and its timeline, closes the alert that three failed verifications of
that document raised (the triage itself is audited), downloads the CSV export (a user agent crafted as a
spreadsheet formula comes out inert) and opens the day's report. A teacher is turned away.
"""

from __future__ import annotations

import base64
import contextlib
import csv
import hashlib
import io
import secrets
import time
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page
from playwright.sync_api import Error as PlaywrightError

from devstack import Stack, StackInfo
from devstack.demo import transcript_pdf
from tests.conftest import TokenFactory
from tests.pdf_inspection import replace_page_text
from tests.second_factor import answer_in_browser

pytestmark = [pytest.mark.keycloak, pytest.mark.softhsm, pytest.mark.pki, pytest.mark.redis]

FORMULA = '=HYPERLINK("http://attacker.example/","click")'


def _login(page: Page, stack: Stack, username: str) -> None:
    """Log in to the dashboard: password, then the second factor it requires (minimum ACR 2)."""
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard")
    page.fill("#username", username)
    page.fill("#password", stack.user_password(username))
    page.click("#kc-login")
    answer_in_browser(page, username)
    # Back on the dashboard: the authenticator's set-up page has a <main> too, and a wait for one
    # matched it before Keycloak's answer arrived (CI rehearsal, 2026-12-04).
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/**", timeout=30_000)


def _audit_events(stack_info: StackInfo, token: str, tag: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = httpx.get(
        f"{stack_info.audit_url}/v1/events",
        params={"tag": tag, "limit": "1000"},
        headers={"Authorization": f"Bearer {token}"},
        timeout=10,
    ).json()["events"]
    return events


def _until(check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.3)
    raise AssertionError("condition not reached in time")


def _at_least(count: int, read: Any, timeout: float = 30) -> list[dict[str, Any]]:
    """What ``read()`` returns once it holds ``count`` items or more."""
    found: list[dict[str, Any]] = _until(
        lambda: items if len(items := read()) >= count else None, timeout
    )
    return found


def test_security_officer_reads_triages_and_exports(
    browser: Browser,
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    demo_pdf: bytes,
) -> None:
    # A signed transcript whose grade is then changed, and checked three times: an alert.
    app = client_token("demo-eoffice")
    signed = httpx.post(
        f"{stack_info.signing_url}/v1/documents:sign",
        content=demo_pdf,
        headers={"Authorization": f"Bearer {app}", "content-type": "application/pdf"},
        timeout=60,
    ).content
    altered = replace_page_text(signed, b"10A1", b"10A9")
    altered_sha = hashlib.sha256(altered).hexdigest()
    portal = client_token("demo-verify-portal")
    for _ in range(3):
        report = httpx.post(
            f"{stack_info.signing_url}/v1/documents:verify",
            content=altered,
            headers={
                "Authorization": f"Bearer {portal}",
                "content-type": "application/pdf",
                "user-agent": FORMULA,
            },
            timeout=60,
        ).json()
        assert report["indication"] == "TOTAL_FAILED"
    reader = client_token("audit-reports")
    alert = _until(
        lambda: [
            a
            for a in _audit_events(stack_info, reader, "audit:alert:raise")
            if a["target"].get("key") == altered_sha
        ]
    )[0]

    page = browser.new_context(locale="vi-VN", accept_downloads=True).new_page()
    _login(page, stack, "demo.antt")
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/dashboard")
    assert page.locator("svg#chart-logins").count() == 1
    assert page.locator("svg#chart-signatures rect").count() > 0
    assert "Vũ Đức Quang" in page.inner_text("header")

    # Search: the failed verifications of the altered document, then its timeline.
    page.goto(
        f"http://localhost:{stack.ports.audit}/dashboard/events?tag=signing:document:verify&outcome=success&text={altered_sha}"
    )
    rows = page.locator("#events tr")
    assert rows.count() == 1 + 3
    # A verification whose verdict is TOTAL_FAILED reads "không hợp lệ" (in red), not "success".
    assert page.locator("#events td.failure", has_text="không hợp lệ").count() == 3
    page.locator("#events a", has_text="lịch sử tài liệu").first.click()
    timeline = page.inner_text("#timeline")
    assert timeline.count("Xác minh chữ ký") == 3

    # Triage: a changed transcript holds personal data: declare a breach (Law 91/2025, 72 hours) ...
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/alerts")
    card = page.locator(f"#alert-{alert['event_id']}")
    card.locator("select[name=action]").select_option("declare-breach")
    card.locator("input[name=note]").fill("Học bạ có dữ liệu cá nhân bị sửa.")
    with page.expect_navigation():  # the POST answers 303 back to the list: wait for it
        card.locator("button").click()

    def breach_declared() -> bool:
        page.reload()
        line = page.locator(f"#alert-{alert['event_id']} .breach")
        return line.count() == 1 and "còn 7" in line.inner_text()

    _until(breach_declared)
    # ... then close the alert with a note; each decision is itself an audit event.
    card = page.locator(f"#alert-{alert['event_id']}")
    card.locator("select[name=action]").select_option("close")
    card.locator("input[name=note]").fill("Đã xác minh: học bạ bị sửa sau khi ký, báo trường.")
    with page.expect_navigation():  # the POST answers 303 back to the list: wait for it
        card.locator("button").click()

    def closed() -> bool:
        page.reload()
        return "đã đóng" in page.locator(f"#alert-{alert['event_id']} .status").inner_text()

    _until(closed)
    triage = _until(
        lambda: [
            t
            for t in _audit_events(stack_info, reader, "audit:alert:triage")
            if t["target"]["alert_id"] == alert["event_id"]
        ]
    )
    assert triage[0]["actor"]["name"] == "demo.antt" and triage[0]["target"]["action"] == "close"
    assert any(t["target"]["action"] == "declare-breach" for t in triage)

    # Export: the crafted user agent is neutralised in the CSV.
    page.goto(
        f"http://localhost:{stack.ports.audit}/dashboard/events?tag=signing:document:verify&text={altered_sha}"
    )
    with page.expect_download() as download:
        page.click("#export-csv")
    content = download.value.path().read_bytes().decode("utf-8-sig")
    rows_csv = list(csv.DictReader(io.StringIO(content)))
    assert len(rows_csv) == 3
    assert all(r["user_agent"] == "'" + FORMULA for r in rows_csv)

    # The day's report counts what happened.
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/report?period=day")
    assert "Xác minh chữ ký" in page.inner_text("#report-tags")
    # ... and the PDF of the report comes sealed by the signing service.
    with page.expect_download() as pdf_download:
        page.click("#report-pdf")
    report_pdf = pdf_download.value.path().read_bytes()
    assert _indication(stack_info, portal, report_pdf) == "TOTAL_PASSED"
    from pdfminer.high_level import extract_text

    assert "Báo cáo nhật ký kiểm toán" in extract_text(io.BytesIO(report_pdf))

    # Compliance: two scans of every registered system, then the view per system with its trend.
    import subprocess
    import sys

    from idp_config import admin_client

    # A principal of one school, with a password only: an account finding of that school.
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    principal = admin.create_user(
        {
            "username": "ht.e2e",
            "enabled": True,
            "firstName": "Hiệu",
            "lastName": "Trưởng",
            "attributes": {"unit_code": ["79760101"]},
        },
        exist_ok=True,
    )
    admin.assign_realm_roles(principal, [admin.get_realm_role("principal")])
    for _ in range(2):
        subprocess.run(
            [
                sys.executable,
                *("-m", "scanners.cli", "run", "--stack", str(stack.folder)),
                *("--dast-seconds", "0"),  # the dynamic scan is test_scan_command's and test_dast's
            ],
            capture_output=True,
            timeout=300,
            check=False,
        )

    def scanned() -> bool:
        page.goto(f"http://localhost:{stack.ports.audit}/dashboard/compliance")
        return "keycloak:education" in page.inner_text("#compliance")

    _until(scanned)
    assert page.locator("svg[id^=chart-trend]").count() >= 1
    assert "79760101" in page.inner_text("#compliance-units")  # per school
    # The compliance report: each finding with its remediation, then the same as a sealed PDF.
    page.click("#compliance-report")
    report_text = page.inner_text("main")
    assert "IDP-008" in report_text and "ht.e2e" in report_text
    assert "Yêu cầu người dùng đăng ký OTP" in report_text  # the rule's remediation
    # The realm's accepted exceptions: shown as accepted, with the realm file's reason.
    accepted = page.inner_text("table.accepted")
    assert "client account-console" in accepted and "IDP-001" in accepted
    assert "PKCE S256 is required" in accepted
    with page.expect_download() as compliance_download:
        page.click("text=Tải PDF có chữ ký số")
    compliance_pdf = compliance_download.value.path().read_bytes()
    assert _indication(stack_info, portal, compliance_pdf) == "TOTAL_PASSED"
    pdf_text = extract_text(io.BytesIO(compliance_pdf))
    assert "Báo cáo tuân thủ an toàn thông tin" in pdf_text and "79760101" in pdf_text
    assert "accepted" in pdf_text and "account-console" in pdf_text
    admin.delete_user(principal)
    page.context.close()


def test_a_teacher_cannot_open_the_dashboard(browser: Browser, stack: Stack) -> None:
    page = browser.new_context().new_page()
    _login(page, stack, "demo.giaovien")
    page.wait_for_selector("main")
    assert "Chỉ cán bộ an toàn thông tin" in page.inner_text("main")
    # With the SSO session still open, the next attempt logs in silently and is refused again.
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/events")
    assert "Chỉ cán bộ an toàn thông tin" in page.inner_text("main")
    # ... in English when chosen, and with a way out (the logout) either way.
    page.click("#language")
    assert "Only security officers may read the audit log." in page.inner_text("main")
    assert page.locator("main a[href='/dashboard/logout']").count() == 1
    assert page.locator("#events").count() == 0
    # Without a dashboard session, a triage POST changes nothing: it is sent to the login.
    answer = httpx.post(
        f"http://localhost:{stack.ports.audit}/dashboard/alerts/{'0' * 32}/triage",
        data={"csrf": "x", "action": "close", "note": "n"},
        timeout=10,
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/login"
    page.context.close()


def test_one_login_serves_two_systems_and_privileged_work_steps_up(
    browser: Browser, stack: Stack, stack_info: StackInfo
) -> None:
    """SSO: the second education system gets its code without any prompt; the audit dashboard
    (minimum ACR 2) asks the same session for the second factor only, never the password again."""
    context = browser.new_context()
    page = context.new_page()
    page.route("http://localhost:8765/**", lambda route: route.fulfill(status=200, body="app"))

    def authorize(client_id: str, port: int) -> None:
        # Every client that logs people in must send PKCE (S256): the realm requires it.
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
        page.goto(
            f"{stack_info.issuer}/protocol/openid-connect/auth?client_id={client_id}"
            f"&response_type=code&scope=openid&redirect_uri=http://localhost:{port}/callback"
            f"&code_challenge={challenge.rstrip(b'=').decode()}&code_challenge_method=S256"
        )

    authorize("demo-sign-app", 8765)
    page.fill("#username", "demo.antt")
    page.fill("#password", stack.user_password("demo.antt"))
    page.click("#kc-login")
    page.wait_for_url("http://localhost:8765/callback**")
    # The second system: Keycloak answers at once with a redirect carrying a code (nothing listens
    # on the demo app's port, so the browser stops there; the redirect is what counts).
    requests: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    with contextlib.suppress(PlaywrightError):
        authorize("demo-gradebook", 8766)
    assert any(u.startswith("http://localhost:8766/callback?") and "code=" in u for u in requests)
    assert not any("login-actions/authenticate" in u for u in requests)

    page = context.new_page()  # the same browser session (cookies), a fresh tab
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard")
    page.wait_for_selector("#otp, #mode-manual")
    assert page.locator("#password").count() == 0
    answer_in_browser(page, "demo.antt")
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/dashboard")
    assert "Vũ Đức Quang" in page.inner_text("header")
    context.close()


def _indication(stack_info: StackInfo, token: str, pdf: bytes) -> str:
    """The signing service's verdict on ``pdf`` (``TOTAL_PASSED`` for a good seal)."""
    report = httpx.post(
        f"{stack_info.signing_url}/v1/documents:verify",
        content=pdf,
        headers={"Authorization": f"Bearer {token}", "content-type": "application/pdf"},
        timeout=60,
    ).json()
    return str(report["indication"])


def test_a_district_officer_sees_the_district_only(
    browser: Browser,
    stack: Stack,
    stack_info: StackInfo,
    client_token: TokenFactory,
    person_token: Any,
) -> None:
    """demo.antt.q1 (unit phong-760) sees the events of district 760 and its schools: a teacher's
    login there (unit read from Keycloak by the collector), an account issued there; not an account
    of district 769, not a service's signature, which belong to no district."""
    import asyncio
    import concurrent.futures

    from audit import Actor, AuditEvent, EventTag, Outcome
    from audit.producers import Producer

    marker = hashlib.sha256(str(time.time()).encode()).hexdigest()[:12]

    async def issue(unit: str, username: str) -> None:
        settings = stack.trail_settings(Producer.ACCOUNTS, stack_info.redis_url)
        client = settings.client()
        try:
            await settings.trail(client, Producer.ACCOUNTS).record(
                AuditEvent.build(
                    tag=EventTag.IDP_ACCOUNT_ISSUE,
                    service="idp-config",
                    actor=Actor(name="account-issuing"),
                    outcome=Outcome.SUCCESS,
                    target={"username": username, "change": "create", "marker": marker},
                    unit=unit,
                )
            )
        finally:
            await client.aclose()

    # Playwright's sync API owns this thread's event loop: the producer runs in another thread.
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, issue("79760102", f"q1.{marker}")).result()
        pool.submit(asyncio.run, issue("79769201", f"thuduc.{marker}")).result()
    person_token("demo.giaovien")  # a login of a teacher of school 79760101 (district 760)
    sealed = httpx.post(  # a service's signature: the department's, in no district
        f"{stack_info.signing_url}/v1/documents:sign",
        content=transcript_pdf([f"THONG BAO {marker}"]),
        headers={
            "Authorization": f"Bearer {client_token('demo-eoffice')}",
            "Content-Type": "application/pdf",
        },
        timeout=60,
    )
    assert sealed.status_code == 200, sealed.text
    reader = client_token("audit-reports")
    _until(
        lambda: (
            any(
                e["actor"]["name"] == "demo.giaovien" and e.get("unit") == "79760101"
                for e in _audit_events(stack_info, reader, "idp:login:success")
            )
            and len(
                [
                    e
                    for e in _audit_events(stack_info, reader, "idp:account:issue")
                    if e["target"].get("marker") == marker
                ]
            )
            == 2
        ),
        timeout=60,
    )

    page = browser.new_context(locale="vi-VN", accept_downloads=True).new_page()
    _login(page, stack, "demo.antt.q1")
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/dashboard")
    assert "Phòng GD&ĐT Quận 1" in page.inner_text("#scope")
    base = f"http://localhost:{stack.ports.audit}/dashboard/events"
    page.goto(f"{base}?text={marker}")
    shown = page.inner_text("#events")
    assert f"q1.{marker}" in shown and f"thuduc.{marker}" not in shown
    page.goto(f"{base}?tag=idp:login:success&actor=demo.giaovien")
    assert "demo.giaovien" in page.inner_text("#events")
    # Services' signatures are the department's (a person's carry their unit, and may be shown).
    page.goto(f"{base}?tag=signing:document:sign&actor=client:demo-eoffice")
    assert "Không có sự kiện" in page.inner_text("#events")
    with page.expect_download() as download:
        page.goto(f"{base}?text={marker}")
        page.click("#export-csv")
    exported = download.value.path().read_text(encoding="utf-8-sig")
    assert f"q1.{marker}" in exported and f"thuduc.{marker}" not in exported
    page.context.close()

    # The department's officer sees both districts.
    page = browser.new_context(locale="vi-VN").new_page()
    _login(page, stack, "demo.antt")
    page.goto(f"{base}?text={marker}")
    shown = page.inner_text("#events")
    assert f"q1.{marker}" in shown and f"thuduc.{marker}" in shown
    page.context.close()


DASHBOARD_PAGES = (
    "/dashboard",
    "/dashboard/events",
    "/dashboard/alerts",
    "/dashboard/report",
    "/dashboard/compliance",
    "/dashboard/compliance/report",
    "/dashboard/timeline?actor=demo.antt",
)


def test_alerts_are_grouped_and_filtered_in_either_language(
    browser: Browser, stack: Stack, stack_info: StackInfo, client_token: TokenFactory
) -> None:
    from idp_config import admin_client

    # The same role granted to one account three times: three alerts about one subject.
    admin = admin_client(stack_info.keycloak_url, "admin", stack.secrets.get("keycloak:admin"))
    admin.change_current_realm("education")
    user_id = admin.create_user(
        {
            "username": f"grant.{secrets.token_hex(4)}",
            "enabled": True,
            "firstName": "A",
            "lastName": "B",
        }
    )
    role = admin.get_realm_role("teacher")
    for _ in range(3):
        admin.assign_realm_roles(user_id, [role])
        admin.delete_realm_roles_of_user(user_id, [role])
    reader = client_token("audit-reports")
    grants = _at_least(
        3,
        lambda: [
            a
            for a in _audit_events(stack_info, reader, "audit:alert:raise")
            if user_id in a["target"].get("key", "")
        ],
        timeout=60,
    )
    subject = grants[0]["target"]["key"]

    context = browser.new_context(locale="vi-VN")
    page = context.new_page()
    _login(page, stack, "demo.antt")
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/dashboard")
    base = f"http://localhost:{stack.ports.audit}/dashboard/alerts"
    page.goto(f"{base}?rule=admin_privilege_grant&subject={user_id}")
    groups = page.locator("section.group")
    assert groups.count() == 1
    group = groups.first
    assert group.get_attribute("data-count") == "3"
    assert "Cấp quyền qua API quản trị" in group.inner_text()
    assert "Trung bình" in group.locator(".badge").inner_text()
    assert subject in group.locator(".subject").inner_text()
    # Filters narrow it away...
    page.goto(f"{base}?rule=admin_privilege_grant&subject={user_id}&severity=low")
    assert page.locator("section.group").count() == 0
    page.goto(f"{base}?subject={user_id}&state=closed")
    assert page.locator("section.group").count() == 0
    # ... and one decision for the group is recorded for each of its alerts.
    page.goto(f"{base}?subject={user_id}")
    group = page.locator("section.group").first
    group.locator(".group-triage select[name=action]").select_option("acknowledge")
    group.locator(".group-triage input[name=note]").fill("Đã kiểm tra với Phòng Tổ chức.")
    with page.expect_navigation():
        group.locator(".group-triage button").click()
    triaged = _at_least(
        3,
        lambda: [
            t
            for t in _audit_events(stack_info, reader, "audit:alert:triage")
            if t["target"]["alert_id"] in {g["event_id"] for g in grants}
        ],
    )
    assert {t["target"]["action"] for t in triaged} == {"acknowledge"}
    page.goto(f"{base}?subject={user_id}&state=open")
    assert page.locator("section.group").first.get_attribute("data-count") == "3"
    assert "3 đang xử lý" in page.locator("section.group").first.inner_text()

    # English by choice, remembered from page to page, then Vietnamese again.
    page.click("#language")
    page.wait_for_selector("h1:text('Alerts')")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Role granted by an administrator" in page.locator("section.group").first.inner_text()
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/events")
    assert page.locator("h1").inner_text() == "Events"
    assert " / " not in page.locator("form.filters").inner_text()  # one language, not both
    page.click("#language")
    page.wait_for_selector("h1:text('Sự kiện')")
    assert page.locator("html").get_attribute("lang") == "vi"
    admin.delete_user(user_id)
    context.close()


@pytest.mark.parametrize(("width", "height"), [(1280, 900), (390, 844)], ids=["desktop", "phone"])
def test_every_dashboard_page_is_accessible_and_fits_the_screen(
    browser: Browser, stack: Stack, width: int, height: int
) -> None:
    """axe-core finds no serious or critical violation; on a phone nothing is wider than the
    screen (tables scroll inside their box)."""
    from tests.accessibility import serious_violations
    from tests.screenshots import assert_looks_like

    context = browser.new_context(locale="vi-VN", viewport={"width": width, "height": height})
    page = context.new_page()
    _login(page, stack, "demo.antt")
    page.wait_for_url(f"http://localhost:{stack.ports.audit}/dashboard")
    problems: dict[str, list[str]] = {}
    for path in DASHBOARD_PAGES:
        page.goto(f"http://localhost:{stack.ports.audit}{path}")
        found = serious_violations(page)
        wide = page.evaluate("document.scrollingElement.scrollWidth")
        if wide > width:
            found.append(f"page is {wide} px wide on a {width} px screen")
        if found:
            problems[path] = found
    # Kept screenshots of what does not change from run to run: the alerts page's filters over
    # no match (the selects, sized by their options, painted over) and the logged-out page.
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/alerts?subject=khong-co-doi-tuong")
    assert_looks_like(
        page,
        f"dashboard-alerts-{width}",
        # Drawn by Chromium in its own UI language: painted over.
        mask=[page.locator("select"), page.locator("input[type=date]")],
    )
    page.goto(f"http://localhost:{stack.ports.audit}/dashboard/logout")
    if found := serious_violations(page):
        problems["/dashboard/logout"] = found
    assert_looks_like(page, f"dashboard-logout-{width}")
    assert problems == {}
    context.close()
