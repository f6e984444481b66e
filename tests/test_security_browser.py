"""The browser side of issue 17: the CSP (no inline script or style, no violation in Chromium
on any main page of any role), no-store, HSTS and the HTTPS redirect behind a proxy, the API
docs from packages for staff only, Django admin's login page, `check --deploy` clean."""

import copy
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.test import Client, override_settings

from doctors import services as doctor_services
from tests.conftest import login, screenshot

REAL_POLICY = copy.deepcopy(settings.CONTENT_SECURITY_POLICY)  # before `page` relaxes it

# The production settings of the README's "Security" section (values are examples).
PRODUCTION_ENV = {
    "DEBUG": "0",
    "SECRET_KEY": "x8Vq2-example-only-5mKp9wLr3TzYb7Nc1HdFg6JsQe4UaXo0RiVyMk2PlWnBt",
    "FIELD_ENCRYPTION_KEY": "Y2FyZWxvb3AtZXhhbXBsZS1vbmx5LWZpZWxkLWtleTA=",
    "FIELD_HASH_KEY": "careloop-example-only-hash-key-0123456789",
    "ALLOWED_HOSTS": "crm.example-clinic.cn",
    "CSRF_TRUSTED_ORIGINS": "https://crm.example-clinic.cn",
    "SECURE_COOKIES": "1",
    "BEHIND_PROXY": "1",
    "SECURE_SSL_REDIRECT": "1",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "1",
    "SECURE_HSTS_PRELOAD": "1",
    "DATABASE_URL": "sqlite://:memory:",
}


def manage(*args, env):
    environment = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp"), **env}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )


