"""Merging two records of one person (issue 15): the survivor's empty fields filled, every row
of the person moved (patients' own and, through PATIENT_MERGE_MOVERS, wechat's, followups'
and content's), the other record closed with a pointer, audited, in one transaction; refused
across clinics and into itself; the page and the API."""

from datetime import date

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from content.articles import article_create
from content.models import ArticleView
from crm.models import AuditAction, AuditEvent
from followups.models import CarePlan, FollowUpTask
from followups.plans import plan_start, task_create
from patients import services, timeline
from patients.choices import TouchKind
from patients.merge import patient_merge, patient_merge_preview
from patients.models import Patient, Touch, Visit
from tests.conftest import tag
from tests.followups_factories import post_op_template
from wechat.models import ChannelCode, ContactArrival, Delivery

pytestmark = pytest.mark.django_db


@pytest.fixture
def pair(clinic, make_patient, doctor, assistant):
    """The same person twice: imported with a phone, and arrived from WeCom with a contact."""
    survivor = make_patient(name="张秀英", phone="13800001111", actor=assistant)
    duplicate = make_patient(
        name="张秀英",
        phone="",
        external_userid="wm-zhang",
        birth_date=date(1960, 5, 1),
        assigned_doctor=doctor,
        bed_number="8床",
    )
    return survivor, duplicate


def _rows_of(duplicate, clinic, doctor):
    services.patient_tag(patient=duplicate, add=[tag(clinic, "糖尿病")])
    services.visit_record(patient=duplicate, visit_date=date(2026, 1, 5), kind="first")
    timeline.touch_record(patient=duplicate, kind=TouchKind.NOTE, summary="重复档案上的备注")
    template = post_op_template(clinic)
    plan, _ = plan_start(patient=duplicate, template=template, anchor_date=date(2026, 2, 1))
    task_create(patient=duplicate, title="回电", role="assistant")
    ContactArrival.objects.create(clinic=clinic, patient=duplicate, staff_userid="wx-assistant")
    Delivery.objects.create(
        clinic=clinic,
        idempotency_key="test:merge:1",
        channel="customer",
        recipient="wm-zhang",
        patient=duplicate,
        body="您好",
    )
    code = ChannelCode.objects.create(
        clinic=clinic, kind="r", name="张秀英的转介绍码", state="r-1", referrer=duplicate
    )
    referred = services.patient_create(
        clinic=clinic, name="李四", phone="13800003333", referred_by=duplicate
    )
    article = article_create(clinic=clinic, title="术后护理", body="正文")
    ArticleView.objects.create(clinic=clinic, article=article, patient=duplicate)
    return {"plan": plan, "code": code, "referred": referred}


def test_merge_moves_everything_fills_fields_and_closes_the_other(clinic, pair, doctor, assistant):
    survivor, duplicate = pair
    rows = _rows_of(duplicate, clinic, doctor)
    preview = patient_merge_preview(survivor=survivor, duplicate=duplicate)
    assert {"出生日期", "床号"} <= set(preview["fills"])
    assert preview["moves"]["就诊记录"] == 1 and preview["moves"]["随访任务"] >= 1
    tasks = FollowUpTask.objects.filter(patient=duplicate).count()

    moved = patient_merge(survivor=survivor, duplicate=duplicate, actor=assistant)

    survivor.refresh_from_db()
    duplicate.refresh_from_db()
    # Fields filled where the survivor had none; its own kept.
    assert survivor.phone == "+8613800001111"
    assert survivor.birth_date == date(1960, 5, 1) and survivor.assigned_doctor == doctor
    assert survivor.bed_number == "8床" and survivor.external_userid == "wm-zhang"
    # Everything moved.
    assert list(survivor.tags.names()) == ["糖尿病"] and survivor.tag_ids == [
        tag(clinic, "糖尿病").pk
    ]
    assert Visit.objects.filter(patient=survivor).count() == 1
    assert survivor.last_visit_date == date(2026, 1, 5)
    assert Touch.objects.filter(patient=survivor, summary="重复档案上的备注").exists()
    assert not Touch.objects.filter(patient=duplicate).exists()
    assert CarePlan.objects.get(pk=rows["plan"].pk).patient_id == survivor.pk
    assert FollowUpTask.objects.filter(patient=survivor).count() == tasks
    assert ContactArrival.objects.get().patient_id == survivor.pk
    assert Delivery.objects.get(idempotency_key="test:merge:1").patient_id == survivor.pk
    assert ChannelCode.objects.get(pk=rows["code"].pk).referrer_id == survivor.pk
    assert Patient.objects.get(pk=rows["referred"].pk).referred_by_id == survivor.pk
    assert ArticleView.objects.get().patient_id == survivor.pk
    assert moved["tasks"] == tasks and moved["arrivals"] == 1
    # The other record is closed, with a pointer; its contact and number are the survivor's.
    assert duplicate.merged_into_id == survivor.pk and duplicate.merged_at is not None
    assert duplicate.external_userid == "" and duplicate.phone_hash == ""
    assert not duplicate.tagged_items.exists()
    # Audited, and on the survivor's timeline.
    event = AuditEvent.objects.get(action=AuditAction.MERGE)
    assert event.user == assistant and event.object_id == str(survivor.pk)
    assert event.detail["duplicate"] == duplicate.pk and "birth_date" in event.detail["filled"]
    assert survivor.touches.filter(kind=TouchKind.PROFILE, payload__merge__isnull=False).exists()


