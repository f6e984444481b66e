"""The endpoints the workbench and the patient page use: list filters, bulk actions, export,
quick actions. Every test checks that another clinic's user sees and changes nothing."""

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from openpyxl import load_workbook

from crm.models import AuditEvent
from patients.choices import Stage, TouchKind
from patients.models import Patient, Touch, Visit
from tests.conftest import tag

pytestmark = pytest.mark.django_db

LIST = "/api/patients/"
BULK = "/api/patients/bulk/"
EXPORT = "/api/patients/export/"


def ids(response):
    return {row["id"] for row in response.json()["results"]}


def test_has_wecom_takes_true_or_false_and_refuses_anything_else(api, assistant, make_patient):
    added = make_patient(name="甲", external_userid="wm-jia")
    walked_in = make_patient(name="乙")
    client = api(assistant)
    assert ids(client.get(f"{LIST}?has_wecom=true")) == {added.pk}
    assert ids(client.get(f"{LIST}?has_wecom=false")) == {walked_in.pk}
    assert ids(client.get(f"{LIST}?has_wecom=0")) == {walked_in.pk}
    assert ids(client.get(f"{LIST}?has_wecom=")) == {added.pk, walked_in.pk}
    response = client.get(f"{LIST}?has_wecom=banana")
    assert response.status_code == 400
    assert response.json()["errors"]["has_wecom"] == ["请输入 true 或 false。"]


def test_tag_match_any_all_and_per_group(api, assistant, clinic, make_patient):
    lung, thyroid, post_op = (tag(clinic, n) for n in ("肺结节", "甲状腺结节", "术后"))
    a = make_patient(name="甲", tags=[lung])
    b = make_patient(name="乙", tags=[thyroid, post_op])
    c = make_patient(name="丙", tags=[lung, post_op])
    make_patient(name="丁", tags=[post_op])
    client = api(assistant)
    chosen = f"{lung.pk},{thyroid.pk},{post_op.pk}"
    # any: every patient with one of the three tags
    assert len(ids(client.get(f"{LIST}?tag={chosen}"))) == 4
    # all: nobody has all three
    assert ids(client.get(f"{LIST}?tag={chosen}&tag_match=all")) == set()
    # per group: (肺结节 or 甲状腺结节, both 病种) and 术后 (手术) → 乙, 丙
    assert ids(client.get(f"{LIST}?tag={chosen}&tag_match=group")) == {b.pk, c.pk}
    assert a.pk not in ids(client.get(f"{LIST}?tag={chosen}&tag_match=group"))
    assert client.get(f"{LIST}?tag={chosen}&tag_match=most").status_code == 400


def test_list_query_count_does_not_grow_with_rows(api, assistant, clinic, make_patient):
    client = api(assistant)
    sugar = tag(clinic, "糖尿病")

    def queries():
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{LIST}?page_size=50&stage=lead&tag={sugar.pk}&source=walk_in")
        assert response.status_code == 200
        return len(ctx), response.json()["count"]

    for _ in range(10):
        make_patient(tags=[sugar, tag(clinic, "轻度")], assigned_doctor=None)
    ten, count_ten = queries()
    for _ in range(20):
        make_patient(tags=[sugar, tag(clinic, "重度")])
    thirty, count_thirty = queries()
    assert (count_ten, count_thirty) == (10, 30)
    assert 0 < thirty == ten


