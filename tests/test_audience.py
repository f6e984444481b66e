"""The one audience rule (wechat.audience): consent per purpose, deleted WeCom contacts (churn,
the at-risk list, one win-back task), the sender still a contact, caps counting only what
staff choose to send, and the same rule at send time in the outbox."""

import secrets
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pytest

from content.campaigns import campaign_preview
from content.messages import patient_message_check, patient_message_send
from content.models import MessageTemplate
from followups import services as followups
from followups.models import Action, FollowUpTask, ReminderState
from followups.triggers import triggers_scan
from patients.choices import Stage, TouchKind
from patients.dashboard import retention
from patients.models import Patient, StageTransition
from patients.services import patient_update
from tests.followups_factories import step
from wechat import audience, outbox
from wechat.contacts import contact_arrive, contact_leave
from wechat.models import ContactArrival, Delivery, DeliveryStatus

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


def re_exam(clinic, patient, anchor=date(2026, 3, 1)):
    template = followups.template_create(
        clinic=clinic,
        name=f"复查{patient.pk}",
        steps=[step("复查提醒", 0, Action.RE_EXAM, message="{name}您好，请于{date}来院复查。")],
    )
    plan, _ = followups.plan_start(patient=patient, template=template, anchor_date=anchor)
    return plan.tasks.get()


def reminders_now():
    return followups.patient_reminders_enqueue(now=datetime(2026, 3, 1, 10, tzinfo=SHANGHAI))


@pytest.fixture
def added(callback_account, wecom_staff, staff):
    """A patient who added the assistant on WeCom (a welcome-less arrival)."""
    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wm-del", userid="wx-assistant"
    )
    patient_update(
        patient=patient, assigned_assistant=staff["assistant"], assigned_doctor=staff["doctor"]
    )
    return patient


def test_deleting_the_last_contact_churns_excludes_lists_and_makes_one_win_back_task(
    clinic, callback_account, added, staff
):
    task = re_exam(clinic, added)
    contact_leave(
        account=callback_account, external_userid="wm-del", userid="wx-assistant", by_patient=True
    )
    added.refresh_from_db()
    assert added.stage == Stage.CHURNED
    transition = StageTransition.objects.filter(patient=added).latest("at")
    assert transition.to_stage == Stage.CHURNED and "企业微信" in transition.reason
    # Every sender's audience excludes the patient, with that reason.
    preview = campaign_preview(clinic=clinic, segment={}, body="{姓名}，讲座通知")
    assert {r["reason"]: r["count"] for r in preview["reasons"]} == {"contact_lost": 1}
    sender, exclusion = patient_message_check(patient=added)
    assert exclusion == audience.Exclusion.CONTACT_LOST
    FollowUpTask.objects.filter(pk=task.pk).update(status="open")  # the churn closed the plan
    assert reminders_now()["skipped"] == 1
    skipped = added.touches.get(payload__event="reminder_skipped")
    assert "删除" in skipped.summary
    assert not Delivery.objects.filter(patient=added).exists()
    # On the at-risk list although it was just touched (a deletion is not a contact).
    risky = retention.at_risk(clinic=clinic, days=90)
    assert [row["id"] for row in risky["list"]] == [added.pk] and risky["patients"] == 1
    # Exactly one win-back task, for the assistant, however often the scan runs or the
    # event comes again.
    triggers_scan()
    triggers_scan()
    contact_leave(
        account=callback_account, external_userid="wm-del", userid="wx-assistant", by_patient=True
    )
    triggers_scan()
    win_back = FollowUpTask.objects.filter(patient=added, title__contains="挽回")
    assert win_back.count() == 1
    assert win_back.get().assignee == staff["assistant"]
    assert added.touches.filter(kind=TouchKind.CHURN_SIGNAL).count() == 1


def test_a_patient_who_adds_the_clinic_again_comes_back(clinic, callback_account, added):
    contact_leave(
        account=callback_account, external_userid="wm-del", userid="wx-assistant", by_patient=True
    )
    contact_arrive(account=callback_account, external_userid="wm-del", userid="wx-assistant")
    added.refresh_from_db()
    assert added.stage == Stage.LEAD
    assert patient_message_check(patient=added)[1] == ""
    assert retention.at_risk(clinic=clinic, days=90)["patients"] == 0


def test_with_a_contact_left_the_patient_stays_and_the_sender_is_one_still_a_contact(
    clinic, callback_account, added
):
    contact_arrive(account=callback_account, external_userid="wm-del", userid="wx-doctor")
    contact_leave(
        account=callback_account, external_userid="wm-del", userid="wx-assistant", by_patient=True
    )
    added.refresh_from_db()
    assert added.stage != Stage.CHURNED
    # The assistant is no longer a contact: the doctor sends.
    assert patient_message_check(patient=added) == ("wx-doctor", "")
    triggers_scan()
    assert not FollowUpTask.objects.filter(patient=added).exists()


