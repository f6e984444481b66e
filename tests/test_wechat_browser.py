"""In the browser (Debian's Chromium): a channel code is created on its page, 模拟扫码 makes the
fake WeCom push a real signed callback, and the patient appears with the welcome message."""

import pytest

from patients.choices import TouchKind
from patients.models import Patient
from tests.conftest import CORP_ID, login, process_pending, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_fake(live_server, callback_account, fake_wecom, settings):
    settings.SITE_URL = live_server.url
    settings.WECOM_FAKE_CONTROL_URL = settings.WECOM_API_BASE_URL.replace("/cgi-bin/", "/_fake/")
    return fake_wecom


def test_create_a_channel_code_simulate_a_scan_and_see_the_patient(
    page, demo_fake, admin_user, wecom_staff
):
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.get_by_role("link", name="渠道活码").click()
    page.wait_for_url("**/wechat/channel-codes/")
    page.get_by_test_id("new-code").click()
    page.fill("#id_name", "诊室桌卡")
    page.check(f"input[name=staff][value='{wecom_staff['assistant'].pk}']")
    page.select_option("#id_tags", label="病种 · 甲状腺结节")
    page.select_option("#id_stage", "converted")
    page.fill("#id_welcome_text", "您好，我是李助理。复查报告可以拍照发给我；急症请拨打 120。")
    screenshot(page, "wechat-channel-code-form")
    page.get_by_test_id("create-code").click()
    page.wait_for_url("**/wechat/channel-codes/")
    assert "渠道活码“诊室桌卡”已创建" in page.content()
    [way] = demo_fake.contact_ways
    # Offline, the QR image cannot load: the page shows the state in its place, not a hole.
    page.wait_for_selector(".cl-qr-placeholder")
    screenshot(page, "wechat-channel-codes")

    page.get_by_role("button", name="模拟扫码").click()
    page.wait_for_url("**/wechat/channel-codes/?scanned=*")
    assert [push["status"] for push in demo_fake.pushes] == [200]
    process_pending()  # the worker's part, in-process
    patient = Patient.objects.get(external_userid__startswith="wm")
    page.wait_for_function("document.querySelector('[data-kind=welcome]') !== null", timeout=10_000)
    screenshot(page, "wechat-arrival-appears")
    # Once the welcome shows, the page reloads by itself so that the counts include the patient.
    page.wait_for_url("**/wechat/channel-codes/", timeout=10_000)
    assert page.get_by_test_id("brought").inner_text() == "1"
    assert page.get_by_test_id("current").inner_text() == "1"
    arrivals = page.locator("#arrivals").inner_text()
    assert patient.name in arrivals and "复查报告可以拍照发给我" in arrivals
    assert "甲状腺结节" in arrivals
    assert patient.touches.filter(kind=TouchKind.WELCOME).exists()
    assert demo_fake.welcome_messages[0]["text"].startswith("您好，我是李助理")
    screenshot(page, "wechat-after-simulated-scan")
    assert way["state"] in page.content()


def test_wecom_settings_page(page, demo_fake, admin_user):
    login(page, admin_user.username)
    page.wait_for_url("**/workbench/")
    page.goto("/wechat/settings/")
    assert page.get_by_test_id("callback-url").inner_text().endswith("/wechat/callback/a/")
    assert page.input_value("#id_secret") == ""  # never shown again
    screenshot(page, "wechat-settings")
    assert CORP_ID == page.input_value("#id_corp_id")
