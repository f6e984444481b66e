"""Timeline entries are worded when shown, in the reader's language: stored as kind, payload and
the msgid with its arguments; older entries with only a summary show it as stored."""

import pytest
from django.conf import settings
from django.utils import translation

from patients import services, timeline
from patients.choices import TouchKind
from patients.models import Touch

LIST = "/api/patients/"


def _summaries(client, patient, **headers):
    response = client.get(f"{LIST}{patient.pk}/timeline/", **headers)
    assert response.status_code == 200
    return [row["summary"] for row in response.json()["results"]]


@pytest.fixture(autouse=True)
def _default_language_after():
    """A request in English leaves English active in this thread: back to the default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_entries_in_chinese_by_default_and_english_on_request(api, assistant, make_patient):
    patient = make_patient(name="魏博雨", source="walk_in")
    services.patient_set_stage(patient=patient, stage="booked", actor=assistant, reason="电话预约")
    client = api(assistant)
    chinese = _summaries(client, patient)
    assert "阶段：引流 → 预约（电话预约）" in chinese
    assert any(s.startswith("建立患者档案（") for s in chinese)

    english = _summaries(client, patient, HTTP_ACCEPT_LANGUAGE="en")
    assert "Stage: Lead → Booked (电话预约)" in english
    assert any(s.startswith("Patient record created (") for s in english)
    assert not any("阶段" in s for s in english)


def test_the_language_switch_words_the_timeline_in_english(client, assistant, make_patient):
    patient = make_patient()
    services.patient_update(patient=patient, actor=assistant, notes="过敏史：青霉素")
    client.force_login(assistant)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    english = _summaries(client, patient)
    assert any(s.startswith("Profile updated: ") for s in english)
    client.post("/i18n/setlang/", {"language": "zh-hans", "next": "/"})
    assert any(s.startswith("更新档案：") for s in _summaries(client, patient))


def test_an_old_entry_with_only_a_summary_still_shows_it(api, assistant, make_patient):
    patient = make_patient()
    Touch.objects.create(
        clinic=patient.clinic, patient=patient, kind=TouchKind.NOTE, summary="旧的记录"
    )
    assert "旧的记录" in _summaries(api(assistant), patient, HTTP_ACCEPT_LANGUAGE="en")


def test_a_broken_wording_falls_back_to_the_stored_summary(api, assistant, make_patient):
    patient = make_patient()
    Touch.objects.create(
        clinic=patient.clinic,
        patient=patient,
        kind=TouchKind.NOTE,
        summary="存下的文字",
        payload={"wording": {"msgid": "Stage: %(from)s → %(to)s", "args": {}}},
    )
    assert "存下的文字" in _summaries(api(assistant), patient)


def test_touch_record_keeps_taking_a_plain_summary(make_patient):
    patient = make_patient()
    touch = timeline.touch_record(patient=patient, kind=TouchKind.NOTE, summary="随访备注")
    assert touch.summary == "随访备注" and "wording" not in touch.payload


def test_followup_outcome_and_message_entries_in_english(api, assistant, clinic, make_patient):
    from followups import clock
    from followups import services as followups
    from followups.models import FollowUpTask
    from tests.followups_factories import post_op_template

    patient = make_patient()
    followups.plan_start(
        patient=patient, template=post_op_template(clinic), anchor_date=clock.local_today()
    )
    task = FollowUpTask.objects.filter(patient=patient).order_by("due_at").first()
    followups.followup_complete(task=task, by=assistant, outcome="reached", notes="恢复良好")
    client = api(assistant)
    chinese = _summaries(client, patient)
    assert "随访 术后第1天电话随访：已联系上 · 恢复良好" in chinese
    english = _summaries(client, patient, HTTP_ACCEPT_LANGUAGE="en")
    assert "Follow-up 术后第1天电话随访: Reached · 恢复良好" in english
    assert any(s.startswith("Care plan started: 术后随访") for s in english)
