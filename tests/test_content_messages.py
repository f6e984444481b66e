"""One message to one patient from a template (/api/patients/{id}/message/): once per token,
refused with the campaigns' reasons in Chinese, scoped like the patient, and sent through the
outbox to the fake WeCom with the timeline entry the outbox writes."""

import secrets
from datetime import timedelta

import pytest
from django.utils import timezone

from content.messages import patient_message_send
from content.templates_service import message_template_save
from crm.models import Membership
from patients.choices import Stage, TouchKind
from wechat.models import ContentSettings, Delivery, DeliveryStatus
from wechat.tasks import delivery_send_task

pytestmark = pytest.mark.django_db


def url(patient):
    return f"/api/patients/{patient.pk}/message/"


def token():
    return secrets.token_urlsafe(18)


@pytest.fixture
def template(clinic):
    return message_template_save(
        clinic=clinic, name="复查提醒", body="{姓名}您好，{医生}提醒您按时复查。"
    )


@pytest.fixture
def reachable(make_patient, wecom_staff, staff):
    """A patient who may be sent a message: WeCom contact, consent, assistant and doctor."""
    return make_patient(
        name="周芳",
        external_userid="wmZHOUFANG",
        assigned_assistant=staff["assistant"],
        assigned_doctor=staff["doctor"],
    )


def test_two_identical_posts_with_one_token_queue_one_message(
    api, staff, reachable, template, django_capture_on_commit_callbacks
):
    client = api(staff["assistant"])
    data = {"template": template.pk, "token": token()}
    with django_capture_on_commit_callbacks() as wakeups:
        first = client.post(url(reachable), data, format="json")
        again = client.post(url(reachable), data, format="json")
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["id"] == again.json()["id"]
    assert (first.json()["created"], again.json()["created"]) == (True, False)
    assert first.json()["status"] == "pending" and first.json()["status_display"] == "待发送"
    assert first.json()["sender_name"] == "a-assistant"
    assert len(wakeups) == 1  # one worker wake-up, for the one row
    [delivery] = Delivery.objects.filter(patient=reachable)
    assert delivery.channel == "customer_message" and delivery.recipient == "wmZHOUFANG"
    assert delivery.sender == "wx-assistant"
    assert delivery.body.startswith("周芳您好，a-doctor提醒您按时复查。")
    assert delivery.body.endswith("急症请立即就医或拨打120。")
    assert delivery.idempotency_key.startswith(f"message:{reachable.pk}:")
    # No timeline entry yet: the outbox writes it when WeCom accepts the message.
    assert not reachable.touches.filter(kind=TouchKind.MESSAGE).exists()
    # A new token is a new message: today's cap (1 by default) refuses it, nothing is added.
    third = client.post(url(reachable), {**data, "token": token()}, format="json")
    assert third.status_code == 400
    assert third.json()["message"] == "该患者现在不能接收消息：今天已收到过群发消息"
    assert Delivery.objects.filter(patient=reachable).count() == 1


