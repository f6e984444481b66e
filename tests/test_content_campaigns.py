"""Mass messages: the segment, exclusions with reasons (counted in the database), caps,
scheduling, and sending through the outbox to the fake WeCom exactly once per patient."""

from collections import Counter
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from content.campaigns import (
    campaign_cancel,
    campaign_key,
    campaign_preview,
    campaign_results,
    campaign_save,
    campaign_schedule,
    campaign_start,
    campaigns_due_ids,
)
from content.models import Campaign, CampaignRecipient, CampaignStatus, ExclusionReason
from content.tasks import campaigns_scan
from crm.models import Membership
from patients.choices import Stage, TouchKind
from patients.models import Patient, TaggedPatient
from tests.conftest import tag
from wechat import services as outbox
from wechat.models import ContentSettings, Delivery, DeliveryStatus, RateBucket

pytestmark = pytest.mark.django_db


def send_all_due():
    """What the worker does, in-process: send every due delivery until none is left. Pacing
    may push rows a little into the future; time is moved on for them, as in test_outbox."""
    results = Counter()
    for _round in range(50):
        due = outbox.deliveries_due_ids(limit=5000)
        if not due:
            waiting = Delivery.objects.filter(status=DeliveryStatus.PENDING)
            if not waiting.exists():
                break
            waiting.update(next_attempt_at=timezone.now())
            RateBucket.objects.update(next_free_at=timezone.now())
            continue
        for delivery_id in due:
            results[outbox.delivery_send(delivery_id)] += 1
    return results


@pytest.fixture
def senders(clinic, staff):
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="zhuli-li")
    Membership.objects.filter(user=staff["doctor"]).update(wecom_userid="yisheng-wang")
    return staff


def test_segment_uses_the_patient_filter_and_refuses_unknown_filters(clinic):
    with pytest.raises(ValidationError):
        campaign_save(clinic=clinic, name="x", body="b", segment={"colour": "red"})
    with pytest.raises(ValidationError):
        campaign_save(clinic=clinic, name="x", body="b", segment={"stage": ["nope"]})
    campaign = campaign_save(
        clinic=clinic, name="x", body="b", segment={"stage": "after_visit", "tag": [3, 4]}
    )
    assert campaign.segment == {"stage": ["after_visit"], "tag": "3,4"}
    # JSON booleans are the query string's true/false for every yes/no filter.
    campaign = campaign_save(
        clinic=clinic, name="y", body="b", segment={"has_open_followups": True, "has_wecom": False}
    )
    assert campaign.segment == {"has_open_followups": "true", "has_wecom": "false"}


def test_red_line_and_unknown_variables_block_a_campaign(clinic):
    with pytest.raises(ValidationError) as error:
        campaign_save(clinic=clinic, name="x", body="{诊所}本院包治失眠")
    assert "包治" in str(error.value)
    with pytest.raises(ValidationError) as error:
        campaign_save(clinic=clinic, name="x", body="{姓名}，{复诊日期}见")
    assert "{复诊日期}" in str(error.value)
    assert not Campaign.objects.exists()


def test_preview_counts_and_reasons(clinic, senders, make_patient, wecom_account):
    doctor, assistant = senders["doctor"], senders["assistant"]
    common = {"assigned_assistant": assistant, "assigned_doctor": doctor}
    make_patient(name="可发", external_userid="wm1", **common)
    make_patient(name="拒绝", external_userid="wm2", consent_to_contact=False, **common)
    make_patient(name="流失", external_userid="wm3", stage=Stage.CHURNED, **common)
    make_patient(name="无微信", **common)
    make_patient(name="无人发", external_userid="wm5")
    make_patient(name="只有医生", external_userid="wm6", assigned_doctor=doctor)
    today = make_patient(name="今天发过", external_userid="wm7", **common)
    outbox.delivery_enqueue(
        clinic=clinic, key=f"campaign:99:{today.pk}", channel="customer_message",
        recipient="wm7", sender="zhuli-li", body="讲座通知", patient=today,
    )  # fmt: skip
    reminded = make_patient(name="今天有复查提醒", external_userid="wm8", **common)
    # A care reminder the same day does not count toward the mass-message caps.
    outbox.delivery_enqueue(
        clinic=clinic, key="followup:1:msg", channel="customer_message", recipient="wm8",
        sender="zhuli-li", body="复查提醒", patient=reminded, payload={"purpose": "care"},
    )  # fmt: skip
    preview = campaign_preview(clinic=clinic, segment={}, body="{姓名}，讲座通知")
    assert (preview["total"], preview["included"], preview["excluded"]) == (8, 3, 5)
    assert {r["reason"]: r["count"] for r in preview["reasons"]} == {
        "no_consent": 1,
        "churned": 1,
        "no_wecom": 1,
        "no_sender": 1,
        "daily_cap": 1,
    }
    labels = {r["reason"]: r["label"] for r in preview["reasons"]}
    assert labels["no_consent"] == str(ExclusionReason.NO_CONSENT.label)


