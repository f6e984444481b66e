"""Customer messages against the faithful fake WeCom: a campaign is one add_msg_template per
sender (not per patient), each task waits for its staff member's confirmation, and every
patient's result comes from WeCom (delivered, not a contact, daily limit, not confirmed).
Also a single message on the same path, reminders and expiry of unconfirmed tasks, and the
reconcile of a call left in doubt."""

import json
import secrets
from datetime import timedelta

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.utils import timezone

from content.campaigns import (
    campaign_results,
    campaign_save,
    campaign_schedule,
    campaign_start,
    campaigns_settle,
)
from content.messages import patient_message_check
from content.models import CampaignRecipient, CampaignStatus
from content.templates_service import message_template_save
from crm.models import Membership, Role
from patients.choices import Stage, TouchKind
from patients.models import Patient
from tests.test_content_campaigns import send_all_due
from wechat import groupmsg
from wechat import services as outbox
from wechat.fake.groupmsg import _day
from wechat.models import Delivery, DeliveryAttempt, DeliveryRecipient, DeliveryStatus

pytestmark = pytest.mark.django_db
SENDERS = ("zhuli-a", "zhuli-b", "zhuli-c")


def assistants(clinic):
    User = get_user_model()
    users = []
    for userid in SENDERS:
        user = User.objects.create_user(username=userid, password="x")
        Membership.objects.create(
            user=user, clinic=clinic, role=Role.ASSISTANT, wecom_userid=userid
        )
        users.append(user)
    return users


def results(campaign) -> dict:
    return {r["status"]: r["count"] for r in campaign_results(campaign=campaign)["results"]}


def test_fake_follows_wecoms_rules_for_mass_messages(fake_wecom):
    fake_wecom.add_contact(userid="zhuli-a", external_userid="wm1")
    fake_wecom.add_contact(userid="zhuli-a", external_userid="wm2")
    body = {"chat_type": "single", "sender": "zhuli-a", "text": {"content": "通知"}}
    too_many = fake_wecom.add_msg_template({**body, "external_userid": ["wm1"] * 10_001})
    assert too_many["errcode"] == 40058
    assert fake_wecom.add_msg_template({**body, "sender": "", "external_userid": ["wm1"]})[
        "errcode"
    ]
    first = fake_wecom.add_msg_template({**body, "external_userid": ["wm1", "wm2", "wmX"]})
    assert first["errcode"] == 0 and first["fail_list"] == ["wmX"]
    # Nothing is sent before the member confirms.
    task = fake_wecom.get_groupmsg_task({"msgid": first["msgid"]})["task_list"]
    assert task == [{"userid": "zhuli-a", "status": 0}]
    rows = fake_wecom.get_groupmsg_send_result({"msgid": first["msgid"], "userid": "zhuli-a"})
    assert {r["external_userid"]: r["status"] for r in rows["send_list"]} == {"wm1": 0, "wm2": 0}
    # wm2 deletes the member before they confirm: status 2. A second task the same day: 3.
    fake_wecom.remove_follow(userid="zhuli-a", external_userid="wm2")
    second = fake_wecom.add_msg_template({**body, "external_userid": ["wm1"]})
    assert fake_wecom.confirm(userid="zhuli-a") == [first["msgid"], second["msgid"]]
    rows = fake_wecom.get_groupmsg_send_result({"msgid": first["msgid"], "userid": "zhuli-a"})
    assert {r["external_userid"]: r["status"] for r in rows["send_list"]} == {"wm1": 1, "wm2": 2}
    rows = fake_wecom.get_groupmsg_send_result({"msgid": second["msgid"], "userid": "zhuli-a"})
    assert [r["status"] for r in rows["send_list"]] == [3]
    assert fake_wecom.mass_delivered() == {"wm1": 1}
    # Reminded at most three times a day; the list is by time window, at most a month.
    for _n in range(3):
        assert fake_wecom.remind_groupmsg_send({"msgid": first["msgid"]})["errcode"] == 0
    assert fake_wecom.remind_groupmsg_send({"msgid": first["msgid"]})["errcode"] == 41070
    now = int(timezone.now().timestamp())
    listed = fake_wecom.get_groupmsg_list_v2({"start_time": now - 60, "end_time": now + 60})
    assert [t["msgid"] for t in listed["group_msg_list"]] == [first["msgid"], second["msgid"]]
    assert "creator" not in listed["group_msg_list"][0]
    span = fake_wecom.get_groupmsg_list_v2({"start_time": 0, "end_time": now})
    assert span["errcode"] == 40058


