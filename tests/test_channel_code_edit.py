"""Editing and retiring channel codes: the service's rules, WeCom's contact way kept in step
(same config_id and state), refusals that save nothing, the pages, and scans after an edit
or a retirement."""

import pytest
from django.core.exceptions import ValidationError

from crm.models import Membership
from patients.choices import Stage
from patients.models import Patient, Touch
from tests.conftest import AES_KEY, CALLBACK_TOKEN, CORP_ID, process_pending, tag
from wechat.channels import channel_code_create, channel_code_retire, channel_code_update
from wechat.contacts import contact_arrive
from wechat.models import ChannelCodeKind, ContactArrival
from wechat.selectors import channel_code_rows

pytestmark = pytest.mark.django_db
# Appended by the composer to every text a patient gets (the clinic's default settings).
NOTICE = "\n\n急症请立即就医或拨打120。"


@pytest.fixture
def code(clinic, callback_account, wecom_staff):
    return channel_code_create(
        clinic=clinic,
        name="门诊台卡",
        staff=[wecom_staff["assistant"]],
        tags=[tag(clinic, "门诊")],
        stage=Stage.CONVERTED,
        welcome_text="旧欢迎语",
    )


def settings_of(code, **changes):
    """The code's current settings as channel_code_update takes them, with `changes`."""
    current = {
        "name": code.name,
        "staff": list(code.staff.all()),
        "tags": list(code.tags.all()),
        "stage": code.stage,
        "welcome_text": code.welcome_text,
        "link_title": code.link_title,
        "link_url": code.link_url,
        "link_desc": code.link_desc,
    }
    return {**current, **changes}


def way_of(fake, code):
    return next(w for w in fake.contact_ways if w["config_id"] == code.config_id)


# The service ---------------------------------------------------------------------------------


def test_an_edit_changes_the_settings_and_sends_the_new_staff_to_the_same_contact_way(
    clinic, code, wecom_staff, fake_wecom
):
    state, config_id, qr_code = code.state, code.config_id, code.qr_code
    channel_code_update(
        **settings_of(
            code,
            name="诊室桌卡",
            staff=[wecom_staff["assistant"], wecom_staff["doctor"]],
            tags=[tag(clinic, "甲状腺结节"), tag(clinic, "重度")],
            stage=Stage.BOOKED,
            welcome_text="您好，我是王医生的助理。",
            link_title="术后须知",
            link_url="https://example.cn/after",
        ),
        code=code,
    )
    code.refresh_from_db()
    assert code.name == "诊室桌卡" and code.stage == Stage.BOOKED
    assert set(code.tags.values_list("name", flat=True)) == {"甲状腺结节", "重度"}
    assert code.welcome_text == "您好，我是王医生的助理。"
    assert code.link == {"title": "术后须知", "url": "https://example.cn/after", "desc": ""}
    # The QR code patients scan is the same one: same state, config_id and image.
    assert (code.state, code.config_id, code.qr_code) == (state, config_id, qr_code)
    assert fake_wecom.calls["externalcontact/update_contact_way"] == 1
    [way] = fake_wecom.contact_ways
    assert way["config_id"] == config_id and way["state"] == state
    assert sorted(way["user"]) == ["wx-assistant", "wx-doctor"]
    assert way["remark"] == "诊室桌卡"


def test_an_edit_of_only_what_wecom_does_not_hold_does_not_call_wecom(code, clinic, fake_wecom):
    channel_code_update(**settings_of(code, stage="", welcome_text="新欢迎语"), code=code)
    assert fake_wecom.calls["externalcontact/update_contact_way"] == 0
    code.refresh_from_db()
    assert code.stage == "" and code.welcome_text == "新欢迎语"


def test_an_edit_writes_nothing_to_any_timeline(code, wecom_staff, make_patient):
    make_patient(name="老病号")
    before = Touch.objects.count()
    channel_code_update(**settings_of(code, staff=[wecom_staff["doctor"]]), code=code)
    assert Touch.objects.count() == before


def test_wecom_refusing_the_edit_saves_nothing_and_says_why_in_chinese(
    clinic, code, wecom_staff, fake_wecom
):
    fake_wecom.faults.update(errcode=40031, every=1)
    with pytest.raises(ValidationError) as refused:
        channel_code_update(
            **settings_of(
                code, name="新名字", staff=[wecom_staff["doctor"]], tags=[tag(clinic, "病房")]
            ),
            code=code,
        )
    message = " ".join(refused.value.messages)
    assert "企业微信未能更新二维码" in message and "40031" in message
    code.refresh_from_db()
    assert code.name == "门诊台卡"
    assert [m.wecom_userid for m in code.staff.all()] == ["wx-assistant"]
    assert list(code.tags.values_list("name", flat=True)) == ["门诊"]
    fake_wecom.faults.update(errcode=None, every=0)
    assert way_of(fake_wecom, code)["user"] == ["wx-assistant"]


