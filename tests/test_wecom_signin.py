"""WeCom JS-SDK signing and sign-in through WeCom OAuth, against the fake WeCom."""

import hashlib

import pytest
import requests
from django.urls import reverse

from crm.models import AuditAction, AuditEvent, Membership
from wechat import jssdk, transport

# WeCom's published example (developer.work.weixin.qq.com/document/path/90506, "JS-SDK使用
# 权限签名算法"): these four values sign to 0f9de62fce790f9a083d5c99e95740ceb90c27ed.
DOC_TICKET = (
    "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg"
)
DOC_NONCE = "Wm3WZYTPz0wzccnW"
DOC_TIMESTAMP = 1414587457
DOC_URL = "http://mp.weixin.qq.com?params=value"
DOC_SIGNATURE = "0f9de62fce790f9a083d5c99e95740ceb90c27ed"


def test_signature_matches_wecoms_published_example():
    assert (
        jssdk.signature(ticket=DOC_TICKET, noncestr=DOC_NONCE, timestamp=DOC_TIMESTAMP, url=DOC_URL)
        == DOC_SIGNATURE
    )
    # The #fragment is not part of the signed URL; any other change is.
    assert (
        jssdk.signature(
            ticket=DOC_TICKET, noncestr=DOC_NONCE, timestamp=DOC_TIMESTAMP, url=DOC_URL + "#x"
        )
        == DOC_SIGNATURE
    )
    assert (
        jssdk.signature(
            ticket=DOC_TICKET, noncestr=DOC_NONCE, timestamp=DOC_TIMESTAMP + 1, url=DOC_URL
        )
        != DOC_SIGNATURE
    )


def test_config_signs_with_both_tickets_and_caches_them(wecom_account, fake_wecom):
    url = "https://crm.example.cn/wechat/sidebar/?a=1"
    config = jssdk.config_for(wecom_account, url=url)
    assert len(fake_wecom.jsapi_tickets) == 1 and len(fake_wecom.agent_tickets) == 1
    corp_ticket = next(iter(fake_wecom.jsapi_tickets))
    agent_ticket = next(iter(fake_wecom.agent_tickets))
    text = "jsapi_ticket={}&noncestr={}&timestamp={}&url={}"
    assert (
        config["signature"]
        == hashlib.sha1(
            text.format(corp_ticket, config["nonceStr"], config["timestamp"], url).encode()
        ).hexdigest()
    )
    assert (
        config["agentSignature"]
        == hashlib.sha1(
            text.format(agent_ticket, config["nonceStr"], config["timestamp"], url).encode()
        ).hexdigest()
    )
    assert config["corpid"] == "ww-test-corp" and config["agentid"] == "1000002"
    # A second page reuses the cached tickets: WeCom allows few fetches an hour.
    jssdk.config_for(wecom_account, url=url)
    assert fake_wecom.calls["get_jsapi_ticket"] == 1 and fake_wecom.calls["ticket/get"] == 1


def test_fake_agent_ticket_needs_type_and_limits_fetches(wecom_account, fake_wecom, settings):
    token = transport.client_for(wecom_account).access_token
    base = settings.WECOM_API_BASE_URL
    answer = requests.get(base + "ticket/get", params={"access_token": token}, timeout=5).json()
    assert answer["errcode"] == 40058
    fake_wecom.window_scale = 1.0
    for _ in range(100):
        ok = requests.get(
            base + "ticket/get",
            params={"access_token": token, "type": "agent_config"},
            timeout=5,
        ).json()
        assert ok["errcode"] == 0 and ok["expires_in"] == 7200
    over = requests.get(
        base + "ticket/get", params={"access_token": token, "type": "agent_config"}, timeout=5
    ).json()
    assert over["errcode"] == 45009


def test_jssdk_config_endpoint(client, assistant, wecom_account, fake_wecom, outsider):
    client.force_login(assistant)
    url = reverse("wechat:jssdk_config")
    answer = client.get(url, {"url": "https://crm.example.cn/wechat/sidebar/"})
    assert answer.status_code == 200 and len(answer.json()["signature"]) == 40
    bad = client.get(url, {"url": "sidebar"})
    assert bad.status_code == 400 and "网址" in bad.json()["message"]
    client.force_login(outsider)  # the outsider's clinic has no WeCom account
    assert client.get(url, {"url": "https://x.cn/"}).status_code == 400


# OAuth code exchange -----------------------------------------------------------------------


def _mint(settings, userid):
    base = settings.WECOM_API_BASE_URL
    return requests.post(base + "_fake/oauth_code", json={"userid": userid}, timeout=5).json()[
        "code"
    ]