def test_bulk_tags_stage_and_doctor_in_one_request(api, assistant, doctor, clinic, make_patient):
    patients = [make_patient(name=f"患者{i}") for i in range(3)]
    response = api(assistant).post(
        BULK,
        {
            "ids": [p.pk for p in patients],
            "add_tags": [tag(clinic, "高血压").pk],
            "stage": "booked",
            "reason": "批量预约",
            "assigned_doctor": doctor.pk,
        },
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json() == {"selected": 3, "changed": 3}
    for patient in Patient.objects.filter(pk__in=[p.pk for p in patients]):
        assert patient.stage == Stage.BOOKED and patient.assigned_doctor == doctor
        assert list(patient.tags.names()) == ["高血压"]
        kinds = set(patient.touches.values_list("kind", flat=True))
        assert {TouchKind.TAG_CHANGE, TouchKind.STAGE_CHANGE, TouchKind.PROFILE} <= kinds
    again = api(assistant).post(
        BULK,
        {"ids": [p.pk for p in patients], "remove_tags": [tag(clinic, "高血压").pk]},
        format="json",
    )
    assert again.json()["changed"] == 3
    assert not Patient.objects.filter(tagged_items__isnull=False).exists()


def test_bulk_is_all_or_nothing(api, assistant, doctor, clinic, other_clinic, make_patient):
    """A failure on the last patient leaves the first one untouched. The last patient's
    record is made inconsistent on purpose (a referrer from another clinic, written past the
    services), so the service refuses to save it halfway through the selection."""
    first, last = make_patient(name="甲"), make_patient(name="乙")
    foreign = make_patient(name="外院", target_clinic=other_clinic)
    Patient.objects.filter(pk=last.pk).update(referred_by=foreign)
    response = api(assistant).post(
        BULK,
        {
            "ids": [first.pk, last.pk],
            "add_tags": [tag(clinic, "失眠").pk],
            "stage": "booked",
            "assigned_doctor": doctor.pk,
        },
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message", "errors"}
    first.refresh_from_db()
    assert first.stage == Stage.LEAD and first.assigned_doctor is None
    assert list(first.tags.names()) == []
    assert not first.touches.exclude(kind=TouchKind.PROFILE).exists()


def test_bulk_refuses_another_clinics_patients_and_empty_requests(
    api, assistant, outsider, make_patient, other_clinic
):
    mine = make_patient(name="本院")
    theirs = make_patient(name="外院", target_clinic=other_clinic)
    response = api(assistant).post(
        BULK, {"ids": [mine.pk, theirs.pk], "stage": "booked"}, format="json"
    )
    assert response.status_code == 400 and "ids" in response.json()["errors"]
    assert api(assistant).post(BULK, {"ids": [mine.pk]}, format="json").status_code == 400
    # The outsider cannot reach this clinic's patients at all.
    response = api(outsider).post(BULK, {"ids": [mine.pk], "stage": "booked"}, format="json")
    assert response.status_code == 400
    for patient in (mine, theirs):
        patient.refresh_from_db()
        assert patient.stage == Stage.LEAD


def _csv(response):
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body[1:])))


def test_export_masks_phones_for_assistants_and_logs(api, assistant, clinic, make_patient):
    make_patient(name='=HYPERLINK("http://x")', phone="13800138000", tags=[tag(clinic, "失眠")])
    make_patient(name="李四", phone="13900139000", stage=Stage.BOOKED)
    response = api(assistant).get(EXPORT + "?file=csv&stage=lead")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = _csv(response)
    assert rows[0][:2] == ["姓名", "电话"]
    assert len(rows) == 2  # the filter applies: only the lead
    assert rows[1][0] == '\'=HYPERLINK("http://x")'  # formula defused
    assert rows[1][1] == "138****8000" and rows[1][6] == "失眠"
    event = AuditEvent.objects.get(action="export")
    assert (event.action, event.user, event.detail["count"]) == ("export", assistant, 1)
    assert event.detail["full_phones"] is False and event.detail["filters"]["stage"] == ["lead"]


def test_export_xlsx_shows_full_numbers_to_doctors(api, doctor, make_patient):
    make_patient(name="王五", phone="13800135555")
    response = api(doctor).get(EXPORT + "?file=xlsx")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[1][:2] == ("王五", "13800135555")
    assert AuditEvent.objects.get(action="export").detail["full_phones"] is True


def test_export_for_outsider_is_empty_and_bad_format_is_400(api, outsider, make_patient):
    make_patient(name="本院患者")
    rows = _csv(api(outsider).get(EXPORT))
    assert len(rows) == 1  # the header only
    response = api(outsider).get(EXPORT + "?file=pdf")
    assert response.status_code == 400 and "file" in response.json()["errors"]


