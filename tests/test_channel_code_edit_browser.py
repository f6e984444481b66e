"""In the browser (Debian's Chromium): a channel code is edited on its page (WeCom gets the new
staff for the same contact way), then retired (WeCom deletes the contact way)."""

import pytest

from patients.choices import Stage
from tests.conftest import login, screenshot, tag
from wechat.channels import channel_code_create
from wechat.models import ChannelCode

pytestmark = pytest.mark.django_db(transaction=True)


def test_edit_a_channel_code_then_retire_it(
    page, clinic, callback_account, fake_wecom, wecom_staff, assistant
):
    code = channel_code_create(
        clinic=clinic,
        name="门诊台卡",
        staff=[wecom_staff["assistant"]],
        tags=[tag(clinic, "门诊")],
        stage=Stage.CONVERTED,
        welcome_text="您好，我是李助理。",
    )
    post_code = channel_code_create(
        clinic=clinic,
        name="小红书 · 甲状腺结节",
        staff=[wecom_staff["doctor"]],
        kind="p",
        post_id=5,
    )
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/wechat/channel-codes/")
    # A post's code is made on the doctors' calendar: it says so and has no edit button.
    assert page.get_by_test_id(f"not-editable-{post_code.pk}").is_visible()
    assert page.get_by_test_id(f"edit-{post_code.pk}").count() == 0
    screenshot(page, "wechat-channel-codes-edit-buttons")
    page.get_by_test_id(f"edit-{code.pk}").click()
    page.wait_for_url(f"**/wechat/channel-codes/{code.pk}/edit/")
    assert page.input_value("#id_name") == "门诊台卡"
    assert page.is_checked(f"input[name=staff][value='{wecom_staff['assistant'].pk}']")
    page.fill("#id_name", "门诊台卡（二楼）")
    page.check(f"input[name=staff][value='{wecom_staff['doctor'].pk}']")
    page.select_option("#id_tags", label="病种 · 甲状腺结节")
    page.select_option("#id_stage", "booked")
    page.fill(
        "#id_welcome_text", "您好，我们是二楼门诊。复查报告可以拍照发给我们；急症请拨打 120。"
    )
    screenshot(page, "wechat-channel-code-edit-form")
    page.get_by_test_id("save-code").click()
    page.wait_for_url("**/wechat/channel-codes/")
    assert "渠道活码“门诊台卡（二楼）”已保存" in page.content()
    code.refresh_from_db()
    assert code.stage == Stage.BOOKED and set(code.tags.values_list("name", flat=True)) == {
        "甲状腺结节"
    }
    assert sorted(m.wecom_userid for m in code.staff.all()) == ["wx-assistant", "wx-doctor"]
    way = next(w for w in fake_wecom.contact_ways if w["config_id"] == code.config_id)
    assert way["config_id"] == code.config_id and way["state"] == code.state
    assert sorted(way["user"]) == ["wx-assistant", "wx-doctor"]

    page.get_by_test_id(f"edit-{code.pk}").click()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("retire-code").click()
    page.wait_for_url("**/wechat/channel-codes/")
    assert "已停用" in page.locator(f"[data-testid=code-{code.pk}]").inner_text()
    assert not ChannelCode.objects.get(pk=code.pk).is_active
    assert code.config_id not in [w["config_id"] for w in fake_wecom.contact_ways]
    screenshot(page, "wechat-channel-code-retired")