def test_a_refusal_of_contact_on_either_record_stays(clinic, make_patient):
    survivor = make_patient(name="甲", phone="13800001111")
    duplicate = make_patient(name="甲", phone="", consent_to_contact=False)
    patient_merge(survivor=survivor, duplicate=duplicate)
    survivor.refresh_from_db()
    assert survivor.consent_to_contact is False


def test_merge_is_refused_across_clinics_and_into_itself(clinic, other_clinic, make_patient):
    mine = make_patient(name="甲", phone="13800001111")
    theirs = make_patient(name="甲", phone="13800001111", target_clinic=other_clinic)
    with pytest.raises(ValidationError) as error:
        patient_merge(survivor=mine, duplicate=theirs)
    assert error.value.messages == ["只能合并同一诊所的档案。"]
    with pytest.raises(ValidationError) as error:
        patient_merge(survivor=mine, duplicate=mine)
    assert error.value.messages == ["不能把档案合并到它自己。"]
    theirs.refresh_from_db()
    assert theirs.merged_into_id is None and not AuditEvent.objects.exists()


def test_a_failing_mover_leaves_both_records_as_they_were(clinic, pair, settings):
    """All in one transaction: a mover that fails undoes the moves before it."""
    survivor, duplicate = pair
    services.visit_record(patient=duplicate, visit_date=date(2026, 1, 5), kind="first")
    settings.PATIENT_MERGE_MOVERS = ["wechat.merge", "tests.merge_failing_mover"]
    from patients import merge

    merge._movers.cache_clear()
    try:
        with pytest.raises(RuntimeError):
            patient_merge(survivor=survivor, duplicate=duplicate)
    finally:
        merge._movers.cache_clear()
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None and duplicate.external_userid == "wm-zhang"
    assert Visit.objects.get().patient_id == duplicate.pk
    assert not AuditEvent.objects.filter(action=AuditAction.MERGE).exists()


def test_a_merged_record_is_not_listed_and_its_page_leads_to_the_survivor(
    client, api, assistant, pair
):
    survivor, duplicate = pair
    patient_merge(survivor=survivor, duplicate=duplicate)
    client.force_login(assistant)
    response = client.get(f"/patients/{duplicate.pk}/")
    assert response.status_code == 302 and response.url == f"/patients/{survivor.pk}/"
    reader = api(assistant)
    assert reader.get(f"/api/patients/{duplicate.pk}/").status_code == 404
    ids = [row["id"] for row in reader.get("/api/patients/").json()["results"]]
    assert ids == [survivor.pk]
    # Merging the closed record again is refused.
    with pytest.raises(ValidationError):
        patient_merge(survivor=survivor, duplicate=duplicate)