def test_a_contact_way_deleted_in_wecom_is_a_clear_refusal(code, wecom_staff, fake_wecom):
    fake_wecom.contact_ways.clear()  # someone deleted it in WeCom's console
    with pytest.raises(ValidationError, match="企业微信中找不到这个二维码"):
        channel_code_update(**settings_of(code, staff=[wecom_staff["doctor"]]), code=code)
    assert [m.wecom_userid for m in code.staff.all()] == ["wx-assistant"]


def test_an_edit_follows_the_rules_of_creation(clinic, other_clinic, code, staff, wecom_staff):
    nurse = Membership.objects.get(user=staff["nurse"])  # no WeCom userid
    cases = [
        ({"name": "  "}, "name"),
        ({"staff": []}, "staff"),
        ({"staff": [nurse]}, "staff"),
        ({"tags": [tag(other_clinic, "门诊")]}, "tags"),
        ({"tags": [tag(clinic, "轻度"), tag(clinic, "重度")]}, "tags"),
        ({"stage": "nowhere"}, "stage"),
    ]
    for changes, field in cases:
        with pytest.raises(ValidationError) as error:
            channel_code_update(**settings_of(code, **changes), code=code)
        assert field in error.value.message_dict, changes
    code.refresh_from_db()
    assert code.name == "门诊台卡" and code.stage == Stage.CONVERTED


def test_a_single_person_contact_way_keeps_one_staff_member(code, wecom_staff, fake_wecom):
    # Codes made before every contact way was multi-person may be single-person ways.
    way_of(fake_wecom, code)["type"] = 1
    with pytest.raises(ValidationError) as error:
        channel_code_update(
            **settings_of(code, staff=[wecom_staff["assistant"], wecom_staff["doctor"]]),
            code=code,
        )
    assert "一位员工" in error.value.message_dict["staff"][0]
    assert fake_wecom.calls["externalcontact/update_contact_way"] == 0
    # Another single member is fine.
    channel_code_update(**settings_of(code, staff=[wecom_staff["doctor"]]), code=code)
    assert way_of(fake_wecom, code)["user"] == ["wx-doctor"]


def test_new_codes_are_multi_person_ways_even_with_one_staff_member(code, fake_wecom):
    assert way_of(fake_wecom, code)["type"] == 2


def test_referral_and_post_codes_are_not_edited_or_retired_here(
    clinic, callback_account, wecom_staff, make_patient
):
    referral = channel_code_create(
        clinic=clinic,
        name="转介绍：老王",
        staff=[wecom_staff["assistant"]],
        kind=ChannelCodeKind.REFERRAL,
        referrer=make_patient(name="老王"),
    )
    post = channel_code_create(
        clinic=clinic, name="小红书 · 甲状腺", staff=[wecom_staff["doctor"]], kind="p", post_id=7
    )
    for code in (referral, post):
        with pytest.raises(ValidationError, match="各自的页面"):
            channel_code_update(**settings_of(code, name="改名"), code=code)
        with pytest.raises(ValidationError, match="各自的页面"):
            channel_code_retire(code=code)
        code.refresh_from_db()
        assert code.is_active and code.name != "改名"


# Retiring --------------------------------------------------------------------------------


def test_retiring_deletes_the_contact_way_and_keeps_the_code_and_its_patients(
    clinic, callback_account, code, fake_wecom
):
    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wmOLD", userid="wx-assistant", state=code.state
    )
    channel_code_retire(code=code)
    code.refresh_from_db()
    assert not code.is_active and code.config_id
    assert fake_wecom.contact_ways == []  # WeCom no longer has it: scans add no one
    assert fake_wecom.calls["externalcontact/del_contact_way"] == 1
    assert ContactArrival.objects.get(patient=patient).channel_code == code
    [row] = channel_code_rows(clinic=clinic)
    assert row["code"] == code and row["brought"] == 1
    with pytest.raises(ValidationError, match="已停用"):
        channel_code_update(**settings_of(code, name="复活"), code=code)
    with pytest.raises(ValidationError, match="已停用"):
        channel_code_retire(code=code)


