"""WeCom tags arriving from WeCom: two tags of one single-choice group keep the newest, the
conflict is on the timeline, and the event never fails (so the patient is created and the
welcome leaves)."""

import time
from urllib.parse import urlencode

import pytest

from patients.choices import TouchKind
from patients.models import Patient, PatientTag, TagGroup
from tests.conftest import CORP_ID, process_pending
from wechat.models import CallbackEvent, CallbackStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def severity(clinic, fake_wecom):
    """A single-choice group in CareLoop whose tags mirror two corp tags in the fake."""
    group = TagGroup.objects.get(clinic=clinic, name="严重程度")  # the clinic's defaults
    assert group.is_single_choice
    fake_wecom.tag_groups.append(
        {
            "group_id": "etG1",
            "group_name": "严重程度",
            "tag": [{"id": "etMILD", "name": "轻度"}, {"id": "etSEVERE", "name": "重度"}],
        }
    )
    mild, severe = (group.tags.get(name=name) for name in ("轻度", "重度"))
    PatientTag.objects.filter(pk=mild.pk).update(wecom_tag_id="etMILD")
    PatientTag.objects.filter(pk=severe.pk).update(wecom_tag_id="etSEVERE")
    return mild, severe


def push_event(client, fake, change, external_userid, **extra):
    fields = {
        "CreateTime": int(time.time()),
        "MsgType": "event",
        "Event": "change_external_contact",
        "ChangeType": change,
        "UserID": "wx-assistant",
        "ExternalUserID": external_userid,
        **extra,
    }
    params, body = fake.signed_packet(CORP_ID, fields)
    response = client.post(
        f"/wechat/callback/a/?{urlencode(params)}",
        data=body,
        content_type="text/xml",
    )
    assert response.status_code == 200


def test_two_single_choice_tags_on_arrival_keep_the_last_and_the_patient_is_created(
    client, callback_account, wecom_staff, fake_wecom, severity
):
    mild, severe = severity
    external_userid = fake_wecom.add_contact(
        userid="wx-assistant", name="孙七", tag_ids=["etMILD", "etSEVERE"]
    )
    push_event(
        client,
        fake_wecom,
        "add_external_contact",
        external_userid,
        WelcomeCode=fake_wecom.issue_welcome_code(),
    )
    assert process_pending() == ["processed"]
    patient = Patient.objects.get(external_userid=external_userid)
    assert list(patient.tags.all()) == [severe]
    conflict = patient.touches.get(payload__event="tag_conflict")
    assert conflict.kind == TouchKind.TAG_CHANGE
    assert "严重程度" in conflict.summary and "重度" in conflict.summary
    assert conflict.payload["dropped"] == [{"id": mild.pk, "name": "轻度"}]
    assert len(fake_wecom.welcome_messages) == 1


def test_an_edit_adding_a_second_single_choice_tag_keeps_the_new_one(
    client, callback_account, wecom_staff, fake_wecom, severity
):
    mild, severe = severity
    external_userid = fake_wecom.add_contact(userid="wx-assistant", tag_ids=["etSEVERE"])
    push_event(client, fake_wecom, "add_external_contact", external_userid)
    process_pending()
    patient = Patient.objects.get(external_userid=external_userid)
    assert list(patient.tags.all()) == [severe]
    # In WeCom the staff member also ticks 轻度 (listed after 重度): the new one wins.
    for follow in fake_wecom.contacts[external_userid]["follow_user"]:
        follow["tags"] = [fake_wecom._tag_ref("etSEVERE"), fake_wecom._tag_ref("etMILD")]
    push_event(client, fake_wecom, "edit_external_contact", external_userid)
    assert process_pending() == ["processed"]
    assert list(patient.tags.all()) == [mild]
    assert patient.touches.filter(payload__event="tag_conflict").count() == 1
    assert not CallbackEvent.objects.filter(status=CallbackStatus.FAILED).exists()