def test_check_deploy_with_the_documented_production_settings_prints_no_warning():
    result = manage("check", "--deploy", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNINGS" not in result.stdout + result.stderr


def test_check_deploy_warns_without_them():
    # The check above can fail: without HTTPS settings Django names what is missing.
    env = {k: v for k, v in PRODUCTION_ENV.items() if not k.startswith(("SECURE_", "BEHIND"))}
    result = manage("check", "--deploy", env=env)
    assert "security.W004" in result.stderr + result.stdout  # no HSTS
    assert "security.W008" in result.stderr + result.stdout  # no HTTPS redirect


@pytest.mark.django_db
def test_behind_the_proxy_http_redirects_to_https_and_https_gets_hsts(assistant):
    with override_settings(
        SECURE_PROXY_SSL_HEADER=("HTTP_X_FORWARDED_PROTO", "https"),
        SECURE_SSL_REDIRECT=True,
        SECURE_HSTS_SECONDS=31536000,
        SECURE_HSTS_INCLUDE_SUBDOMAINS=True,
    ):
        client = Client()
        plain = client.get("/accounts/login/")
        assert plain.status_code == 301
        assert plain.url == "https://testserver/accounts/login/"
        secure = client.get("/accounts/login/", HTTP_X_FORWARDED_PROTO="https")
        assert secure.status_code == 200
        assert secure["Strict-Transport-Security"] == "max-age=31536000; includeSubDomains"


@pytest.mark.django_db
def test_pages_and_api_answers_are_not_stored_but_static_files_are_cached(client, assistant):
    client.force_login(assistant)
    for url in ("/workbench/", "/api/patients/", "/accounts/login/", "/api/dashboard/"):
        response = client.get(url)
        assert "no-store" in response["Cache-Control"], url
        assert "private" in response["Cache-Control"], url
    static = client.get("/static/css/careloop.css")
    assert static.status_code == 200 and "no-store" not in static.get("Cache-Control", "")


@pytest.mark.django_db
def test_the_csp_header_allows_no_inline_script_or_style(client, assistant):
    client.force_login(assistant)
    policy = client.get("/workbench/")["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'" and directives["object-src"] == "'none'"
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy


def test_no_template_has_inline_script_or_event_handler_attributes():
    import re

    offenders = []
    for root, dirs, files in os.walk(settings.BASE_DIR):
        dirs[:] = [d for d in dirs if d not in (".venv", "node_modules", ".git", ".run")]
        for name in files:
            if name.endswith(".html") and "templates" in root:
                text = open(os.path.join(root, name), encoding="utf-8").read()
                if re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text) or re.search(
                    r"\son[a-z]+=", text
                ):
                    offenders.append(name)
                if re.search(r"\sstyle=", text) or "<style" in text:
                    offenders.append(name)
    assert offenders == []


@pytest.mark.django_db
def test_api_docs_are_for_signed_in_staff_and_come_from_packages(client, assistant):
    assert client.get("/api/docs/").status_code == 403
    assert client.get("/api/schema/").status_code == 403
    client.force_login(assistant)
    page = client.get("/api/docs/")
    html = page.content.decode()
    assert page.status_code == 200
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower() and "https://" not in html
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and "SwaggerUIBundle" in script.content.decode()
    assert client.get("/api/schema/").status_code == 200


@pytest.mark.django_db
def test_anonymous_admin_login_page_answers_200(client):
    response = client.get("/admin/login/")
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()


# Chromium: every main page of every role, no CSP violation --------------------------------

CSP_LISTENER = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} ${e.blockedURI} ${e.sourceFile}:${e.lineNumber}`);
});
"""

PAGES = {
    "admin": [
        "/workbench/",
        "/patients/{patient}/",
        "/dashboard/",
        "/followups/queue/",
        "/followups/templates/",
        "/nurse/",
        "/operations/",
        "/content/",
        "/content/templates/",
        "/content/campaigns/",
        "/content/surveys/",
        "/content/red-lines/",
        "/content/settings/",
        "/wechat/channel-codes/",
        "/wechat/settings/",
        "/doctors/",
        "/doctors/{doctor}/",
        "/doctors/{doctor}/funnel/",
        "/doctors/calendar/",
        "/doctors/onboarding/",
        "/settings/api-tokens/",
        "/settings/security/",
        "/api/docs/",
        "/admin/",
    ],
    "doctor": ["/dashboard/", "/patients/{patient}/", "/doctors/{doctor}/funnel/"],
    "assistant": ["/workbench/", "/patients/{patient}/", "/followups/queue/", "/content/"],
    "nurse": ["/nurse/", "/workbench/"],
    "operations": ["/operations/", "/doctors/calendar/", "/doctors/onboarding/", "/content/"],
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("role", list(PAGES))
def test_no_csp_violation_on_the_main_pages_of_each_role(
    page, staff, clinic, make_patient, role, settings
):
    settings.CONTENT_SECURITY_POLICY = REAL_POLICY
    patient = make_patient(name="测试患者")
    doctor_services.doctor_profiles_sync(clinic=clinic)
    doctor = clinic.doctor_profiles.get(user=staff["doctor"])
    page.add_init_script(CSP_LISTENER)
    console = []
    page.on(
        "console",
        lambda message: "Content Security Policy" in message.text and console.append(message.text),
    )
    login(page, staff[role].username)
    page.wait_for_url(lambda url: "/accounts/" not in url)
    for template in PAGES[role]:
        url = template.format(patient=patient.pk, doctor=doctor.pk)
        response = page.goto(url)
        assert response.status == 200, url
        assert "unsafe" not in response.headers["content-security-policy"]
        page.wait_for_load_state("networkidle")
        if url == "/dashboard/":  # a chart's tooltip is drawn on hover (ECharts' richText)
            page.hover("#chart-funnel")
            page.mouse.move(0, 0)
        assert page.evaluate("window.__csp") == [], url
    assert console == []
    screenshot(page, f"csp-{role}-last-page")
    # The listener does hear a violation: an inline style attribute is refused.
    page.evaluate("document.body.setAttribute('style', 'color: red')")
    page.wait_for_function("window.__csp.length === 1")
    assert page.evaluate("window.__csp")[0].startswith("style-src-attr")


@pytest.mark.django_db(transaction=True)
def test_an_admin_enrols_the_second_factor_in_the_browser(page, clinic, settings):
    settings.CONTENT_SECURITY_POLICY = REAL_POLICY
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from crm import two_factor
    from crm.models import Role
    from tests.conftest import make_staff

    admin = make_staff(clinic, Role.ADMIN, "first-admin", enrolled=False)
    page.add_init_script(CSP_LISTENER)
    login(page, admin.username)
    page.wait_for_url("**/accounts/two-factor/**")
    assert page.locator("[data-testid=totp-qr] svg").is_visible()
    secret = page.get_by_test_id("totp-secret").inner_text()
    screenshot(page, "two-factor-enrol")
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    assert secret.replace(" ", "") == two_factor.secret_text(device).replace(" ", "")
    page.fill("#id_code", two_factor.current_code(device))
    page.click("button[type=submit]")
    codes = page.get_by_test_id("recovery-codes").locator("li")
    codes.first.wait_for()
    assert codes.count() == 10
    screenshot(page, "two-factor-recovery-codes")
    page.get_by_role("link", name="我已保存，继续").click()
    page.wait_for_url("**/workbench/")
    assert page.evaluate("window.__csp") == []