def test_fake_control_api_confirms_as_the_staff_member_and_sets_the_cap(fake_wecom_server):
    fake, base_url = fake_wecom_server
    fake.reset()
    control = base_url.removesuffix("cgi-bin/") + "_fake/"
    fake.add_contact(userid="zhuli-a", external_userid="wm1")
    made = fake.add_msg_template(
        {"sender": "zhuli-a", "external_userid": ["wm1"], "text": {"content": "x"}}
    )
    assert (
        requests.post(control + "settings", json={"mass_daily_cap": 2}, timeout=5).json()[
            "mass_daily_cap"
        ]
        == 2
    )
    answer = requests.post(control + "confirm", json={"userid": "zhuli-a"}, timeout=5).json()
    assert answer["confirmed"] == [made["msgid"]]
    assert requests.post(control + "confirm", json={}, timeout=5).status_code == 400
    state = requests.get(control + "state", timeout=5).json()
    assert state["mass_delivered"] == {"wm1": 1} and state["mass_daily_cap"] == 2


def test_campaign_to_2000_patients_of_3_senders_is_3_tasks_with_results_per_patient(
    clinic, other_clinic, staff, wecom_account, fake_wecom, api, client, settings
):
    users = assistants(clinic)
    patients = Patient.objects.bulk_create(
        [
            Patient(
                clinic=clinic,
                name=f"患者{n:04d}",
                external_userid=f"wm{n:04d}",
                assigned_assistant=users[n % 3],
                stage=Stage.AFTER_VISIT,
            )
            for n in range(2000)
        ]
    )
    by_sender = {userid: [p for p in patients if p.assigned_assistant_id == u.pk]
                 for userid, u in zip(SENDERS, users, strict=True)}  # fmt: skip
    a, b, c = (by_sender[s] for s in SENDERS)
    # In WeCom: every patient is their assistant's contact but five of A's, and four of A's
    # already received a mass message today (from another tool).
    strangers, already = a[:5], a[5:9]
    for userid, mine in by_sender.items():
        for patient in mine:
            if patient not in strangers:
                fake_wecom.add_contact(userid=userid, external_userid=patient.external_userid)
    today = _day(timezone.now().timestamp())
    for patient in already:
        fake_wecom.mass_received[(patient.external_userid, today)] = 1

    body = "{诊所}本周六举办糖尿病饮食讲座，欢迎参加。"
    campaign = campaign_save(clinic=clinic, name="糖尿病讲座", body=body, segment={})
    campaign_schedule(campaign=campaign)
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    sent = send_all_due()
    assert sent["sent"] == 3 + 3  # three tasks, then one confirmation notice per sender

    # Exactly three add_msg_template calls: one per sender, each with all their patients.
    assert fake_wecom.calls["externalcontact/add_msg_template"] == 3
    tasks = {t["sender"]: t for t in fake_wecom.customer_messages}
    assert set(tasks) == set(SENDERS)
    for userid, mine in by_sender.items():
        assert tasks[userid]["external_userid"] == [p.external_userid for p in mine]
    texts = {t["content"] for t in tasks.values()}
    assert texts == {"甲诊所本周六举办糖尿病饮食讲座，欢迎参加。\n\n急症请立即就医或拨打120。"}
    assert tasks["zhuli-a"]["fail_list"] == [p.external_userid for p in strangers]
    # Each sender is told, by an app message, what to confirm in WeCom.
    notices = {m["touser"]: m["content"] for m in fake_wecom.messages}
    assert set(notices) == set(SENDERS)
    assert "糖尿病讲座" in notices["zhuli-a"] and "群发助手" in notices["zhuli-a"]
    assert f"{len(a) - 5} 位客户" in notices["zhuli-a"]

    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.AWAITING
    assert campaign.get_status_display() == "等待员工确认"
    assert results(campaign) == {
        "pending": 1995, "delivered": 0, "not_contact": 5, "daily_limit": 0,
        "unconfirmed": 0, "failed": 0, "excluded": 0,
    }  # fmt: skip

    # Before A confirms, one of A's patients deletes them. A and B confirm; C does not.
    gone = a[20]
    fake_wecom.remove_follow(userid="zhuli-a", external_userid=gone.external_userid)
    fake_wecom.confirm(userid="zhuli-a")
    fake_wecom.confirm(userid="zhuli-b")
    polled = outbox.customer_results_poll()
    assert polled["final"] == 2 and polled["waiting"] == 1
    assert outbox.customer_results_poll()["final"] == 0  # again: nothing changes
    assert results(campaign) == {
        "pending": len(c), "delivered": len(a) - 10 + len(b), "not_contact": 6,
        "daily_limit": 4, "unconfirmed": 0, "failed": 0, "excluded": 0,
    }  # fmt: skip
    assert campaigns_settle() == 0  # C's task still waits

    # The API: the counts, and each patient's own result.
    reader = api(staff["operations"])
    answer = reader.get(f"/api/campaigns/{campaign.pk}/results/").json()
    assert answer["tasks"] == 3 and answer["included"] == 2000
    counts = {r["status"]: (r["label"], r["count"]) for r in answer["results"]}
    assert counts["daily_limit"] == ("今天已收到过群发消息", 4)
    assert counts["not_contact"] == ("不是发送员工的客户联系人", 6)
    assert counts["pending"] == ("等待员工确认", len(c))
    rows = reader.get(f"/api/campaigns/{campaign.pk}/recipients/?page_size=200").json()
    by_patient = {row["patient"]: row for row in rows["results"]}
    assert by_patient[gone.pk]["result"] == "not_contact"
    assert by_patient[already[0].pk]["result_display"] == "今天已收到过群发消息"
    assert by_patient[b[0].pk]["result"] == "delivered"
    assert by_patient[c[0].pk]["result"] == "pending"
    # The campaign page shows them too.
    client.force_login(staff["operations"])
    page = client.get(f"/content/campaigns/{campaign.pk}/").content.decode()
    assert "等待员工确认" in page and "3 个群发任务" in page
    assert (
        f'<tr data-status="delivered"><td>已送达</td><td class="text-end">{len(a) - 10 + len(b)}'
        in page
    )
    # The timeline of each patient with a result says it.
    assert b[0].touches.filter(kind=TouchKind.MESSAGE, payload__status="delivered").count() == 1

    # C is reminded (WeCom's remind_groupmsg_send) after WECOM_MASS_REMIND_AFTER ...
    later = timezone.now() + timedelta(seconds=settings.WECOM_MASS_REMIND_AFTER + 1)
    assert outbox.customer_results_poll(now=later)["reminded"] == 1
    assert len(tasks["zhuli-c"]["reminded"]) == 1
    assert outbox.customer_results_poll(now=later)["waiting"] == 1  # not twice at once
    # ... and expires after WECOM_MASS_CONFIRM_WITHIN: cancelled in WeCom, 未确认.
    expired = timezone.now() + timedelta(seconds=settings.WECOM_MASS_CONFIRM_WITHIN)
    assert outbox.customer_results_poll(now=expired)["expired"] == 1
    assert tasks["zhuli-c"]["canceled"]
    assert results(campaign)["unconfirmed"] == len(c) and results(campaign)["pending"] == 0
    assert c[0].touches.filter(payload__status="unconfirmed").count() == 1
    assert campaigns_settle() == 1
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.SENT and campaign.finished_at is not None

    # Starting it again makes no new task.
    assert campaign_start(campaign_id=campaign.pk) == "not-due"
    assert send_all_due() == {}
    assert fake_wecom.calls["externalcontact/add_msg_template"] == 3
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2000