def test_call_outcome_goes_on_the_timeline(api, assistant, make_patient):
    patient = make_patient()
    response = api(assistant).post(
        f"{LIST}{patient.pk}/timeline/",
        {"kind": "call", "channel": "phone", "outcome": "needs_visit", "summary": "下周来"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    touch = Touch.objects.get(pk=response.json()["id"])
    assert touch.summary == "需要复诊：下周来" and touch.payload == {"outcome": "needs_visit"}
    empty = api(assistant).post(
        f"{LIST}{patient.pk}/timeline/", {"kind": "note", "summary": " "}, format="json"
    )
    assert empty.status_code == 400 and "summary" in empty.json()["errors"]


def test_book_revisit_moves_to_booked_with_the_date(api, assistant, outsider, make_patient):
    patient = make_patient()
    on = timezone.localdate() + timedelta(days=7)
    url = f"{LIST}{patient.pk}/book-revisit/"
    assert api(outsider).post(url, {"on": str(on)}, format="json").status_code == 404
    response = api(assistant).post(url, {"on": str(on), "note": "上午"}, format="json")
    assert response.status_code == 201
    patient.refresh_from_db()
    assert patient.stage == Stage.BOOKED
    assert str(on) in patient.transitions.first().reason
    # Already booked: the stage stays, the new date is a note on the timeline.
    later = on + timedelta(days=1)
    again = api(assistant).post(url, {"on": str(later)}, format="json")
    assert again.status_code == 201 and again.json()["kind"] == "note"
    assert str(later) in again.json()["summary"]
    past = api(assistant).post(url, {"on": "2020-01-01"}, format="json")
    assert past.status_code == 400 and "on" in past.json()["errors"]


def test_record_visit(api, assistant, doctor, outsider, make_patient):
    patient = make_patient()
    url = f"{LIST}{patient.pk}/visits/"
    today = timezone.localdate()
    body = {"visit_date": str(today), "kind": "first", "doctor": doctor.pk, "amount": "280.00"}
    assert api(outsider).post(url, body, format="json").status_code == 404
    response = api(assistant).post(url, body, format="json")
    assert response.status_code == 201, response.json()
    assert Visit.objects.get().amount == 280
    patient.refresh_from_db()
    assert patient.last_visit_date == today
    assert api(assistant).get(url).json()[0]["doctor_name"] == doctor.username
    future = {**body, "visit_date": str(today + timedelta(days=3))}
    assert api(assistant).post(url, future, format="json").status_code == 400
    assert Visit.objects.count() == 1


def test_dashboard_answers_figures_and_validates(api, doctor, clinic, make_patient):
    make_patient(name="新患者", source="referral")
    client = api(doctor)
    body = client.get("/api/dashboard/").json()
    assert body["referral"]["new_patients"] == 1
    assert body["sources"][0]["source"] == "referral" and body["sources"][0]["label"] == "转介绍"
    assert body["followups"] is None
    for query in ("start=2026-13-01", "start=2026-05-01&end=2026-04-01", "window_days=0"):
        response = client.get(f"/api/dashboard/?{query}")
        assert response.status_code == 400, query
        assert set(response.json()) == {"code", "message", "errors"}
    bad = client.get("/api/dashboard/?start=2026-05-01&end=2026-04-01").json()
    assert "早于" in bad["errors"]["end"][0]
    empty = client.get("/api/dashboard/?start=&end=&doctor=&source=").json()
    assert empty["referral"]["new_patients"] == 1


def test_dashboard_scopes_to_the_clinic(api, outsider, clinic, make_patient):
    make_patient(name="本院患者")
    body = api(outsider).get("/api/dashboard/").json()
    assert body["referral"]["new_patients"] == 0
    foreign_tag = tag(clinic, "失眠")
    response = api(outsider).get(f"/api/dashboard/?tag={foreign_tag.pk}")
    assert response.status_code == 400 and "tag" in response.json()["errors"]


def test_dashboard_query_count_is_constant(api, doctor, make_patient):
    client = api(doctor)
    make_patient()
    with CaptureQueriesContext(connection) as few:
        client.get("/api/dashboard/")
    for _ in range(20):
        make_patient()
    with CaptureQueriesContext(connection) as many:
        client.get("/api/dashboard/")
    assert 0 < len(many) == len(few)


def test_counts_per_stage_leave_the_stage_filter_out(
    api, assistant, outsider, clinic, make_patient
):
    sugar = tag(clinic, "糖尿病")
    make_patient(tags=[sugar])
    make_patient(tags=[sugar], stage=Stage.BOOKED)
    make_patient(tags=[sugar], stage=Stage.BOOKED)
    make_patient(stage=Stage.BOOKED)  # no tag: filtered out
    body = api(assistant).get(f"{LIST}counts/?tag={sugar.pk}&stage=lead").json()
    assert body == {"total": 3, "by_stage": {"lead": 1, "booked": 2}}
    assert api(outsider).get(f"{LIST}counts/").json() == {"total": 0, "by_stage": {}}
    assert api(assistant).get(f"{LIST}counts/?tag_match=most&tag=1").status_code == 400
