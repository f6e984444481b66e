"""Signing in (issue 17): lockout, unlock, the second factor, password rules, session ends."""

import time

import pytest
from django.contrib.auth.forms import SetPasswordForm
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import Client
from django.utils import translation
from django_otp.plugins.otp_static.models import StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from crm import two_factor
from crm.models import AuditAction, AuditEvent, Role
from tests.conftest import PASSWORD, make_staff, recovery_code_for

pytestmark = pytest.mark.django_db


def sign_in(client, username, password=PASSWORD, **extra):
    return client.post("/accounts/login/", {"username": username, "password": password}, **extra)


def actions(clinic):
    return list(
        AuditEvent.objects.filter(clinic=clinic)
        .order_by("created_at", "id")
        .values_list("action", flat=True)
    )


# Lockout -----------------------------------------------------------------------------------


def test_five_failures_lock_the_username_with_a_chinese_message_and_audit_rows(
    client, clinic, assistant
):
    for _ in range(4):
        assert sign_in(client, assistant.username, "wrong-password").status_code == 200
    fifth = sign_in(client, assistant.username, "wrong-password")
    assert fifth.status_code == 429
    assert "登录失败次数过多" in fifth.content.decode() and "15 分钟" in fifth.content.decode()
    # The right password does not help while locked, from another address either.
    again = sign_in(client, assistant.username, PASSWORD, REMOTE_ADDR="10.9.8.7")
    assert again.status_code == 429 and "_auth_user_id" not in client.session
    failed = AuditEvent.objects.filter(clinic=clinic, action=AuditAction.SIGN_IN_FAILED)
    assert failed.count() >= 5 and failed.first().ip_address in ("127.0.0.1", "10.9.8.7")
    lockout = AuditEvent.objects.filter(clinic=clinic, action=AuditAction.LOCKOUT).first()
    assert lockout.user == assistant and lockout.detail["failure_limit"] == 5


def test_five_failures_from_one_address_lock_that_address(client, assistant, settings):
    for n in range(5):
        sign_in(client, f"nobody-{n}", "wrong-password", REMOTE_ADDR="10.1.1.1")
    assert sign_in(client, assistant.username, REMOTE_ADDR="10.1.1.1").status_code == 429
    assert sign_in(client, assistant.username, REMOTE_ADDR="10.2.2.2").status_code == 302


def test_behind_the_proxy_the_address_is_the_forwarded_one(client, assistant, settings):
    settings.BEHIND_PROXY = True
    for n in range(5):
        sign_in(client, f"nobody-{n}", "x", HTTP_X_FORWARDED_FOR="1.2.3.4, 10.1.1.1")
    # The proxy's own address is shared by everyone: it is not locked, the client's is.
    ok = sign_in(client, assistant.username, HTTP_X_FORWARDED_FOR="10.3.3.3")
    assert ok.status_code == 302
    locked = sign_in(Client(), assistant.username, HTTP_X_FORWARDED_FOR="9.9.9.9, 10.1.1.1")
    assert locked.status_code == 429


def test_a_success_is_audited_and_resets_the_count(client, clinic, assistant):
    for _ in range(4):
        sign_in(client, assistant.username, "wrong-password")
    assert sign_in(client, assistant.username).status_code == 302
    client.post("/accounts/logout/")
    for _ in range(4):
        assert sign_in(client, assistant.username, "wrong-password").status_code == 200
    assert actions(clinic).count(AuditAction.SIGN_IN) == 1
    assert actions(clinic).count(AuditAction.SIGN_OUT) == 1


def test_an_admin_unlocks_a_member_and_it_is_audited(client, clinic, admin_user, assistant):
    for _ in range(5):
        sign_in(client, assistant.username, "wrong-password")
    admin = Client()
    admin.force_login(admin_user)
    page = admin.get("/settings/security/").content.decode()
    assert "已锁定" in page
    member = assistant.memberships.get()
    response = admin.post("/settings/security/", {"action": "unlock", "member": member.pk})
    assert response.status_code == 302
    assert "已锁定" not in admin.get("/settings/security/").content.decode()
    assert sign_in(Client(), assistant.username).status_code == 302
    unlock = AuditEvent.objects.get(action=AuditAction.UNLOCK)
    assert unlock.user == admin_user and unlock.object_id == str(assistant.pk)