def test_a_campaign_text_cannot_be_personal(clinic):
    with pytest.raises(ValidationError) as error:
        campaign_save(clinic=clinic, name="x", body="{姓名}您好，{医生}提醒您")
    message = error.value.message_dict["body"][0]
    assert "{姓名}、{医生}" in message and "内容相同" in message
    assert campaign_save(clinic=clinic, name="y", body="{诊所}讲座").body == "{诊所}讲座"


def test_a_single_message_is_a_task_of_one_the_staff_member_confirms(
    api, staff, make_patient, wecom_staff, wecom_account, fake_wecom
):
    patient = make_patient(
        name="周芳", external_userid="wmZF", assigned_assistant=staff["assistant"]
    )
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmZF")
    template = message_template_save(clinic=patient.clinic, name="t", body="{姓名}您好")
    answer = api(staff["assistant"]).post(
        f"/api/patients/{patient.pk}/message/",
        {"template": template.pk, "token": secrets.token_urlsafe(18)},
        format="json",
    )
    assert answer.status_code == 201
    assert "在企业微信中确认" in answer.json()["confirm_in_wecom"]
    assert answer.json()["result"] == "pending"
    send_all_due()
    [task] = fake_wecom.customer_messages
    assert task["sender"] == "wx-assistant" and task["external_userid"] == ["wmZF"]
    [notice] = fake_wecom.messages
    assert notice["touser"] == "wx-assistant" and "给周芳的消息" in notice["content"]
    assert patient.touches.filter(summary__startswith="已交给企业微信").count() == 1
    assert outbox.customer_results_poll()["waiting"] == 1
    fake_wecom.confirm(userid="wx-assistant", msgid=task["msgid"])
    assert outbox.customer_results_poll()["final"] == 1
    row = DeliveryRecipient.objects.get(patient=patient)
    assert row.status == "delivered"
    assert patient.touches.filter(summary__startswith="企业微信群发结果：已送达").count() == 1


