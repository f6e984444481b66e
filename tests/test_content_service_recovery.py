"""Service recovery: a low satisfaction score becomes exactly one call-back task for the
assistant, made by the follow-ups' trigger scan from the survey's timeline entry."""

import threading
from datetime import datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection

from content.surveys import survey_answer, survey_invite, survey_save
from crm.models import Membership, Role
from followups import services as followups
from followups.models import FollowUpTask, TaskStatus, TriggerCursor
from followups.triggers import _recovery_due
from patients.choices import TouchKind
from patients.services import patient_update
from tests.conftest import survey_form
from wechat.models import Delivery, DeliveryChannel

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")


@pytest.fixture
def survey(clinic):
    return survey_save(clinic=clinic, title="就诊满意度", question="您对本次就诊满意吗？", scale=5)


@pytest.fixture
def patient(make_patient, assistant, doctor):
    Membership.objects.filter(user=assistant).update(wecom_userid="zhuli-li")
    return make_patient(
        name="赵六", external_userid="wmZHAO", assigned_assistant=assistant, assigned_doctor=doctor
    )


def answer(client, survey, patient, score, comment=""):
    invitation = survey_invite(survey=survey, patient=patient)
    response = client.post(urlparse(invitation.link).path, survey_form(survey, score, comment))
    assert response.status_code == 200
    return invitation


def test_low_score_makes_one_task_in_the_assistants_queue(
    client, api, survey, patient, assistant, nurse, wecom_account
):
    answer(client, survey, patient, "2", "等太久")
    source = patient.touches.get(kind=TouchKind.FOLLOWUP, payload__event="service_recovery_needed")
    first = followups.triggers_scan()
    second = followups.triggers_scan()
    assert first["recovery_tasks"] == 1 and second["recovery_tasks"] == 0
    task = FollowUpTask.objects.get(patient=patient)
    assert (task.status, task.assignee, task.role) == (TaskStatus.OPEN, assistant, Role.ASSISTANT)
    assert task.source_touch_id == source.pk and task.notes == "等太久"
    assert task.title == "服务补救：满意度评分 2/5，请回电患者"
    assert task.due_at <= task.window_end <= task.due_at + timedelta(days=1)

    mine = api(assistant).get("/api/followup-tasks/?view=mine")
    assert mine.status_code == 200
    assert [(t["id"], t["patient_name"]) for t in mine.json()["results"]] == [(task.pk, "赵六")]
    assert api(nurse).get("/api/followup-tasks/?view=mine").json()["results"] == []

    # No message of its own: the assistant hears of it once, in the digest of due tasks.
    assert not Delivery.objects.filter(channel=DeliveryChannel.APP_MESSAGE).exists()
    followups.staff_digests_enqueue(now=task.due_at + timedelta(minutes=1))
    digest = Delivery.objects.get(channel=DeliveryChannel.APP_MESSAGE)
    assert digest.recipient == "zhuli-li" and "赵六" in digest.body and "2/5" in digest.body


def test_high_score_makes_no_task(client, survey, patient):
    answer(client, survey, patient, "4")
    answer(client, survey, patient, "3")
    assert followups.triggers_scan()["recovery_tasks"] == 0
    assert not FollowUpTask.objects.exists()


def test_a_replay_from_the_start_of_the_timeline_makes_nothing_twice(client, survey, patient):
    answer(client, survey, patient, "1")
    answer(client, survey, patient, "2")
    assert followups.triggers_scan()["recovery_tasks"] == 2
    TriggerCursor.objects.update(last_touch_id=0)  # beyond the lookback: a full replay
    assert followups.triggers_scan()["recovery_tasks"] == 0
    assert FollowUpTask.objects.open().count() == 2


def test_the_database_refuses_a_second_task_from_one_entry(client, survey, patient):
    answer(client, survey, patient, "1")
    followups.triggers_scan()
    task = FollowUpTask.objects.get()
    with pytest.raises(IntegrityError):
        followups.task_create(
            patient=patient,
            title="again",
            role=Role.ASSISTANT,
            source_touch_id=task.source_touch_id,
        )


def test_without_an_assigned_assistant_the_task_goes_to_the_assistants_pool(
    client, api, survey, make_patient, assistant
):
    patient = make_patient(name="钱七")
    answer(client, survey, patient, "1")
    followups.triggers_scan()
    task = FollowUpTask.objects.get(patient=patient)
    assert (task.assignee, task.role) == (None, Role.ASSISTANT)
    mine = api(assistant).get("/api/followup-tasks/?view=mine").json()["results"]
    assert [t["id"] for t in mine] == [task.pk]


def test_no_call_back_task_for_a_patient_who_asked_not_to_be_contacted(client, survey, patient):
    invitation = survey_invite(survey=survey, patient=patient)
    patient_update(patient=patient, consent_to_contact=False)
    survey_answer(invitation=invitation, score=1)
    followups.triggers_scan()
    assert patient.touches.filter(payload__event="service_recovery_needed").count() == 1
    assert not FollowUpTask.objects.exists()


@pytest.mark.parametrize(
    "local,due",
    [
        ((10, 15), (0, 10, 15)),  # during staff hours: now
        ((6, 0), (0, 8, 0)),  # before: when they begin
        ((22, 30), (1, 8, 0)),  # after: the next morning
    ],
)
def test_a_task_made_at_night_is_due_when_staff_hours_begin(settings, local, due):
    settings.FOLLOWUPS_STAFF_HOURS = ("08:00", "20:00")
    now = datetime(2026, 3, 2, *local, tzinfo=SHANGHAI)
    expected = datetime(2026, 3, 2 + due[0], due[1], due[2], tzinfo=SHANGHAI)
    assert _recovery_due(now) == expected


@pytest.mark.django_db(transaction=True)
def test_concurrent_scans_make_one_task(clinic, make_patient, assistant):
    survey = survey_save(clinic=clinic, title="满意度", question="满意吗？", scale=10)
    patients = [make_patient(name=f"患者{n}", assigned_assistant=assistant) for n in range(20)]
    for patient in patients:
        invitation = survey_invite(survey=survey, patient=patient)
        survey_answer(invitation=invitation, score=3)
    barrier, results, errors = threading.Barrier(4), [], []

    def scan():
        try:
            barrier.wait()
            results.append(followups.triggers_scan()["recovery_tasks"])
        except Exception as exc:  # surfaced below: a thread's failure must fail the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=scan) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(results) == 20
    assert FollowUpTask.objects.count() == 20
    assert set(FollowUpTask.objects.values_list("assignee", flat=True)) == {assistant.pk}
