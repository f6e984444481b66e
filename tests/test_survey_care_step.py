"""A care plan's survey step names a survey; when due, the patient's invitation is made and
the reminder carries its tracked link (the composer fills {链接})."""

from datetime import date, datetime
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from content.models import SurveyInvitation
from content.surveys import invitation_for_token, survey_save
from crm.models import Membership
from followups import services
from followups.models import Action, ReminderState
from patients.choices import TouchKind
from tests.followups_factories import step
from wechat import services as outbox
from wechat.models import Delivery

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
DUE = datetime(2026, 3, 1, 10, tzinfo=SHANGHAI)


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="就诊满意度", question="满意吗？", scale=10)


@pytest.fixture
def patient(make_patient, staff):
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="wx-assistant")
    return make_patient(
        name="赵六", external_userid="wm-zhao", assigned_assistant=staff["assistant"]
    )


def survey_task(clinic, patient, **kw):
    kw.setdefault("message", "{姓名}您好，请评价本次就诊：{链接}")
    template = services.template_create(
        clinic=clinic, name="满意度", steps=[step("满意度调查", 0, Action.SURVEY, **kw)]
    )
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    return plan.tasks.get()


def test_due_survey_step_sends_the_tracked_link(clinic, survey, patient, wecom_account, fake_wecom):
    task = survey_task(clinic, patient, survey_id=survey.pk)
    assert task.plan.version.steps[0]["survey_id"] == survey.pk
    assert services.patient_reminders_enqueue(now=DUE)["enqueued"] == 1
    invitation = SurveyInvitation.objects.get(patient=patient)
    assert invitation.survey == survey
    delivery = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder")
    assert delivery.body.startswith("赵六您好，请评价本次就诊：http")
    assert "{" not in delivery.body and delivery.body.endswith("急症请立即就医或拨打120。")
    # The link in the message opens this invitation.
    link = next(w for w in delivery.body.split() if "/r/s/" in w).split("：")[-1]
    token = urlparse(link).path.rstrip("/").rsplit("/", 1)[1]
    assert invitation_for_token(token)[0] == invitation
    assert patient.touches.filter(kind=TouchKind.SURVEY, payload__event="sent").count() == 1
    assert outbox.delivery_send(delivery.pk) == "sent"
    assert "/r/s/" in fake_wecom.customer_messages[0]["content"]


def test_text_without_the_placeholder_gets_the_link_appended(clinic, survey, patient):
    task = survey_task(clinic, patient, survey_id=survey.pk, message="{姓名}您好，请评价本次就诊。")
    services.patient_reminders_enqueue(now=DUE)
    body = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder").body
    assert "/r/s/" in body and body.startswith("赵六您好，请评价本次就诊。 http")


def test_step_without_a_survey_uses_the_newest_active_one(clinic, survey, patient):
    survey_task(clinic, patient)
    services.patient_reminders_enqueue(now=DUE)
    assert SurveyInvitation.objects.get(patient=patient).survey == survey


def test_survey_switched_off_skips_with_the_reason_and_makes_no_link(clinic, survey, patient):
    task = survey_task(clinic, patient, survey_id=survey.pk)
    survey.is_active = False
    survey.save()
    assert services.patient_reminders_enqueue(now=DUE)["skipped"] == 1
    task.refresh_from_db()
    assert task.reminder_state == ReminderState.SKIPPED
    assert not SurveyInvitation.objects.exists() and not Delivery.objects.exists()
    assert "调查" in patient.touches.get(payload__event="reminder_skipped").summary


def test_patient_without_consent_gets_no_link(clinic, survey, patient):
    from patients.models import Patient

    survey_task(clinic, patient, survey_id=survey.pk)
    Patient.objects.filter(pk=patient.pk).update(consent_to_contact=False)
    assert services.patient_reminders_enqueue(now=DUE)["skipped"] == 1
    assert not SurveyInvitation.objects.exists() and not Delivery.objects.exists()


@pytest.mark.parametrize("bad", ["x", 999999, "other"])
def test_step_naming_another_clinics_or_no_survey_is_refused(
    clinic, other_clinic, survey, patient, bad
):
    if bad == "other":
        bad = survey_save(clinic=other_clinic, title="乙", question="满意吗？").pk
    with pytest.raises(ValidationError) as error:
        survey_task(clinic, patient, survey_id=bad)
    assert "有效的满意度调查" in str(error.value)


def test_link_placeholder_only_in_survey_steps(clinic, patient):
    with pytest.raises(ValidationError):
        services.template_create(
            clinic=clinic,
            name="x",
            steps=[step("提醒", 0, Action.MESSAGE, message="{姓名}您好 {链接}")],
        )


def test_template_editor_picks_the_survey_of_a_step(client, admin_user, clinic, survey):
    client.force_login(admin_user)
    template = services.template_create(
        clinic=clinic, name="满意度", steps=[step("电话", 1, Action.CALL)]
    )
    url = f"/followups/templates/{template.pk}/"
    page = client.get(url).content.decode()
    assert "发送的满意度调查" in page and "就诊满意度" in page
    data = {
        "name": "满意度",
        "trigger": "manual",
        "anchor": "trigger",
        "is_active": "on",
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "0",
        "steps-0-title": "满意度调查",
        "steps-0-offset_days": "3",
        "steps-0-action": "survey",
        "steps-0-role": "assistant",
        "steps-0-message": "{姓名}您好，请评价：{链接}",
        "steps-0-survey_id": str(survey.pk),
        "steps-0-window_start": "09:00",
        "steps-0-window_end": "18:00",
    }
    assert client.post(url, data).status_code == 302
    template.refresh_from_db()
    saved = template.current_version.steps[0]
    assert (saved["survey_id"], saved["message"]) == (survey.pk, "{姓名}您好，请评价：{链接}")
    # Another clinic's survey is not offered, so not accepted either; nothing is saved.
    data["steps-0-survey_id"] = "999999"
    response = client.post(url, data)
    assert response.status_code == 200 and template.current_version.number == 2
    template.refresh_from_db()
    assert template.current_version.number == 2