def test_a_call_in_doubt_is_looked_up_in_wecom_before_any_resend(
    clinic, make_patient, wecom_staff, wecom_account, fake_wecom
):
    """A worker died during add_msg_template: the row is flagged. If WeCom has the task
    (same sender, text and customer in the attempt's window) it is recorded, not resent;
    if WeCom has none, it is sent."""
    rows = []
    for n, external_userid in enumerate(["wmA", "wmB"]):
        patient = make_patient(name=f"p{n}", external_userid=external_userid)
        fake_wecom.add_contact(userid="wx-assistant", external_userid=external_userid)
        delivery, _ = outbox.delivery_enqueue(
            clinic=clinic, key=f"k{n}", channel="customer_message", recipient=external_userid,
            sender="wx-assistant", body="请按时复查。", patient=patient,
        )  # fmt: skip
        rows.append(delivery)
    # The first one's call reached WeCom before the worker died; the second's did not.
    made = fake_wecom.add_msg_template(
        {"sender": "wx-assistant", "external_userid": ["wmA"], "text": {"content": "请按时复查。"}}
    )
    for delivery in rows:
        DeliveryAttempt.objects.create(clinic=delivery.clinic, delivery=delivery)
        Delivery.objects.filter(pk=delivery.pk).update(
            status=DeliveryStatus.SENDING, claimed_at=timezone.now() - timedelta(hours=1)
        )
    assert outbox.deliveries_recover_stale() == 2
    assert Delivery.objects.filter(possible_duplicate=True).count() == 2
    Delivery.objects.update(next_attempt_at=timezone.now())
    send_all_due()
    assert fake_wecom.calls["externalcontact/add_msg_template"] == 1  # wmB's, not wmA's again
    assert [t["external_userid"] for t in fake_wecom.customer_messages] == [["wmA"], ["wmB"]]
    first, second = (Delivery.objects.get(pk=d.pk) for d in rows)
    assert first.status == second.status == DeliveryStatus.SENT
    assert first.provider_message_id == made["msgid"]
    assert second.provider_message_id == fake_wecom.customer_messages[1]["msgid"]
    assert fake_wecom.calls["externalcontact/get_groupmsg_list_v2"] == 2


def test_task_find_needs_the_same_sender_text_and_customers(
    clinic, make_patient, wecom_staff, wecom_account, fake_wecom
):
    patient = make_patient(external_userid="wmA")
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmA")
    fake_wecom.add_contact(userid="wx-doctor", external_userid="wmA")
    delivery, _ = outbox.delivery_enqueue(
        clinic=clinic, key="k", channel="customer_message", recipient="wmA",
        sender="wx-assistant", body="复查", patient=patient,
    )  # fmt: skip
    account = wecom_account
    for other in (
        {"sender": "wx-doctor", "text": "复查"},
        {"sender": "wx-assistant", "text": "别的"},
    ):
        fake_wecom.add_msg_template(
            {"sender": other["sender"], "external_userid": ["wmA"],
             "text": {"content": other["text"]}}
        )  # fmt: skip
    assert groupmsg.task_find(account, delivery, ["wmA"]) is None
    json.dumps(fake_wecom.state())  # the control state stays JSON


def test_a_patient_of_a_campaign_task_has_had_todays_message(
    clinic, staff, make_patient, wecom_staff, wecom_account, fake_wecom
):
    """The campaign's one delivery carries many patients: each counts against their own
    daily cap through their recipient row, unless WeCom reported them not reached."""
    reached = make_patient(name="甲", external_userid="wm1", assigned_assistant=staff["assistant"])
    stranger = make_patient(name="乙", external_userid="wm2", assigned_assistant=staff["assistant"])
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wm1")
    campaign = campaign_save(clinic=clinic, name="讲座", body="{诊所}讲座")
    campaign_schedule(campaign=campaign)
    campaign_start(campaign_id=campaign.pk)
    send_all_due()
    assert patient_message_check(patient=reached) == ("wx-assistant", "daily_cap")
    # wm2 was in WeCom's fail_list: it received nothing, so it may still get a message.
    assert patient_message_check(patient=stranger) == ("wx-assistant", "")


def test_the_demo_fake_starts_with_the_patients_as_contacts_of_their_staff(
    make_patient, staff, wecom_staff, fake_wecom
):
    from wechat.management.commands.fakewecom import Command

    make_patient(name="甲", external_userid="wm1", assigned_assistant=staff["assistant"],
                 assigned_doctor=staff["doctor"])  # fmt: skip
    make_patient(name="乙")  # no WeCom contact
    assert Command()._load_contacts(fake_wecom) == 2
    follows = {f["userid"] for f in fake_wecom.contacts["wm1"]["follow_user"]}
    assert follows == {"wx-assistant", "wx-doctor"} and len(fake_wecom.contacts) == 1
