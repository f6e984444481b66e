"""获客助手 links: the fake's create_link and list_link with WeCom's refusals, a link per
channel code, and a patient arriving through it attributed like a scan of the code."""

import pytest

from patients.models import Patient
from tests.conftest import CORP_ID, process_pending
from tests.test_callbacks import live_callback  # noqa: F401 (the fixture, by name)
from tests.test_wecom_groups import raw
from wechat import transport
from wechat.channels import channel_code_create, channel_code_link_create
from wechat.models import ContactArrival


def test_create_link_refusals(wecom_account, fake_wecom, db):
    path = "externalcontact/customer_acquisition/create_link"
    fake_wecom.staff_set(userid="wx-a", name="甲")
    assert raw(wecom_account, path, {"range": {"user_list": ["wx-a"]}})["errcode"] == 40058
    long_name = {"link_name": "长" * 31, "range": {"user_list": ["wx-a"]}}
    assert raw(wecom_account, path, long_name)["errcode"] == 40058
    assert raw(wecom_account, path, {"link_name": "x", "range": {}})["errcode"] == 40058
    unknown = {"link_name": "x", "range": {"user_list": ["wx-nobody"]}}
    assert raw(wecom_account, path, unknown)["errcode"] == 60111
    ok = raw(wecom_account, path, {"link_name": "小红书", "range": {"user_list": ["wx-a"]}})
    assert ok["errcode"] == 0 and ok["link"]["url"].startswith("https://work.weixin.qq.com/ca/")


def test_list_link_pages_and_refuses_over_100(wecom_account, fake_wecom, db):
    fake_wecom.staff_set(userid="wx-a", name="甲")
    for i in range(3):
        transport.acquisition_link_create(wecom_account, name=f"链接{i}", userids=["wx-a"])
    path = "externalcontact/customer_acquisition/list_link"
    assert raw(wecom_account, path, {"limit": 101})["errcode"] == 40058
    assert raw(wecom_account, path, {"limit": 2, "cursor": "bogus"})["errcode"] == 40058
    first = raw(wecom_account, path, {"limit": 2})
    assert len(first["link_id_list"]) == 2 and first["next_cursor"]
    assert len(list(transport.acquisition_link_ids(wecom_account))) == 3


@pytest.fixture
def code(clinic, wecom_staff, callback_account, fake_wecom):
    fake_wecom.staff_set(userid="wx-assistant", name="助理")
    return channel_code_create(
        clinic=clinic, name="抖音主页", staff=[wecom_staff["assistant"]], tags=[]
    )


@pytest.mark.django_db(transaction=True)
def test_a_patient_arriving_through_the_link_is_attributed_to_the_code(code, request, clinic):
    fake = request.getfixturevalue("live_callback")
    channel_code_link_create(code=code)
    code.refresh_from_db()
    assert code.acquisition_url.endswith(f"customer_channel={code.state}")
    assert channel_code_link_create(code=code).acquisition_link_id == code.acquisition_link_id
    assert len(fake.acquisition_links) == 1  # asked twice, made once
    result = fake.acquisition_arrive(
        CORP_ID, link_id=code.acquisition_link_id, customer_channel=code.state, name="孙八"
    )
    assert (result["status"], result["text"]) == (200, "success")
    process_pending()
    patient = Patient.objects.get(clinic=clinic, external_userid=result["external_userid"])
    assert ContactArrival.objects.get(patient=patient).channel_code_id == code.pk


@pytest.mark.django_db
def test_link_refused_when_staff_unknown_in_wecom(clinic, wecom_staff, wecom_account, fake_wecom):
    from django.core.exceptions import ValidationError

    code = channel_code_create(
        clinic=clinic, name="知乎", staff=[wecom_staff["assistant"]], tags=[]
    )
    with pytest.raises(ValidationError) as exc:
        channel_code_link_create(code=code)  # wx-assistant is not in the fake's directory
    assert "60111" in " ".join(exc.value.messages)
    code.refresh_from_db()
    assert code.acquisition_url == ""
