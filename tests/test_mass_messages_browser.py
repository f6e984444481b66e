"""In the browser (Debian's Chromium): a campaign page shows 等待员工确认 with its WeCom tasks,
the demo's fake WeCom confirms as a staff member, and the per-patient results show."""

import pytest

from content.campaigns import campaign_save, campaign_schedule, campaign_start
from patients.models import Patient
from tests.conftest import login, screenshot
from tests.test_content_campaigns import send_all_due
from tests.test_mass_messages import SENDERS, assistants

pytestmark = pytest.mark.django_db(transaction=True)


def test_campaign_awaits_confirmation_then_shows_each_result(
    page, live_server, clinic, staff, wecom_account, fake_wecom, settings
):
    settings.WECOM_FAKE_CONTROL_URL = settings.WECOM_API_BASE_URL.replace("/cgi-bin/", "/_fake/")
    users = assistants(clinic)
    patients = Patient.objects.bulk_create(
        [
            Patient(clinic=clinic, name=f"患者{n}", external_userid=f"wm{n}",
                    assigned_assistant=users[n % 3])
            for n in range(30)
        ]
    )  # fmt: skip
    for n, patient in enumerate(patients):
        if n != 0:  # wm0 is not a contact of zhuli-a: WeCom's fail_list
            fake_wecom.add_contact(userid=SENDERS[n % 3], external_userid=patient.external_userid)
    campaign = campaign_save(clinic=clinic, name="冬季讲座", body="{诊所}周六讲座")
    campaign_schedule(campaign=campaign)
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    send_all_due()
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    page.goto(f"/content/campaigns/{campaign.pk}/")
    assert page.get_by_test_id("campaign-status").inner_text() == "等待员工确认"
    results = page.get_by_test_id("results")
    assert "3 个群发任务" in page.content()
    assert results.locator("[data-status=pending] td").nth(1).inner_text() == "29"
    assert results.locator("[data-status=not_contact] td").nth(1).inner_text() == "1"
    screenshot(page, "campaign-awaiting-confirmation")
    # The demo's button: zhuli-b confirms in the fake WeCom.
    page.get_by_role("button", name="以 zhuli-b 身份在企业微信确认").click()
    page.wait_for_selector("text=zhuli-b 已在企业微信确认 1 条群发消息（模拟）")
    results = page.get_by_test_id("results")
    assert results.locator("[data-status=delivered] td").nth(1).inner_text() == "10"
    assert results.locator("[data-status=pending] td").nth(1).inner_text() == "19"
    screenshot(page, "campaign-results")