def test_only_admins_open_the_security_page_and_only_for_their_clinic(
    client, staff, outsider, other_clinic
):
    client.force_login(staff["doctor"])
    assert client.get("/settings/security/").status_code == 403
    admin = Client()
    admin.force_login(staff["admin"])
    other = outsider.memberships.get()
    assert (
        admin.post("/settings/security/", {"action": "unlock", "member": other.pk}).status_code
        == 404
    )


# The second factor -------------------------------------------------------------------------


def test_an_admin_cannot_reach_any_page_or_the_api_before_the_second_factor(client, clinic):
    admin = make_staff(clinic, Role.ADMIN, "new-admin", enrolled=False)
    response = sign_in(client, admin.username)
    assert response.status_code == 302
    for url in ("/workbench/", "/patients/", "/settings/api-tokens/", "/admin/"):
        answer = client.get(url)
        assert answer.status_code == 302 and answer.url.startswith("/accounts/two-factor/"), url
    api = client.get("/api/patients/")
    assert api.status_code == 403 and api.json()["message"] == "请先完成第二重身份验证。"


def test_enrolment_at_first_sign_in_then_recovery_codes_work_once(client, clinic):
    admin = make_staff(clinic, Role.ADMIN, "new-admin", enrolled=False)
    sign_in(client, admin.username)
    page = client.get("/accounts/two-factor/").content.decode()
    assert "<svg" in page and 'data-testid="totp-qr"' in page
    device = TOTPDevice.objects.get(user=admin, confirmed=False)
    assert two_factor.secret_text(device).replace(" ", "") in page.replace(" ", "")
    wrong = client.post("/accounts/two-factor/", {"code": "000000"})
    assert "验证码不正确" in wrong.content.decode()
    device.refresh_from_db()
    assert device.throttling_failure_count == 1  # django-otp throttles guessing: let time pass
    device.throttle_reset()
    done = client.post("/accounts/two-factor/", {"code": two_factor.current_code(device)})
    codes = [t.token for t in StaticToken.objects.filter(device__user=admin)]
    assert len(codes) == 10 and all(code in done.content.decode() for code in codes)
    assert client.get("/workbench/").status_code == 200
    assert AuditEvent.objects.filter(
        action=AuditAction.SECOND_FACTOR, detail__event="enrolled"
    ).exists()

    # Next sign-in: the verify page; a recovery code works once.
    again = Client()
    sign_in(again, admin.username)
    assert again.get("/workbench/").url.startswith("/accounts/two-factor/")
    assert "恢复码" in again.get("/accounts/two-factor/").content.decode()
    response = again.post(
        "/accounts/two-factor/", {"code": codes[0].upper(), "next": "/workbench/"}
    )
    assert response.status_code == 302 and response.url == "/workbench/"
    assert again.get("/workbench/").status_code == 200
    third = Client()
    sign_in(third, admin.username)
    reused = third.post("/accounts/two-factor/", {"code": codes[0]})
    assert reused.status_code == 200 and third.get("/workbench/").status_code == 302
    assert StaticToken.objects.filter(device__user=admin).count() == 9


def test_an_app_code_signs_in_once(client, clinic):
    admin = make_staff(clinic, Role.ADMIN, "app-admin", enrolled=False)
    device = TOTPDevice.objects.create(user=admin, name="authenticator", confirmed=True)
    sign_in(client, admin.username)
    code = two_factor.current_code(device)
    assert client.post("/accounts/two-factor/", {"code": code}).status_code == 302
    replay = Client()
    sign_in(replay, admin.username)
    assert replay.post("/accounts/two-factor/", {"code": code}).status_code == 200


def test_doctors_need_the_second_factor_when_the_clinic_turns_it_on(client, staff):
    doctor = Client()
    sign_in(doctor, staff["doctor"].username)
    assert doctor.get("/dashboard/").status_code == 200
    admin = Client()
    admin.force_login(staff["admin"])
    admin.post("/settings/security/", {"action": "doctors_second_factor", "enabled": "1"})
    # The doctor's open session is asked at once; an assistant never is.
    answer = doctor.get("/dashboard/")
    assert answer.status_code == 302 and answer.url.startswith("/accounts/two-factor/")
    assistant = Client()
    sign_in(assistant, staff["assistant"].username)
    assert assistant.get("/workbench/").status_code == 200
    assert "医生登录需第二重验证" in admin.get("/settings/security/").content.decode()


