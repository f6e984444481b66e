"""Survey invitations from the survey page: picked patients or a segment, through the
audience rule (care) and the composer, one invitation per patient, refusals counted."""

import re

import pytest

from content.models import SurveyInvitation
from content.surveys import survey_answer, survey_invite, survey_invite_many, survey_save
from crm.models import Membership
from patients.choices import Stage, TouchKind
from wechat.models import Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="就诊满意度", question="您对本次就诊满意吗？", scale=10)


@pytest.fixture
def reachable(make_patient, assistant, doctor):
    Membership.objects.filter(user=assistant).update(wecom_userid="zhuli-li")

    def make(name, **kwargs):
        kwargs.setdefault("external_userid", f"wm{name}")
        return make_patient(
            name=name, assigned_assistant=assistant, assigned_doctor=doctor, **kwargs
        )

    return make


def post_invite(client, survey, patients=(), **segment):
    data = {"action": "invite", "survey": survey.pk, "patients": [p.pk for p in patients]}
    data.update(segment)
    return client.post("/content/surveys/", data)


def test_picked_patients_get_one_composed_link_each_and_refusals_are_counted(
    client, assistant, survey, reachable, make_patient
):
    zhao, qian = reachable("赵六"), reachable("钱七")
    no_consent = reachable("孙八", consent_to_contact=False)
    no_wecom = make_patient(name="李九")
    client.force_login(assistant)

    response = post_invite(client, survey, [zhao, qian, no_consent, no_wecom])

    assert response.status_code == 200
    result = response.context["invite_result"]
    assert (result.sent, result.already) == (2, 0)
    assert result.refused == {"未同意接收消息": 1, "未添加企业微信": 1}
    page = response.content.decode()
    assert "已发送 2 份邀请" in page and "未添加企业微信: 1" in page
    deliveries = Delivery.objects.order_by("pk")
    assert [d.patient_id for d in deliveries] == [zhao.pk, qian.pk]
    for delivery in deliveries:
        invitation = SurveyInvitation.objects.get(delivery=delivery)
        # The composer: {姓名} and {诊所} filled, the tracked link, the 120 notice.
        assert delivery.body.startswith(delivery.patient.name)
        assert "{" not in delivery.body and "/r/s/" in delivery.body
        assert delivery.body.endswith("急症请立即就医或拨打120。")
        assert delivery.sender == "zhuli-li" and invitation.sent_by == assistant
        assert delivery.payload["purpose"] == "care"
    # Refused patients get nothing: no link, no touch, no message.
    assert not SurveyInvitation.objects.filter(patient__in=[no_consent, no_wecom]).exists()
    assert not no_wecom.touches.filter(kind=TouchKind.SURVEY).exists()
    assert zhao.touches.filter(kind=TouchKind.SURVEY, payload__event="sent").count() == 1


def test_sending_again_is_idempotent_per_patient(client, assistant, survey, reachable):
    zhao = reachable("赵六")
    client.force_login(assistant)
    post_invite(client, survey, [zhao])
    response = post_invite(client, survey, [zhao])
    result = response.context["invite_result"]
    assert (result.sent, result.already, result.refused_total) == (0, 1, 0)
    assert SurveyInvitation.objects.filter(patient=zhao).count() == 1
    assert Delivery.objects.count() == 1


def test_answered_invitation_still_counts_but_an_expired_open_one_does_not(
    assistant, survey, reachable
):
    from django.utils import timezone

    zhao, qian = reachable("赵六"), reachable("钱七")
    first = survey_invite(survey=survey, patient=zhao)
    survey_answer(invitation=first, score=9)
    old = survey_invite(survey=survey, patient=qian)
    SurveyInvitation.objects.filter(pk=old.pk).update(expires_at=timezone.now())
    patients = zhao.__class__.objects.filter(pk__in=[zhao.pk, qian.pk])
    result = survey_invite_many(survey=survey, patients=patients, by=assistant)
    assert (result.sent, result.already) == (1, 1)
    assert SurveyInvitation.objects.filter(patient=qian).count() == 2