def test_edited_text_is_sent_as_edited_with_variables_filled(api, staff, reachable, template):
    response = api(staff["doctor"]).post(
        url(reachable),
        {"template": template.pk, "token": token(), "text": "{姓名}，报告已出，一切正常。"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["text"].startswith("周芳，报告已出，一切正常。")
    assert Delivery.objects.get(patient=reachable).payload["template_id"] == template.pk


def refused(client, patient, template, **data):
    response = client.post(
        url(patient), {"template": template.pk, "token": token(), **data}, format="json"
    )
    assert response.status_code == 400, response.json()
    body = response.json()
    assert body["code"] == "invalid"
    return body["message"] + " " + str(body["errors"])


def test_each_refusal_says_why_in_chinese_and_queues_nothing(
    api, clinic, staff, make_patient, reachable, template, wecom_staff
):
    client = api(staff["assistant"])
    common = {"assigned_assistant": staff["assistant"], "assigned_doctor": staff["doctor"]}
    cases = [
        (make_patient(external_userid="wm1", consent_to_contact=False, **common), "未同意接收消息"),
        (make_patient(external_userid="wm2", stage=Stage.CHURNED, **common), "流失"),
        (make_patient(**common), "未添加企业微信"),
    ]
    for patient, reason in cases:
        assert refused(client, patient, template).startswith(f"该患者现在不能接收消息：{reason}")
    # No assistant, no doctor, and the sending user has no WeCom account either.
    nobody = make_patient(external_userid="wm4")
    message = refused(api(staff["operations"]), nobody, template, text="您好")
    assert "没有可代发的员工企业微信账号" in message
    # A template using {医生} for a patient without a doctor.
    no_doctor = make_patient(external_userid="wm5", assigned_assistant=staff["assistant"])
    assert "{医生}" in refused(client, no_doctor, template)
    # Red lines: the text a patient would read is checked, edited or not.
    message = refused(client, reachable, template, text="{姓名}，本院包治失眠")
    assert "包治" in message and "医疗广告管理办法" in message
    assert "{备注}" in refused(client, reachable, template, text="{姓名}，{备注}")
    assert "token" in refused(client, reachable, template, token="short")
    # The weekly cap (2 here) of customer messages in 7 days, none of them today.
    ContentSettings.objects.filter(clinic=clinic).update(per_customer_weekly_cap=2)
    for days in (2, 3):
        delivery, _created = patient_message_send(
            patient=reachable, template=template, token=token()
        )
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(days=days)
        )
    assert "超过每周群发上限" in refused(client, reachable, template)
    assert Delivery.objects.count() == 2  # only the two written above


def test_the_sending_users_wecom_account_comes_after_the_assistants_and_doctors(
    api, staff, make_patient, template
):
    Membership.objects.filter(user=staff["operations"]).update(wecom_userid="wx-ops")
    patient = make_patient(external_userid="wm9")
    response = api(staff["operations"]).post(
        url(patient), {"template": template.pk, "token": token(), "text": "您好"}, format="json"
    )
    assert response.status_code == 201 and response.json()["sender_name"] == "a-operations"
    assert Delivery.objects.get(patient=patient).sender == "wx-ops"


def test_state_says_whether_the_patient_can_be_sent_a_message(
    api, staff, make_patient, reachable, wecom_staff
):
    client = api(staff["assistant"])
    assert client.get(url(reachable)).json() == {
        "patient": reachable.pk,
        "can_send": True,
        "blocked": None,
        "sender_name": "a-assistant",
    }
    churned = make_patient(external_userid="wm2", stage=Stage.CHURNED)
    blocked = client.get(url(churned)).json()["blocked"]
    assert blocked == {"reason": "churned", "label": "流失"}


def test_another_clinics_patient_or_template_is_a_404(
    api, staff, outsider, other_clinic, make_patient, reachable, template
):
    data = {"template": template.pk, "token": token()}
    for response in (
        api(outsider).get(url(reachable)),
        api(outsider).post(url(reachable), data, format="json"),
    ):
        assert response.status_code == 404 and response.json()["code"] == "not_found"
    theirs = message_template_save(clinic=other_clinic, name="外院", body="您好")
    response = api(staff["assistant"]).post(
        url(reachable), {**data, "template": theirs.pk}, format="json"
    )
    assert response.status_code == 404 and response.json()["message"] == "没有这个消息模板。"
    their_patient = make_patient(external_userid="wmX", target_clinic=other_clinic)
    response = api(staff["assistant"]).post(url(their_patient), data, format="json")
    assert response.status_code == 404
    assert not Delivery.objects.exists()


def test_nurse_outside_her_wards_gets_404_and_inside_them_cannot_send(
    api, nurse, nurse_ward, make_patient, staff, template, wecom_staff
):
    common = {"external_userid": "wm7", "assigned_assistant": staff["assistant"]}
    theirs = make_patient(name="别病区")
    mine = make_patient(name="本病区", ward=nurse_ward, **common)
    client = api(nurse)
    data = {"template": template.pk, "token": token()}
    assert client.get(url(theirs)).status_code == 404
    assert client.post(url(theirs), data, format="json").status_code == 404
    # Her ward's patient: she sees the state, but sends nothing (as the templates' preview).
    assert client.get(url(mine)).json()["can_send"] is False
    response = client.post(url(mine), data, format="json")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"
    assert not Delivery.objects.exists()


def test_a_real_send_reaches_the_fake_wecom_once_and_the_timeline(
    api, staff, reachable, template, wecom_account, fake_wecom
):
    client = api(staff["assistant"])
    data = {"template": template.pk, "token": token()}
    delivery_id = client.post(url(reachable), data, format="json").json()["id"]
    assert delivery_send_task(delivery_id) == "sent"  # the worker's part, in-process
    # The retried request after the send answers the same message and sends nothing more.
    again = client.post(url(reachable), data, format="json")
    assert again.status_code == 200 and again.json()["status"] == "sent"
    assert delivery_send_task(delivery_id) == "not-due"
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmZHOUFANG"] and message["sender"] == "wx-assistant"
    expected = "周芳您好，a-doctor提醒您按时复查。\n\n急症请立即就医或拨打120。"
    assert message["content"] == expected
    assert Delivery.objects.get(pk=delivery_id).status == DeliveryStatus.SENT
    [touch] = reachable.touches.filter(kind=TouchKind.MESSAGE)
    wording = touch.payload.pop("wording")["msgid"]
    assert wording == "Handed to WeCom, the staff member confirms it there: %(body)s"
    assert touch.payload == {
        "delivery_id": delivery_id,
        "status": "sent",
        "channel": "customer_message",
    }
    assert expected[:20] in touch.summary