def test_wecom_refusing_the_retirement_leaves_the_code_active(code, fake_wecom):
    fake_wecom.faults.update(errcode=84074, every=1)
    with pytest.raises(ValidationError, match="客户联系权限"):
        channel_code_retire(code=code)
    code.refresh_from_db()
    assert code.is_active
    fake_wecom.faults.update(errcode=None, every=0)
    assert len(fake_wecom.contact_ways) == 1


def test_a_code_whose_contact_way_was_deleted_in_wecom_can_still_be_retired(code, fake_wecom):
    fake_wecom.contact_ways.clear()  # someone deleted it in WeCom's console
    channel_code_retire(code=code)
    code.refresh_from_db()
    assert not code.is_active
    assert fake_wecom.calls["externalcontact/del_contact_way"] == 1


def test_a_late_callback_of_a_retired_code_still_records_the_patient_by_its_rules(
    clinic, callback_account, code
):
    """A callback carrying a retired code's state can only come from a scan made before WeCom
    deleted the way: the patient is recorded and counted for the code, with its rules."""
    channel_code_retire(code=code)
    patient, welcome = contact_arrive(
        account=callback_account,
        external_userid="wmLATE",
        userid="wx-assistant",
        state=code.state,
        welcome_code="wc-late",
    )
    assert patient.stage == Stage.CONVERTED and set(patient.tags.names()) == {"门诊"}
    assert patient.source_detail == "门诊台卡" and welcome.body == "旧欢迎语" + NOTICE
    assert ContactArrival.objects.get(patient=patient).channel_code == code


# Pages ---------------------------------------------------------------------------------------


def test_staff_edit_a_code_on_its_page(client, clinic, code, wecom_staff, assistant, fake_wecom):
    client.force_login(assistant)
    listing = client.get("/wechat/channel-codes/").content.decode()
    assert f'href="/wechat/channel-codes/{code.pk}/edit/"' in listing
    form = client.get(f"/wechat/channel-codes/{code.pk}/edit/").content.decode()
    assert 'value="门诊台卡"' in form and "旧欢迎语" in form and code.state in form
    response = client.post(
        f"/wechat/channel-codes/{code.pk}/edit/",
        {
            "name": "门诊台卡（二楼）",
            "staff": [wecom_staff["doctor"].pk],
            "tags": [tag(clinic, "小红书").pk],
            "stage": "",
            "welcome_text": "新欢迎语",
        },
    )
    assert response.status_code == 302
    code.refresh_from_db()
    assert code.name == "门诊台卡（二楼）" and code.welcome_text == "新欢迎语"
    assert list(code.tags.values_list("name", flat=True)) == ["小红书"]
    assert way_of(fake_wecom, code)["user"] == ["wx-doctor"]
    assert "已保存" in client.get("/wechat/channel-codes/").content.decode()


def test_the_edit_page_shows_errors_and_wecom_refusals_instead_of_failing(
    client, clinic, code, wecom_staff, assistant, fake_wecom
):
    client.force_login(assistant)
    url = f"/wechat/channel-codes/{code.pk}/edit/"
    response = client.post(url, {"name": "", "staff": ["999999"]})
    assert response.status_code == 200 and "invalid-feedback" in response.content.decode()
    fake_wecom.faults.update(errcode=40031, every=1)
    response = client.post(url, {"name": "门诊台卡", "staff": [wecom_staff["doctor"].pk]})
    page = response.content.decode()
    assert response.status_code == 200 and "企业微信未能更新二维码" in page
    code.refresh_from_db()
    assert [m.wecom_userid for m in code.staff.all()] == ["wx-assistant"]


def test_staff_retire_a_code_on_its_page(client, code, assistant, fake_wecom):
    client.force_login(assistant)
    assert client.get(f"/wechat/channel-codes/{code.pk}/retire/").status_code == 405
    response = client.post(f"/wechat/channel-codes/{code.pk}/retire/")
    assert response.status_code == 302 and response.url == "/wechat/channel-codes/"
    code.refresh_from_db()
    assert not code.is_active and fake_wecom.contact_ways == []
    listing = client.get("/wechat/channel-codes/").content.decode()
    assert "已停用" in listing and code.qr_code not in listing
    page = client.get(f"/wechat/channel-codes/{code.pk}/edit/").content.decode()
    assert 'data-testid="retired-note"' in page and 'data-testid="save-code"' not in page


