"""A campaign's WeCom task (add_msg_template of one sender) re-checks every customer through
the audience rule when the outbox actually sends it: a patient who withdrew consent,
deleted the sender, churned or reached a cap between scheduling and sending is left out,
recorded with the reason, and never reaches WeCom; a task with nobody left is not sent."""

import pytest
from django.utils import timezone

from content.campaigns import campaign_results, campaign_save, campaign_schedule, campaign_start
from content.models import CampaignRecipient
from crm.models import Membership
from patients.choices import Stage, TouchKind
from patients.services import patient_update
from tests.test_content_campaigns import send_all_due
from wechat import services as outbox
from wechat.contacts import contact_lost
from wechat.models import (
    ContactArrival,
    ContentSettings,
    Delivery,
    DeliveryRecipient,
    DeliveryStatus,
    RecipientStatus,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def scheduled(clinic, staff, make_patient, wecom_account, fake_wecom):
    """Five patients of the assistant, all contacts in WeCom, a campaign recorded and its
    task in the outbox, not yet sent."""
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="zhuli-li")
    patients = {}
    for n, name in enumerate(["留下", "撤回同意", "删了好友", "流失", "今天发过"]):
        uid = f"wmR{n}"
        patient = make_patient(
            name=name, external_userid=uid, assigned_assistant=staff["assistant"]
        )
        ContactArrival.objects.create(clinic=clinic, patient=patient, staff_userid="zhuli-li")
        fake_wecom.add_contact(userid="zhuli-li", external_userid=uid)
        patients[name] = patient
    campaign = campaign_save(clinic=clinic, name="讲座", body="{诊所}周六讲座，欢迎参加。")
    campaign_schedule(campaign=campaign)
    # Recorded and enqueued, but the worker has not sent it yet.
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    task = Delivery.objects.get(idempotency_key__startswith=f"campaign:{campaign.pk}:")
    assert task.status == DeliveryStatus.PENDING
    assert task.recipient_rows.count() == 5
    return campaign, task, patients


def test_each_customer_is_checked_again_when_the_task_is_sent(clinic, staff, scheduled, fake_wecom):
    campaign, task, patients = scheduled
    ContentSettings.objects.update_or_create(clinic=clinic, defaults={"per_customer_daily_cap": 1})
    # Between scheduling and sending:
    patient_update(patient=patients["撤回同意"], consent_marketing=False)
    contact_lost(patient=patients["删了好友"], userid="zhuli-li", summary="删除", payload={})
    patients["流失"].stage = Stage.CHURNED
    patients["流失"].save(update_fields=["stage"])
    # A hand-sent message that left today: the daily cap of one is reached.
    single, _created = outbox.delivery_enqueue(
        clinic=clinic, key="message:x:tok", channel="customer_message",
        recipient=patients["今天发过"].external_userid, sender="zhuli-li", body="您好",
        patient=patients["今天发过"], payload={"capped": True},
    )  # fmt: skip
    Delivery.objects.filter(pk=single.pk).update(status=DeliveryStatus.SENT, sent_at=timezone.now())

    assert send_all_due()["sent"] >= 1
    # WeCom received one task with the one patient left.
    assert [m["external_userid"] for m in fake_wecom.customer_messages] == [["wmR0"]]
    rows = {r.external_userid: r for r in DeliveryRecipient.objects.filter(delivery=task)}
    assert rows["wmR0"].status == RecipientStatus.PENDING
    assert {uid: (r.status, r.reason) for uid, r in rows.items() if uid != "wmR0"} == {
        "wmR1": ("excluded", "no_marketing"),
        "wmR2": ("excluded", "contact_lost"),
        "wmR3": ("excluded", "churned"),
        "wmR4": ("excluded", "daily_cap"),
    }
    task.refresh_from_db()
    assert task.status == DeliveryStatus.SENT
    # Each excluded patient's timeline says why; the results count them.
    touch = patients["撤回同意"].touches.filter(kind=TouchKind.MESSAGE).get()
    assert touch.payload["reason"] == "no_marketing"
    results = campaign_results(campaign=campaign)
    assert {r["reason"]: r["count"] for r in results["excluded_at_send"]} == {
        "no_marketing": 1, "contact_lost": 1, "churned": 1, "daily_cap": 1,
    }  # fmt: skip
    assert {r["status"]: r["count"] for r in results["results"]}["excluded"] == 4
    # The campaign's own rows were recorded at scheduling: all five were messaged then.
    assert CampaignRecipient.objects.filter(campaign=campaign, included=True).count() == 5


def test_a_task_with_nobody_left_is_not_sent(clinic, scheduled, fake_wecom):
    campaign, task, patients = scheduled
    for name, patient in patients.items():
        if name == "撤回同意":
            patient_update(patient=patient, consent_to_contact=False)
        else:
            contact_lost(patient=patient, userid="zhuli-li", summary="删除", payload={})

    results = send_all_due()
    assert results["skipped"] == 1 and not results["sent"]
    assert fake_wecom.customer_messages == []
    task.refresh_from_db()
    assert task.status == DeliveryStatus.SKIPPED
    assert "excluded" in task.last_error or "排除" in task.last_error
    reasons = dict(
        DeliveryRecipient.objects.filter(delivery=task).values_list("external_userid", "reason")
    )
    assert reasons == {
        "wmR0": "contact_lost", "wmR1": "no_consent", "wmR2": "contact_lost",
        "wmR3": "contact_lost", "wmR4": "contact_lost",
    }  # fmt: skip
    # No confirmation notice to the sender for a task WeCom never got.
    assert not Delivery.objects.filter(idempotency_key__startswith="confirm:").exists()


def test_a_task_in_doubt_after_a_dead_worker_is_not_rechecked(clinic, scheduled, fake_wecom):
    """WeCom may already have the task with every customer (task_find looks for it): the
    customers are not changed under it."""
    campaign, task, patients = scheduled
    Delivery.objects.filter(pk=task.pk).update(possible_duplicate=True)
    patient_update(patient=patients["撤回同意"], consent_marketing=False)
    send_all_due()
    assert not DeliveryRecipient.objects.filter(status=RecipientStatus.EXCLUDED).exists()
    assert sorted(fake_wecom.customer_messages[0]["external_userid"]) == [
        f"wmR{n}" for n in range(5)
    ]
