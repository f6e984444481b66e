"""The chat sidebar in Chromium, with a test-supplied `window.wx` standing in for WeCom's
client: it answers getCurExternalContact with the patient's external_userid."""

import requests
from django.urls import reverse

from crm.models import AuditAction, AuditEvent
from tests.conftest import screenshot

WX_STUB = """
window.wxCalls = [];
window.wx = {
  config(c) { window.wxCalls.push(["config", c]); },
  ready(fn) { setTimeout(fn, 0); },
  error(fn) {},
  agentConfig(c) { window.wxCalls.push(["agentConfig", c]); setTimeout(() => c.success({}), 0); },
  invoke(name, args, cb) {
    window.wxCalls.push([name, args]);
    if (name === "getCurExternalContact") cb({ err_msg: "getCurExternalContact:ok", userId: "wm-ext-1" });
    else cb({ err_msg: name + ":ok" });
  },
};
"""


def test_sidebar_signs_in_by_oauth_and_shows_the_patient(
    page, live_server, clinic, wecom_staff, wecom_account, settings, make_patient
):
    make_patient(name="李四", phone="13800138000", external_userid="wm-ext-1")
    code = requests.post(
        settings.WECOM_API_BASE_URL + "_fake/oauth_code", json={"userid": "wx-assistant"}, timeout=5
    ).json()["code"]
    sidebar = reverse("wechat:sidebar", args=[clinic.slug])
    page.add_init_script(WX_STUB)
    # WeCom's OAuth redirect back, as WeCom would make it: the code, then the sidebar.
    page.goto(reverse("wechat:oauth_return", args=[clinic.slug]) + f"?code={code}&next={sidebar}")
    page.wait_for_selector("[data-testid=patient-name]")
    assert page.text_content("[data-testid=patient-name]") == "李四"
    assert page.text_content("[data-testid=patient-phone]") == "138****8000"
    calls = page.evaluate("window.wxCalls.map((c) => c[0])")
    assert calls[:3] == ["config", "agentConfig", "getCurExternalContact"]
    signature = page.evaluate("window.wxCalls[0][1].signature")
    assert len(signature) == 40
    # The audited reveal: an assistant's role may not, and the refusal is audited.
    page.click("[data-testid=reveal-phone]")
    page.wait_for_selector("[data-testid=sidebar-status]:not([hidden])")
    assert "无权查看完整手机号" in page.text_content("[data-testid=sidebar-status]")
    assert AuditEvent.objects.filter(
        action=AuditAction.REVEAL_REFUSED, user=wecom_staff["assistant"].user
    ).exists()
    assert page.text_content("[data-testid=patient-phone]") == "138****8000"
    screenshot(page, "wecom-sidebar")