def test_weekly_cap_and_no_doctor_for_the_doctor_variable(clinic, senders, make_patient):
    ContentSettings.objects.update_or_create(
        clinic=clinic, defaults={"per_customer_daily_cap": 0, "per_customer_weekly_cap": 2}
    )
    busy = make_patient(
        external_userid="wm1",
        assigned_assistant=senders["assistant"],
        assigned_doctor=senders["doctor"],
    )
    make_patient(external_userid="wm2", assigned_assistant=senders["assistant"])
    for n in range(2):
        delivery, _ = outbox.delivery_enqueue(
            clinic=clinic, key=f"c:{n}", channel="customer_message", recipient="wm1",
            sender="zhuli-li", body="x", patient=busy, payload={"capped": True},
        )  # fmt: skip
        Delivery.objects.filter(pk=delivery.pk).update(
            next_attempt_at=timezone.now() - timedelta(days=2 + n)
        )
    preview = campaign_preview(clinic=clinic, segment={}, body="{医生}提醒您")
    assert {r["reason"]: r["count"] for r in preview["reasons"]} == {
        "no_doctor": 1,
        "weekly_cap": 1,
    }


def test_clinic_wide_cap_on_campaigns_per_day(clinic):
    ContentSettings.objects.update_or_create(clinic=clinic, defaults={"campaigns_per_day_cap": 1})
    later = timezone.now() + timedelta(hours=1)
    first = campaign_save(clinic=clinic, name="一", body="通知")
    campaign_schedule(campaign=first, send_at=later)
    second = campaign_save(clinic=clinic, name="二", body="通知")
    with pytest.raises(ValidationError) as error:
        campaign_schedule(campaign=second, send_at=later)
    assert "send_at" in error.value.message_dict
    campaign_schedule(campaign=second, send_at=later + timedelta(days=1))


def test_scheduled_campaign_starts_when_due_from_the_beat_scan(
    clinic, senders, make_patient, wecom_account, fake_wecom, django_capture_on_commit_callbacks
):
    make_patient(name="王五", external_userid="wm1", assigned_assistant=senders["assistant"])
    campaign = campaign_save(clinic=clinic, name="讲座", body="{诊所}周六有讲座")
    campaign_schedule(campaign=campaign, send_at=timezone.now() + timedelta(hours=2))
    assert campaigns_due_ids() == []
    assert campaign_start(campaign_id=campaign.pk) == "not-due"
    Campaign.objects.filter(pk=campaign.pk).update(send_at=timezone.now() - timedelta(seconds=1))
    assert campaigns_scan.run() == 1  # it enqueues the start task; run its body here
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    fake_wecom.add_contact(userid="zhuli-li", external_userid="wm1")
    assert send_all_due() == {"sent": 2}  # the task, and the app message telling zhuli-li
    message = fake_wecom.customer_messages[0]
    assert message["sender"] == "zhuli-li" and message["content"].startswith("甲诊所周六有讲座")
    assert message["content"].endswith("急症请立即就医或拨打120。")


def test_cancel_only_before_start(clinic):
    campaign = campaign_save(clinic=clinic, name="x", body="通知")
    campaign_schedule(campaign=campaign, send_at=timezone.now() + timedelta(days=1))
    assert campaign_cancel(campaign=campaign).status == CampaignStatus.CANCELED
    with pytest.raises(ValidationError):
        campaign_schedule(campaign=campaign)