def test_the_outbox_skips_a_message_whose_sender_is_no_longer_a_contact(
    clinic, callback_account, added, wecom_account
):
    contact_arrive(account=callback_account, external_userid="wm-del", userid="wx-doctor")
    delivery, _ = outbox.delivery_enqueue(
        clinic=clinic, key="message:x:1", channel="customer_message", recipient="wm-del",
        sender="wx-assistant", body="您好", patient=added,
    )  # fmt: skip
    contact_leave(
        account=callback_account, external_userid="wm-del", userid="wx-assistant", by_patient=True
    )
    assert outbox.delivery_send(delivery.pk) == "skipped"
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SKIPPED
    assert delivery.last_error == str(audience.Exclusion.NO_SENDER.label)


@pytest.mark.parametrize(
    "change, campaign_reason, reminder_sent",
    [
        ({"consent_marketing": False}, "no_marketing", True),
        ({"consent_to_contact": False}, "no_consent", False),
    ],
)
def test_consent_per_purpose(
    clinic, make_patient, wecom_staff, staff, change, campaign_reason, reminder_sent
):
    patient = make_patient(
        external_userid="wm-c", assigned_assistant=staff["assistant"], consent_to_contact=True
    )
    task = re_exam(clinic, patient)
    patient_update(patient=patient, actor=staff["admin"], **change)
    preview = campaign_preview(clinic=clinic, segment={}, body="讲座通知")
    assert {r["reason"]: r["count"] for r in preview["reasons"]} == {campaign_reason: 1}
    FollowUpTask.objects.filter(pk=task.pk).update(status="open")
    result = reminders_now()
    assert result["enqueued" if reminder_sent else "skipped"] == 1
    task.refresh_from_db()
    assert (task.reminder_state == ReminderState.ENQUEUED) is reminder_sent


def test_a_withdrawn_marketing_consent_stops_a_queued_campaign_message_at_send_time(
    clinic, make_patient, wecom_staff, staff, wecom_account
):
    patient = make_patient(external_userid="wm-q", assigned_assistant=staff["assistant"])
    delivery, _ = outbox.delivery_enqueue(
        clinic=clinic, key=f"campaign:5:{patient.pk}", channel="customer_message",
        recipient="wm-q", sender="wx-assistant", body="讲座通知", patient=patient,
        payload={"purpose": "marketing", "capped": True},
    )  # fmt: skip
    patient_update(patient=patient, consent_marketing=False)
    assert outbox.delivery_send(delivery.pk) == "skipped"
    care, _ = outbox.delivery_enqueue(
        clinic=clinic, key="followup:9:reminder", channel="customer_message",
        recipient="wm-q", sender="wx-assistant", body="复查提醒", patient=patient,
        payload={"purpose": "care"},
    )  # fmt: skip
    assert outbox.delivery_send(care.pk) == "sent"


def test_consent_changes_record_when_and_how_through_the_api(api, make_patient, staff):
    patient = make_patient()
    client = api(staff["admin"])
    response = client.patch(
        f"/api/patients/{patient.pk}/",
        {"consent_marketing": False, "consent_marketing_how": "患者来电要求"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["consent_marketing"] is False and body["consent_to_contact"] is True
    assert body["consent_marketing_how"] == "患者来电要求"
    assert body["consent_marketing_changed_at"] is not None
    assert body["consent_care_changed_at"] is None
    response = client.patch(
        f"/api/patients/{patient.pk}/", {"consent_to_contact": False}, format="json"
    )
    patient.refresh_from_db()
    assert patient.consent_care_changed_at is not None
    assert staff["admin"].get_username() in patient.consent_care_how


def test_a_hand_sent_message_after_a_same_day_reminder_is_not_capped(
    clinic, make_patient, wecom_staff, staff
):
    patient = make_patient(external_userid="wm-r", assigned_assistant=staff["assistant"])
    outbox.delivery_enqueue(
        clinic=clinic, key="followup:1:reminder", channel="customer_message", recipient="wm-r",
        sender="wx-assistant", body="复查提醒", patient=patient, payload={"purpose": "care"},
    )  # fmt: skip
    template = MessageTemplate.objects.create(clinic=clinic, name="问候", body="{姓名}您好")
    delivery, created = patient_message_send(
        patient=patient, template=template, token=secrets.token_urlsafe(16), by=staff["assistant"]
    )
    assert created and delivery.payload["capped"] is True
    # ...but a second hand-sent one the same day is (the daily cap, 1 by default).
    assert patient_message_check(patient=patient)[1] == audience.Exclusion.DAILY_CAP


def test_a_campaign_of_many_patients_asks_the_rule_in_a_fixed_number_of_queries(
    clinic, make_patient, wecom_staff, staff, django_assert_max_num_queries
):
    for n in range(30):
        make_patient(
            name=f"患者{n}", external_userid=f"wm-{n}", assigned_assistant=staff["assistant"]
        )
    with django_assert_max_num_queries(3):
        rows = list(
            audience.annotate_audience(
                Patient.objects.filter(clinic=clinic),
                purpose=audience.Purpose.MARKETING,
                daily_cap=1,
                weekly_cap=4,
            ).values_list("sender", "exclusion")
        )
    assert rows == [("wx-assistant", "")] * 30
    assert ContactArrival.objects.count() == 0