def test_the_merge_page_searches_previews_and_merges(client, assistant, pair):
    survivor, duplicate = pair
    client.force_login(assistant)
    url = f"/patients/{survivor.pk}/merge/"
    found = client.get(url, {"q": "zxy"}).content.decode()
    assert f"other={duplicate.pk}" in found and f"other={survivor.pk}" not in found
    preview = client.get(url, {"q": "zxy", "other": duplicate.pk}).content.decode()
    assert 'data-testid="merge-preview"' in preview and "出生日期" in preview
    response = client.post(url, {"other": duplicate.pk})
    assert response.status_code == 302 and response.url == f"/patients/{survivor.pk}/"
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk


def test_the_merge_page_refuses_bad_input_in_chinese(client, assistant, staff, pair, make_patient):
    survivor, duplicate = pair
    client.force_login(assistant)
    url = f"/patients/{survivor.pk}/merge/"
    for other in ("abc", "999999", str(survivor.pk)):
        page = client.post(url, {"other": other}).content.decode()
        assert "请从搜索结果中选择另一份档案" in page or "不能把档案合并到它自己" in page
    assert not Patient.objects.filter(merged_into__isnull=False).exists()
    # A doctor may not merge.
    client.force_login(staff["doctor"])
    response = client.post(url, {"other": duplicate.pk})
    assert response.status_code == 302
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id is None


def test_the_merge_api(api, assistant, staff, pair, other_clinic, make_patient, outsider):
    survivor, duplicate = pair
    url = f"/api/patients/{survivor.pk}/merge/"
    preview = api(assistant).get(url, {"other": duplicate.pk})
    assert preview.status_code == 200 and "出生日期" in preview.json()["fills"]
    assert api(staff["doctor"]).post(url, {"other": duplicate.pk}).status_code == 403
    theirs = make_patient(name="乙", phone="13800009999", target_clinic=other_clinic)
    across = api(assistant).post(url, {"other": theirs.pk}, format="json")
    assert across.status_code == 400 and "other" in across.json()["errors"]
    itself = api(assistant).post(url, {"other": survivor.pk}, format="json")
    assert itself.status_code == 400
    assert itself.json()["errors"]["other"] == ["不能把档案合并到它自己。"]
    assert api(outsider).post(url, {"other": duplicate.pk}).status_code == 404
    merged = api(assistant).post(url, {"other": duplicate.pk}, format="json")
    assert merged.status_code == 200 and merged.json()["external_userid"] == "wm-zhang"
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == survivor.pk


def test_rows_both_records_have_are_kept_once(clinic, pair, assistant):
    """The same WeCom contact relation, the same care plan from the same day, the same
    article: one row each on the survivor, none lost."""
    survivor, duplicate = pair
    template = post_op_template(clinic)
    anchor = date(2026, 2, 1)
    mine, _ = plan_start(patient=survivor, template=template, anchor_date=anchor)
    theirs, _ = plan_start(patient=duplicate, template=template, anchor_date=anchor)
    for patient in (survivor, duplicate):
        ContactArrival.objects.create(clinic=clinic, patient=patient, staff_userid="wx-assistant")
    ContactArrival.objects.filter(patient=survivor).update(
        still_contact=False, left_at=timezone.now()
    )
    article = article_create(clinic=clinic, title="术后护理", body="正文")
    ArticleView.objects.create(clinic=clinic, article=article, patient=survivor, opens=2)
    ArticleView.objects.create(clinic=clinic, article=article, patient=duplicate, opens=3)

    patient_merge(survivor=survivor, duplicate=duplicate, actor=assistant)

    arrival = ContactArrival.objects.get()
    assert arrival.patient_id == survivor.pk and arrival.still_contact is True
    assert ArticleView.objects.get().opens == 5
    assert CarePlan.objects.get(pk=mine.pk).patient_id == survivor.pk
    twin = CarePlan.objects.get(pk=theirs.pk)
    assert twin.patient_id == duplicate.pk and twin.status == "stopped"
    assert not FollowUpTask.objects.filter(plan=twin, status="open").exists()