def test_a_refused_retirement_returns_to_the_edit_page_with_the_reason(
    client, code, assistant, fake_wecom
):
    fake_wecom.faults.update(errcode=84074, every=1)
    client.force_login(assistant)
    response = client.post(f"/wechat/channel-codes/{code.pk}/retire/", follow=True)
    assert "客户联系权限" in response.content.decode()
    code.refresh_from_db()
    assert code.is_active


def test_post_codes_say_where_they_are_managed_and_have_no_edit_page(
    client, clinic, callback_account, wecom_staff, admin_user
):
    post = channel_code_create(
        clinic=clinic, name="抖音 · 术后康复", staff=[wecom_staff["doctor"]], kind="p", post_id=9
    )
    client.force_login(admin_user)
    listing = client.get("/wechat/channel-codes/").content.decode()
    assert f'data-testid="not-editable-{post.pk}"' in listing
    assert f"/wechat/channel-codes/{post.pk}/edit/" not in listing
    assert client.get(f"/wechat/channel-codes/{post.pk}/edit/").status_code == 404
    assert client.post(f"/wechat/channel-codes/{post.pk}/retire/").status_code == 404


def test_nurses_and_doctors_may_not_edit_and_outsiders_get_404(
    client, code, nurse, doctor, outsider, fake_wecom
):
    for user in (nurse, doctor):  # the same roles as may create codes
        client.force_login(user)
        assert client.get(f"/wechat/channel-codes/{code.pk}/edit/").status_code == 403
        assert client.post(f"/wechat/channel-codes/{code.pk}/retire/").status_code == 403
    client.force_login(outsider)
    assert client.get(f"/wechat/channel-codes/{code.pk}/edit/").status_code == 404
    response = client.post(f"/wechat/channel-codes/{code.pk}/edit/", {"name": "外院改名"})
    assert response.status_code == 404
    assert client.post(f"/wechat/channel-codes/{code.pk}/retire/").status_code == 404
    code.refresh_from_db()
    assert code.is_active and code.name == "门诊台卡" and len(fake_wecom.contact_ways) == 1


def test_django_admin_only_shows_codes(client, code, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/admin/wechat/channelcode/{code.pk}/change/").content.decode()
    assert 'name="is_active"' not in page and 'name="name"' not in page


# A real scan through the fake after an edit ------------------------------------------------


@pytest.fixture
def live_callback(callback_account, fake_wecom, live_server, settings):
    settings.SITE_URL = live_server.url
    fake_wecom.register_app(
        corp_id=CORP_ID,
        callback_url=live_server.url + "/wechat/callback/a/",
        token=CALLBACK_TOKEN,
        aes_key=AES_KEY,
    )
    return fake_wecom


def test_a_scan_after_an_edit_gets_the_new_tags_stage_and_welcome(
    live_callback, clinic, code, wecom_staff
):
    channel_code_update(
        **settings_of(
            code,
            staff=[wecom_staff["doctor"]],
            tags=[tag(clinic, "甲状腺结节")],
            stage=Stage.BOOKED,
            welcome_text="您好，我是王医生。复查报告可以拍照发给我。",
        ),
        code=code,
    )
    fake = live_callback
    result = fake.push_add(CORP_ID, userid="wx-doctor", state=code.state, name="周小梅")
    assert (result["status"], result["text"]) == (200, "success")
    assert process_pending() == ["processed"]
    patient = Patient.objects.get(clinic=clinic, external_userid=result["external_userid"])
    assert patient.stage == Stage.BOOKED and set(patient.tags.names()) == {"甲状腺结节"}
    assert patient.assigned_doctor == wecom_staff["doctor"].user
    [welcome] = fake.welcome_messages
    assert welcome["text"] == "您好，我是王医生。复查报告可以拍照发给我。" + NOTICE
    assert ContactArrival.objects.get(patient=patient).channel_code == code


def test_a_retired_code_cannot_be_scanned_in_the_demo(client, code, assistant, settings):
    settings.WECOM_FAKE_CONTROL_URL = settings.WECOM_API_BASE_URL.replace("/cgi-bin/", "/_fake/")
    channel_code_retire(code=code)
    client.force_login(assistant)
    assert (
        f'data-testid="simulate-{code.pk}"'
        not in client.get("/wechat/channel-codes/").content.decode()
    )
    response = client.post(f"/wechat/channel-codes/{code.pk}/simulate/", follow=True)
    assert "已停用" in response.content.decode() and not Patient.objects.exists()
