"""Satisfaction surveys: the link, one answer per link, expiry, tampering, the timeline
contract the dashboard reads, and service recovery after a low score."""

from datetime import timedelta
from urllib.parse import urlparse

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from content.models import SurveyInvitation
from content.surveys import survey_answer, survey_invite, survey_save
from crm.models import Membership
from patients.choices import TouchKind
from tests.conftest import survey_form
from wechat.models import Delivery, DeliveryChannel
from wechat.services import delivery_send

pytestmark = pytest.mark.django_db


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="就诊满意度", question="您对本次就诊满意吗？", scale=5)


@pytest.fixture
def patient(make_patient, assistant, doctor):
    Membership.objects.filter(user=assistant).update(wecom_userid="zhuli-li")
    return make_patient(
        name="赵六", external_userid="wmZHAO", assigned_assistant=assistant, assigned_doctor=doctor
    )


def path(invitation):
    return urlparse(invitation.link).path


def test_invite_enqueues_the_link_and_writes_the_sent_touch(
    clinic, survey, patient, assistant, wecom_account, fake_wecom
):
    invitation = survey_invite(survey=survey, patient=patient, by=assistant)
    touch = patient.touches.get(kind=TouchKind.SURVEY)
    assert "msgid" in touch.payload.pop("wording")  # worded for each reader
    assert touch.payload == {
        "event": "sent",
        "survey_id": survey.pk,
        "invitation_id": invitation.pk,
    }
    delivery = invitation.delivery
    assert delivery.idempotency_key == f"survey:{invitation.pk}:invite"
    assert delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE and delivery.sender == "zhuli-li"
    assert invitation.link in delivery.body and delivery.body.endswith("急症请立即就医或拨打120。")
    assert delivery_send(delivery.pk) == "sent"
    assert fake_wecom.customer_messages[0]["external_userid"] == ["wmZHAO"]
    # Only the token's hash is stored.
    token = path(invitation).rstrip("/").rsplit("/", 1)[1]
    assert token not in SurveyInvitation.objects.get(pk=invitation.pk).token_hash


def test_patient_without_wecom_gets_a_link_but_no_message(clinic, survey, make_patient):
    invitation = survey_invite(survey=survey, patient=make_patient())
    assert invitation.delivery is None and invitation.link
    assert not Delivery.objects.exists()