def test_code_is_single_use_expires_and_unknown_is_40029(wecom_account, fake_wecom, settings):
    code = _mint(settings, "wx-assistant")
    assert transport.oauth_userid(wecom_account, code=code) == "wx-assistant"
    with pytest.raises(transport.WeComError) as reused:
        transport.oauth_userid(wecom_account, code=code)
    assert reused.value.errcode == 40029 and reused.value.permanent
    with pytest.raises(transport.WeComError) as unknown:
        transport.oauth_userid(wecom_account, code="no-such-code")
    assert unknown.value.errcode == 40029
    late = _mint(settings, "wx-assistant")
    requests.post(
        settings.WECOM_API_BASE_URL + "_fake/oauth_code", json={"advance": 301}, timeout=5
    )
    with pytest.raises(transport.WeComError) as expired:
        transport.oauth_userid(wecom_account, code=late)
    assert expired.value.errcode == 40029


def _oauth(client, clinic, code, next_url="/"):
    return client.get(
        reverse("wechat:oauth_return", args=[clinic.slug]), {"code": code, "next": next_url}
    )


def test_oauth_signs_the_member_in_and_audits(client, clinic, wecom_staff, wecom_account, settings):
    code = _mint(settings, "wx-assistant")
    answer = _oauth(client, clinic, code)
    assert answer.status_code == 302
    assert client.session["_auth_user_id"] == str(wecom_staff["assistant"].user_id)
    event = AuditEvent.objects.get(action=AuditAction.WECOM_SIGN_IN)
    assert event.detail["wecom_userid"] == "wx-assistant" and event.clinic == clinic


@pytest.mark.parametrize("case", ["reused", "unknown", "expired", "not_member"])
def test_bad_codes_answer_a_chinese_page(
    client, clinic, wecom_staff, wecom_account, settings, case
):
    if case == "reused":
        code = _mint(settings, "wx-assistant")
        _oauth(client, clinic, code)
        client.logout()
    elif case == "unknown":
        code = "nope"
    elif case == "expired":
        code = _mint(settings, "wx-assistant")
        requests.post(
            settings.WECOM_API_BASE_URL + "_fake/oauth_code", json={"advance": 301}, timeout=5
        )
    else:
        code = _mint(settings, "wx-stranger")
    answer = _oauth(client, clinic, code)
    assert answer.status_code == 400
    text = answer.content.decode()
    assert "企业微信" in text
    assert "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action=AuditAction.WECOM_SIGN_IN_REFUSED).exists()


def test_admin_still_needs_second_factor_unless_clinic_trusts_wecom(
    client, clinic, admin_user, wecom_account, settings
):
    Membership.objects.filter(user=admin_user).update(wecom_userid="wx-admin")
    _oauth(client, clinic, _mint(settings, "wx-admin"))
    assert "_auth_user_id" in client.session
    home = client.get("/")
    assert home.status_code == 302 and "two-factor" in home["Location"]
    client.logout()
    clinic.wecom_signin_trusted = True
    clinic.save()
    _oauth(client, clinic, _mint(settings, "wx-admin"))
    home = client.get("/", follow=True)
    assert home.status_code == 200
    assert all("two-factor" not in url for url, _ in home.redirect_chain)
    event = AuditEvent.objects.filter(action=AuditAction.WECOM_SIGN_IN).latest("created_at")
    assert event.detail["trusted"] is True


def test_qr_login_sends_to_wecom_and_comes_back_signed_in(
    client, clinic, wecom_staff, wecom_account, settings
):
    page = client.get(reverse("login"))
    assert "使用企业微信登录" in page.content.decode()
    answer = client.get(reverse("wechat:qr_login"), {"clinic": clinic.slug})
    assert answer.status_code == 302
    assert answer["Location"].startswith(settings.WECOM_SSO_URL)
    assert "appid=ww-test-corp" in answer["Location"] and "agentid=1000002" in answer["Location"]
    assert "via%3Dqr" in answer["Location"]
    unknown = client.get(reverse("wechat:qr_login"), {"clinic": "nope"})
    assert unknown.status_code == 400 and "诊所代码" in unknown.content.decode()
    # WeCom returns the scanned member's code: the same exchange as the sidebar's.
    back = client.get(
        reverse("wechat:oauth_return", args=[clinic.slug]),
        {"code": _mint(settings, "wx-doctor"), "via": "qr"},
    )
    assert back.status_code == 302
    event = AuditEvent.objects.get(action=AuditAction.WECOM_SIGN_IN)
    assert event.detail["via"] == "qr" and event.user_id == wecom_staff["doctor"].user_id


def test_sidebar_sends_the_unsigned_in_to_wecom_oauth_and_scopes_contacts(
    client, clinic, assistant, outsider, wecom_account, settings, make_patient
):
    answer = client.get(reverse("wechat:sidebar", args=[clinic.slug]))
    assert answer.status_code == 302
    location = answer["Location"]
    assert location.startswith(settings.WECOM_OAUTH_URL) and location.endswith("#wechat_redirect")
    assert "scope=snsapi_base" in location and "appid=ww-test-corp" in location
    patient = make_patient(external_userid="wm-ext-9")
    url = reverse("wechat:sidebar_contact")
    client.force_login(assistant)
    assert client.get(url, {"external_userid": "wm-ext-9"}).json() == {"patient": patient.pk}
    client.force_login(outsider)  # another clinic's member finds no patient of clinic A
    assert client.get(url, {"external_userid": "wm-ext-9"}).json() == {"patient": None}