def test_segment_selects_the_patients(client, assistant, survey, reachable):
    from patients.models import Patient

    active, other = reachable("赵六"), reachable("钱七")

    Patient.objects.filter(pk=active.pk).update(stage=Stage.AFTER_VISIT)
    Patient.objects.filter(pk=other.pk).update(stage=Stage.LEAD)
    client.force_login(assistant)
    response = post_invite(client, survey, stage=[Stage.AFTER_VISIT])
    assert response.context["invite_result"].sent == 1
    assert list(SurveyInvitation.objects.values_list("patient_id", flat=True)) == [active.pk]


def test_churned_patient_in_a_segment_is_refused_with_the_reason(
    client, assistant, survey, reachable
):
    from patients.models import Patient

    gone = reachable("赵六")
    Patient.objects.filter(pk=gone.pk).update(stage=Stage.CHURNED)
    client.force_login(assistant)
    response = post_invite(client, survey, stage=[Stage.CHURNED])
    result = response.context["invite_result"]
    assert result.sent == 0 and result.refused_total == 1
    assert not Delivery.objects.exists()


def test_nothing_picked_is_a_clear_error(client, assistant, survey):
    client.force_login(assistant)
    response = post_invite(client, survey)
    assert response.status_code == 400
    assert "请选择患者或分组" in response.content.decode()
    assert not SurveyInvitation.objects.exists()


def test_another_clinics_patient_or_survey_is_refused(
    client, assistant, survey, reachable, make_patient, other_clinic
):
    stranger = make_patient(name="外人", target_clinic=other_clinic, external_userid="wmX")
    foreign_survey = survey_save(clinic=other_clinic, title="乙", question="满意吗？", scale=5)
    client.force_login(assistant)
    assert post_invite(client, survey, [stranger]).status_code == 400
    assert post_invite(client, foreign_survey, [reachable("赵六")]).status_code == 400
    assert not SurveyInvitation.objects.exists() and not Delivery.objects.exists()


def test_nurse_may_not_send(client, nurse, survey, reachable):
    zhao = reachable("赵六")
    client.force_login(nurse)
    assert post_invite(client, survey, [zhao]).status_code == 403
    assert not SurveyInvitation.objects.exists()


def test_switched_off_survey_is_not_offered(client, assistant, survey, reachable):
    survey.is_active = False
    survey.save()
    client.force_login(assistant)
    assert post_invite(client, survey, [reachable("赵六")]).status_code == 400
    assert not SurveyInvitation.objects.exists()


def test_the_picker_takes_any_patient_the_user_sees_and_refuses_others(
    client, assistant, survey, reachable, make_patient, other_clinic
):
    # The picker searches the server (no list of the newest few hundred): the page lists no
    # patient, a picked one is taken however old, another clinic's is refused on the field.
    oldest = reachable("周一")
    for _ in range(3):
        make_patient(name="吴二")
    outsider = make_patient(name="郑三", target_clinic=other_clinic)
    client.force_login(assistant)

    page = client.get("/content/surveys/").content.decode()
    assert "周一" not in page and "data-search-patients" in page

    response = post_invite(client, survey, [oldest])
    assert response.context["invite_result"].sent == 1

    response = post_invite(client, survey, [outsider])
    assert response.status_code == 400
    assert 'data-field="patients"' in response.content.decode()
    assert not SurveyInvitation.objects.filter(patient=outsider).exists()


def test_staff_read_the_sent_invitation_without_the_patients_link_token(
    client, assistant, survey, reachable, wecom_account, fake_wecom
):
    from wechat.tasks import delivery_send_task

    zhao = reachable("赵六")
    client.force_login(assistant)
    post_invite(client, survey, [zhao])
    invitation = SurveyInvitation.objects.get(patient=zhao)
    assert delivery_send_task(invitation.delivery_id) == "sent"

    # The patient gets the link with its token; the timeline shows the link without it.
    [message] = fake_wecom.customer_messages
    [token] = re.findall(r"/r/s/([^/\s]+)/", message["content"])
    assert len(token) >= 20
    [touch] = zhao.touches.filter(kind=TouchKind.MESSAGE)
    assert token not in touch.summary and "/r/s/…" in touch.summary
