"""A patient's referral code (转介绍码) where staff work: GET/POST /api/patients/{id}/referral-code/
and the panel on the patient page, through the fake WeCom."""

import pytest

from crm.models import Membership
from tests.conftest import login, screenshot
from wechat.channels import state_for
from wechat.contacts import contact_arrive
from wechat.models import ChannelCode, ChannelCodeKind

pytestmark = pytest.mark.django_db


def url(patient):
    return f"/api/patients/{patient.pk}/referral-code/"


@pytest.fixture
def referrer(make_patient, wecom_staff, assistant, doctor):
    return make_patient(name="老王", assigned_assistant=assistant, assigned_doctor=doctor)


def test_create_then_get_the_code_and_the_count(
    api, assistant, referrer, callback_account, fake_wecom, make_patient
):
    client = api(assistant)
    before = client.get(url(referrer))
    assert before.status_code == 200
    assert before.json() == {
        "patient": referrer.pk,
        "code": None,
        "referrals": 0,
        "can_create": True,
    }

    created = client.post(url(referrer))
    assert created.status_code == 201, created.json()
    code = created.json()["code"]
    [way] = fake_wecom.contact_ways
    assert code["state"] == way["state"] == state_for(kind="r", object_id=referrer.pk)
    assert code["qr_code"] == f"https://wework.qpic.cn/fake/{way['config_id']}.png"
    # The patient's own assistant and doctor receive whoever scans it.
    assert sorted(way["user"]) == ["wx-assistant", "wx-doctor"]
    stored = ChannelCode.objects.get(pk=code["id"])
    assert (stored.kind, stored.referrer) == (ChannelCodeKind.REFERRAL, referrer)

    # A second click makes nothing new, in CareLoop or in WeCom.
    again = client.post(url(referrer))
    assert again.status_code == 200 and again.json()["code"]["id"] == code["id"]
    assert len(fake_wecom.contact_ways) == 1 and ChannelCode.objects.count() == 1

    # A new contact scans it: one referral, counted beside the code.
    contact_arrive(
        account=callback_account,
        external_userid="wmNEW",
        userid="wx-assistant",
        state=code["state"],
    )
    make_patient(name="自然到诊")
    got = client.get(url(referrer)).json()
    assert got["code"] == code and got["referrals"] == 1


def test_without_own_staff_the_clinics_assistants_receive_the_contacts(
    api, admin_user, make_patient, wecom_account, wecom_staff, fake_wecom
):
    patient = make_patient(name="无主患者")
    assert api(admin_user).post(url(patient)).status_code == 201
    assert fake_wecom.contact_ways[0]["user"] == ["wx-assistant"]


def test_another_clinics_patient_is_a_404_and_nothing_is_made(
    api, assistant, make_patient, other_clinic, wecom_account, wecom_staff, fake_wecom
):
    theirs = make_patient(name="外院患者", target_clinic=other_clinic)
    client = api(assistant)
    for method in ("get", "post"):
        response = getattr(client, method)(url(theirs))
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
    assert api(assistant).get("/api/patients/999999/referral-code/").status_code == 404
    assert not ChannelCode.objects.exists() and not fake_wecom.contact_ways


def test_only_senders_create_it_and_everyone_reads_it(
    api, nurse, nurse_ward, referrer, wecom_account
):
    referrer.ward = nurse_ward  # a nurse reads the patients of her wards
    referrer.save(update_fields=["ward"])
    client = api(nurse)
    assert client.get(url(referrer)).json()["can_create"] is False
    refused = client.post(url(referrer))
    assert refused.status_code == 403 and refused.json()["code"] == "permission_denied"
    assert not ChannelCode.objects.exists()


def test_no_wecom_for_the_clinic_is_a_clear_chinese_error(api, assistant, referrer):
    response = api(assistant).post(url(referrer))
    assert response.status_code == 400
    assert response.json()["message"] == "本诊所尚未配置企业微信。"
    assert not ChannelCode.objects.exists()


def test_wecom_refusing_is_a_clear_chinese_error(
    api, assistant, referrer, wecom_account, fake_wecom
):
    fake_wecom.faults.update(errcode=40098, every=1)
    response = api(assistant).post(url(referrer))
    assert response.status_code == 400
    assert response.json()["message"].startswith("企业微信未能生成二维码")
    assert "40098" in response.json()["message"]
    assert not ChannelCode.objects.exists()


def test_no_staff_with_a_wecom_userid_is_a_clear_chinese_error(
    api, assistant, make_patient, wecom_account
):
    Membership.objects.update(wecom_userid="")
    response = api(assistant).post(url(make_patient()))
    assert response.status_code == 400
    assert "企业微信账号" in response.json()["message"]
    assert not ChannelCode.objects.exists()


def test_the_patient_page_has_the_panel(client, assistant, referrer):
    client.force_login(assistant)
    page = client.get(f"/patients/{referrer.pk}/").content.decode()
    assert "转介绍码" in page and f'data-url="{url(referrer)}"' in page
    assert "content/referral_code.js" in page


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_staff_create_the_code_and_see_it(
    page, assistant, make_patient, wecom_staff, wecom_account, fake_wecom
):
    referrer = make_patient(name="老王", assigned_assistant=assistant)
    make_patient(name="小李", referred_by=referrer)
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{referrer.pk}/")
    panel = page.get_by_test_id("referral")
    page.get_by_test_id("referral-create").wait_for()
    assert "还没有转介绍码" in panel.inner_text()
    assert page.locator("#referral [data-part=code]").is_hidden()
    assert page.get_by_test_id("referral-count").inner_text() == "1"
    page.get_by_test_id("referral-create").click()
    link = page.get_by_test_id("referral-link")
    link.wait_for()
    [way] = fake_wecom.contact_ways
    assert link.inner_text() == f"https://wework.qpic.cn/fake/{way['config_id']}.png"
    assert page.get_by_test_id("referral-create").is_hidden()
    # Offline the WeCom image cannot load: the state shows in its place, not a broken image.
    page.wait_for_selector("#referral div[data-part=qr]")
    assert way["state"] in panel.inner_text()
    screenshot(page, "patient-referral-code")


@pytest.mark.django_db(transaction=True)
def test_in_the_browser_a_refusal_shows_why(page, assistant, make_patient):
    patient = make_patient(name="老张", assigned_assistant=assistant)
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_test_id("referral-create").click()
    error = page.get_by_test_id("referral-error")
    error.wait_for()
    assert error.inner_text() == "本诊所尚未配置企业微信。"
    assert page.locator("#referral [data-part=code]").is_hidden()
    assert page.get_by_test_id("referral-count").inner_text() == "0"
    screenshot(page, "patient-referral-code-error")


def test_the_channel_code_page_leaves_referral_codes_to_their_patients(
    client, admin_user, referrer, wecom_account, wecom_staff, fake_wecom
):
    from content.referrals import referral_code_create
    from wechat.services import channel_code_create

    desk = channel_code_create(
        clinic=referrer.clinic, name="前台桌卡", staff=[wecom_staff["assistant"]]
    )
    referral, created = referral_code_create(patient=referrer)
    assert created
    client.force_login(admin_user)
    page = client.get("/wechat/channel-codes/").content.decode()
    assert desk.qr_code in page and referral.qr_code not in page