def test_campaign_to_2000_patients_messages_each_eligible_patient_exactly_once(
    clinic, other_clinic, senders, wecom_account, fake_wecom
):
    """The done-when test: a segment of 2,000 patients through the fake WeCom."""
    assistant, doctor = senders["assistant"], senders["doctor"]
    disease = tag(clinic, "糖尿病")
    # Every 10 patients: 6 eligible, and one of each exclusion.
    kinds = ["ok", "ok", "ok", "ok", "ok", "ok", "no_consent", "churned", "no_wecom", "no_sender"]
    patients = []
    for n in range(2000):
        kind = kinds[n % 10]
        patients.append(
            Patient(
                clinic=clinic,
                name=f"患者{n:04d}",
                external_userid="" if kind == "no_wecom" else f"wm{n:04d}",
                consent_to_contact=kind != "no_consent",
                stage=Stage.CHURNED if kind == "churned" else Stage.AFTER_VISIT,
                assigned_assistant=None if kind == "no_sender" else assistant,
                assigned_doctor=doctor if n % 2 and kind != "no_sender" else None,
                tag_ids=[disease.pk],  # rows written directly carry what the services keep
            )
        )
    patients = Patient.objects.bulk_create(patients)
    TaggedPatient.objects.bulk_create(
        [TaggedPatient(content_object=p, tag=disease) for p in patients]
    )
    # Outside the segment: an untagged patient and another clinic's patient with the same tag name.
    Patient.objects.create(clinic=clinic, name="不在分组", external_userid="wmOUT",
                           assigned_assistant=assistant)  # fmt: skip
    their_tag = tag(other_clinic, "糖尿病")
    stranger = Patient.objects.create(
        clinic=other_clinic, name="外院", external_userid="wmX", tag_ids=[their_tag.pk]
    )
    TaggedPatient.objects.create(content_object=stranger, tag=their_tag)
    # Some patients had a hand-sent message today already: 3 of the would-be eligible ones.
    already = [p for p in patients if kinds[patients.index(p) % 10] == "ok"][:3]
    for p in already:
        # Contacts in WeCom, so their message counts (one WeCom reports as not reached
        # would not count against the cap).
        fake_wecom.add_contact(userid="zhuli-li", external_userid=p.external_userid)
        outbox.delivery_enqueue(
            clinic=clinic, key=f"message:{p.pk}:tok", channel="customer_message",
            recipient=p.external_userid, sender="zhuli-li", body="您好", patient=p,
            payload={"capped": True},
        )  # fmt: skip
    send_all_due()
    fake_wecom.reset()

    segment = {"tag": str(disease.pk), "stage": ["after_visit", "churned"]}
    body = "您好，{诊所}本周六举办糖尿病饮食讲座，欢迎参加。"
    preview = campaign_preview(clinic=clinic, segment=segment, body=body)
    assert (preview["total"], preview["included"], preview["excluded"]) == (2000, 1197, 803)

    campaign = campaign_save(clinic=clinic, name="糖尿病讲座", body=body, segment=segment)
    campaign_schedule(campaign=campaign)
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    results = send_all_due()
    # The task; no notice, as nobody is the sender's contact in the fake (all in fail_list).
    assert results["sent"] == 1 and set(results) <= {"sent", "paced"}

    # One WeCom task, of the one sender, with each eligible patient exactly once.
    assert len(fake_wecom.customer_messages) == 1
    received = Counter(uid for m in fake_wecom.customer_messages for uid in m["external_userid"])
    eligible = {p.external_userid for n, p in enumerate(patients) if kinds[n % 10] == "ok"} - {
        p.external_userid for p in already
    }
    assert set(received) == eligible and set(received.values()) == {1}
    assert {m["sender"] for m in fake_wecom.customer_messages} == {"zhuli-li"}
    assert fake_wecom.customer_messages[0]["content"].startswith("您好，甲诊所本周六")

    # Every segment patient has one row; every excluded one a reason.
    rows = CampaignRecipient.objects.filter(campaign=campaign)
    assert rows.count() == 2000
    assert rows.filter(included=False, reason="").count() == 0
    assert dict(Counter(rows.filter(included=False).values_list("reason", flat=True))) == {
        "no_consent": 200, "churned": 200, "no_wecom": 200, "no_sender": 200, "daily_cap": 3,
    }  # fmt: skip
    assert rows.filter(included=True, delivery__status=DeliveryStatus.SENT).count() == 1197
    campaign.refresh_from_db()
    assert campaign.status == CampaignStatus.AWAITING  # until WeCom reports the task sent
    assert (campaign.included_count, campaign.excluded_count) == (1197, 803)
    assert (
        Delivery.objects.filter(idempotency_key__startswith=f"campaign:{campaign.pk}:").count() == 1
    )
    # None of them is a WeCom contact in the fake: WeCom's fail_list, on each timeline.
    outbox.customer_results_poll()
    first = Patient.objects.get(clinic=clinic, name="患者0005")
    assert not first.touches.filter(kind=TouchKind.MESSAGE).exists()
    assert campaign_results(campaign=campaign)["results"][2] == {
        "status": "not_contact", "label": "不是发送员工的客户联系人", "count": 1197,
    }  # fmt: skip

    # Re-running sends nothing more: the start again, a forced re-run, the worker again.
    assert campaign_start(campaign_id=campaign.pk) == "not-due"
    Campaign.objects.filter(pk=campaign.pk).update(status=CampaignStatus.SENDING)
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    outbox.delivery_enqueue(
        clinic=clinic, key=campaign_key(campaign.pk, "zhuli-li"), channel="customer_message",
        recipient=first.external_userid, sender="zhuli-li", body="again", patient=first,
    )  # fmt: skip
    assert send_all_due() == Counter()
    assert len(fake_wecom.customer_messages) == 1
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2000
    assert not fake_wecom.customer_messages or all(
        m["external_userid"][0] not in {"wmOUT", "wmX"} for m in fake_wecom.customer_messages
    )


def test_beat_starts_due_campaigns_every_minute(settings):
    assert settings.CELERY_BEAT_SCHEDULE["campaigns-scan"]["task"] == "content.tasks.campaigns_scan"