def test_answer_goes_to_the_timeline_in_the_dashboard_shape(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    page = client.get(path(invitation))
    assert page.status_code == 200 and "您对本次就诊满意吗" in page.content.decode()
    response = client.post(path(invitation), survey_form(survey, "4", "医生很耐心"))
    assert response.status_code == 200
    answered = patient.touches.get(kind=TouchKind.SURVEY, payload__event="answered")
    assert "msgid" in answered.payload.pop("wording")  # worded for each reader
    assert answered.payload == {
        "event": "answered",
        "score": 4,
        "scale": 5,
        "survey_id": survey.pk,
        "invitation_id": invitation.pk,
    }
    assert "医生很耐心" in answered.summary
    assert not patient.touches.filter(kind=TouchKind.FOLLOWUP).exists()


def test_link_answered_twice_keeps_the_first_answer(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    client.post(path(invitation), survey_form(survey, "5", "很好"))
    second = client.post(path(invitation), survey_form(survey, "1", "改主意了"))
    assert second.status_code == 200
    text = second.content.decode()
    assert "已经提交过" in text and "5 / 5" in text
    invitation.refresh_from_db()
    assert invitation.score == 5
    answers = invitation.answers.order_by("question__position")
    assert list(answers.values_list("score", "text")) == [(5, ""), (None, "很好")]
    assert patient.touches.filter(kind=TouchKind.SURVEY, payload__event="answered").count() == 1
    _again, first = survey_answer(invitation=invitation, score=2)
    assert first is False and SurveyInvitation.objects.get(pk=invitation.pk).score == 5


def test_expired_link_gets_a_clear_page(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    SurveyInvitation.objects.filter(pk=invitation.pk).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    for response in (
        client.get(path(invitation)),
        client.post(path(invitation), survey_form(survey, "5")),
    ):
        assert response.status_code == 410
        assert "已过期" in response.content.decode()
    assert SurveyInvitation.objects.get(pk=invitation.pk).score is None


def test_tampered_link_gets_a_clear_page(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    good = path(invitation)
    token = good.rstrip("/").rsplit("/", 1)[1]
    tampered = good.replace(token, token[:-1] + ("x" if token[-1] != "x" else "y"))
    for url in (tampered, "/r/s/abc/", "/r/s/" + "a" * 300 + "/"):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "链接无效" in response.content.decode()
    assert client.post(tampered, survey_form(survey, "5")).status_code == 404


def test_bad_score_is_a_clear_error_not_a_500(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    for data in (survey_form(survey, "9"), survey_form(survey, "abc"), {}, {"q999999": "5"}):
        response = client.post(path(invitation), data)
        assert response.status_code == 400
        assert "alert-danger" in response.content.decode()
    assert SurveyInvitation.objects.get(pk=invitation.pk).answered_at is None
    with pytest.raises(ValidationError):
        survey_answer(invitation=invitation, score=0)


def test_low_score_writes_the_service_recovery_entry(client, clinic, survey, patient):
    """The follow-ups' trigger scan makes the task from it (test_content_service_recovery)."""
    invitation = survey_invite(survey=survey, patient=patient)
    client.post(path(invitation), survey_form(survey, "2", "等太久"))
    followup = patient.touches.get(kind=TouchKind.FOLLOWUP)
    assert "msgid" in followup.payload.pop("wording")  # worded for each reader
    assert followup.payload == {
        "event": "service_recovery_needed",
        "score": 2,
        "scale": 5,
        "comment": "等太久",
        "survey_id": survey.pk,
        "invitation_id": invitation.pk,
    }
    assert "2/5" in followup.summary
    # No message of its own: the task reaches the assistant through the queue and digest.
    assert not Delivery.objects.filter(channel=DeliveryChannel.APP_MESSAGE).exists()


def test_ten_point_scale_threshold(clinic, patient):
    survey = survey_save(clinic=clinic, title="NPS", question="推荐意愿？", scale=10)
    six = survey_invite(survey=survey, patient=patient)
    seven = survey_invite(survey=survey, patient=patient)
    survey_answer(invitation=seven, score=7)
    assert not patient.touches.filter(kind=TouchKind.FOLLOWUP).exists()
    survey_answer(invitation=six, score=6)
    assert patient.touches.filter(kind=TouchKind.FOLLOWUP).count() == 1
    answered = patient.touches.filter(kind=TouchKind.SURVEY, payload__event="answered")
    assert sorted(t.payload["score"] for t in answered) == [6, 7]
    assert {t.payload["scale"] for t in answered} == {10}


def test_survey_for_another_clinics_patient_is_refused(survey, make_patient, other_clinic):
    with pytest.raises(ValidationError):
        survey_invite(survey=survey, patient=make_patient(target_clinic=other_clinic))


@pytest.fixture
def english_request_resets_language(settings):
    """A request in English leaves English active in this thread; later tests expect Chinese."""
    from django.utils import translation

    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_patient_pages_speak_english_on_request(
    client, survey, patient, english_request_resets_language
):
    invitation = survey_invite(survey=survey, patient=patient)
    page = client.get(path(invitation), HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Submit" in page and "dial 120" in page
    gone = client.get("/r/s/nope/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "This survey link is not valid" in gone
    client.post(path(invitation), survey_form(survey, "5"), HTTP_ACCEPT_LANGUAGE="en")
    answered = patient.touches.get(kind=TouchKind.SURVEY, payload__event="answered")
    assert answered.summary.startswith("满意度调查已回答")  # staff read it in Chinese