def test_an_admin_resets_a_lost_second_factor(client, staff):
    admin = Client()
    admin.force_login(staff["admin"])
    doctor = staff["doctor"]
    TOTPDevice.objects.create(user=doctor, name="authenticator", confirmed=True)
    member = doctor.memberships.get()
    admin.post("/settings/security/", {"action": "reset_second_factor", "member": member.pk})
    assert not TOTPDevice.objects.filter(user=doctor).exists()


def test_the_login_helper_passes_the_second_factor_for_existing_tests(client, admin_user):
    # make_staff enrols admins; a force-logged-in admin counts as verified, as after sign-in.
    client.force_login(admin_user)
    assert client.get("/workbench/").status_code == 200
    code = recovery_code_for(admin_user.username)
    fresh = Client()
    sign_in(fresh, admin_user.username)
    assert fresh.post("/accounts/two-factor/", {"code": code}).status_code == 302


# Passwords ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "password,message",
    [
        ("Ab1-xyz", "密码太短：至少需要 10 个字符。"),
        ("longlowercaseonly", "密码须包含小写字母、大写字母、数字、符号中的至少 3 类。"),
        ("1234567890123", "密码只包含数字。"),
        ("password123", "这个密码太常见了。"),
        ("a-assistant-1X", "密码跟 用户名 太相似了。"),
    ],
)
def test_weak_passwords_are_refused_in_chinese(assistant, password, message):
    with translation.override("zh-hans"), pytest.raises(ValidationError) as refused:
        validate_password(password, assistant)
    assert message in refused.value.messages


def test_a_strong_password_passes_and_the_demo_password_too(assistant):
    validate_password(PASSWORD, assistant)
    from patients.management.commands.seed_demo import DEMO_PASSWORD

    validate_password(DEMO_PASSWORD, assistant)


def test_setting_a_password_through_a_form_applies_the_rules(assistant):
    form = SetPasswordForm(assistant, {"new_password1": "short", "new_password2": "short"})
    assert not form.is_valid()


# Sessions ----------------------------------------------------------------------------------


def age_session(client, **seconds_ago):
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = time.time() - ago
    session.save()


def test_a_session_ends_after_30_idle_minutes(client, assistant):
    client.force_login(assistant)
    age_session(client, last_seen_at=29 * 60)
    assert client.get("/workbench/").status_code == 200
    age_session(client, last_seen_at=31 * 60)
    response = client.get("/workbench/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")
    assert client.get("/workbench/").url.startswith("/accounts/login/")
    assert client.get("/api/patients/").status_code == 403
    signout = AuditEvent.objects.get(action=AuditAction.SIGN_OUT)
    assert signout.detail["reason"] == "idle"


def test_a_session_ends_12_hours_after_sign_in_whatever_the_activity(client, assistant, settings):
    assert settings.SESSION_COOKIE_AGE == 12 * 3600
    client.force_login(assistant)
    age_session(client, signed_in_at=12 * 3600 - 60, last_seen_at=60)
    assert client.get("/workbench/").status_code == 200
    age_session(client, signed_in_at=12 * 3600 + 60, last_seen_at=60)
    assert client.get("/workbench/").url.startswith("/accounts/login/")


def test_changing_the_password_ends_every_session(client, assistant):
    other = Client()
    client.force_login(assistant)
    other.force_login(assistant)
    assistant.set_password("Another-pass-456")
    assistant.save()
    assert client.get("/workbench/").url.startswith("/accounts/login/")
    assert other.get("/api/patients/").status_code == 403


# The demo ----------------------------------------------------------------------------------


def test_the_demo_admin_signs_in_with_the_documented_secret(client, settings):
    from io import StringIO

    from django.core.management import call_command

    call_command("seed_demo", patients=5, stdout=StringIO())
    device = TOTPDevice.objects.get(user__username="admin", confirmed=True)
    assert two_factor.secret_text(device).replace(" ", "") == "MNQXEZLMN5XXALLEMVWW6LLUN52HAIJB"
    settings.DEBUG = True
    out = StringIO()
    call_command("totp_code", "admin", stdout=out)
    from patients.management.commands.seed_demo import DEMO_PASSWORD

    sign_in(client, "admin", DEMO_PASSWORD)
    response = client.post("/accounts/two-factor/", {"code": out.getvalue().strip()})
    assert response.status_code == 302 and client.get("/workbench/").status_code == 200


def test_totp_code_refuses_outside_the_demo(settings, admin_user):
    from django.core.management import CommandError, call_command

    settings.DEBUG = False
    with pytest.raises(CommandError):
        call_command("totp_code", admin_user.username)
