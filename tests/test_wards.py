"""Wards (病区): a nurse sees only the patients of her wards, everywhere patients are read;
other roles see the whole clinic; a ward of another clinic is refused in writes and filters."""

import csv
import io

import pytest

from crm.models import Role
from followups import clock
from followups import services as followup_services
from followups.models import FollowUpTask
from patients.choices import Stage
from patients.models import Patient, Ward
from patients.wards import ward_save
from tests.conftest import make_staff
from tests.followups_factories import step

pytestmark = pytest.mark.django_db

LIST = "/api/patients/"


@pytest.fixture
def wards(clinic, nurse_ward, make_patient):
    """The nurse's ward with 甲 and 乙, another ward with 丙, and 丁 in no ward."""
    other = ward_save(ward=Ward(clinic=clinic), name="二病区")
    return {
        "mine": nurse_ward,
        "other": other,
        "甲": make_patient(name="甲", ward=nurse_ward),
        "乙": make_patient(name="乙", ward=nurse_ward),
        "丙": make_patient(name="丙", ward=other),
        "丁": make_patient(name="丁"),
    }


def names(response):
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_nurse_lists_only_her_wards_and_an_assistant_all(api, nurse, assistant, wards):
    assert names(api(nurse).get(LIST)) == ["乙", "甲"]
    assert names(api(assistant).get(LIST)) == ["丁", "丙", "乙", "甲"]
    counts = api(nurse).get(f"{LIST}counts/").json()
    assert counts["total"] == 2


def test_another_wards_patient_is_a_404_for_the_nurse(api, client, nurse, assistant, wards):
    theirs, mine = wards["丙"], wards["甲"]
    nurse_api = api(nurse)
    for path in ("", "timeline/", "visits/"):
        assert nurse_api.get(f"{LIST}{theirs.pk}/{path}").status_code == 404, path
        assert nurse_api.get(f"{LIST}{mine.pk}/{path}").status_code == 200, path
    response = nurse_api.post(f"{LIST}{theirs.pk}/stage/", {"stage": "booked"}, format="json")
    assert response.status_code == 404
    response = nurse_api.post(
        f"{LIST}{theirs.pk}/timeline/", {"kind": "note", "summary": "看看"}, format="json"
    )
    assert response.status_code == 404
    assert Patient.objects.get(pk=theirs.pk).stage == Stage.LEAD
    assert not theirs.touches.filter(summary="看看").exists()
    assert api(assistant).get(f"{LIST}{theirs.pk}/timeline/").status_code == 200
    client.force_login(nurse)
    assert client.get(f"/patients/{theirs.pk}/").status_code == 404
    assert client.get(f"/patients/{mine.pk}/").status_code == 200


def test_nurse_export_has_only_her_wards(api, nurse, wards):
    response = api(nurse).get(f"{LIST}export/", {"file": "csv"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert sorted(row[0] for row in rows[1:]) == ["乙", "甲"]


def test_nurse_bulk_with_an_id_outside_her_wards_changes_nothing(api, nurse, wards):
    ids = [wards["甲"].pk, wards["丙"].pk]
    response = api(nurse).post(f"{LIST}bulk/", {"ids": ids, "stage": Stage.BOOKED}, format="json")
    assert response.status_code == 400
    assert "ids" in response.json()["errors"]
    assert not Patient.objects.filter(pk__in=ids, stage=Stage.BOOKED).exists()
    response = api(nurse).post(
        f"{LIST}bulk/", {"ids": [wards["甲"].pk], "stage": Stage.BOOKED}, format="json"
    )
    assert response.json() == {"selected": 1, "changed": 1}


def test_nurse_without_a_ward_sees_none_and_is_told_why(api, client, clinic, make_patient):
    lonely = make_staff(clinic, Role.NURSE, "lonely-nurse")
    make_patient(name="戊")
    assert api(lonely).get(LIST).json()["count"] == 0
    client.force_login(lonely)
    for url in ("/nurse/", "/workbench/"):
        page = client.get(url).content.decode()
        assert 'data-testid="no-ward"' in page and "管理员" in page, url


def test_nurse_with_a_ward_gets_no_notice(client, nurse, wards):
    client.force_login(nurse)
    assert 'data-testid="no-ward"' not in client.get("/nurse/").content.decode()


def test_filter_by_ward_and_another_clinics_ward_is_a_400(api, assistant, wards, other_clinic):
    assert names(api(assistant).get(LIST, {"ward": wards["other"].pk})) == ["丙"]
    theirs = ward_save(ward=Ward(clinic=other_clinic), name="外院病区")
    response = api(assistant).get(LIST, {"ward": theirs.pk})
    assert response.status_code == 400
    assert "ward" in response.json()["errors"]


def test_ward_of_another_clinic_is_refused_in_writes(api, assistant, wards, other_clinic):
    theirs = ward_save(ward=Ward(clinic=other_clinic), name="外院病区")
    client = api(assistant)
    response = client.post(LIST, {"name": "新患者", "ward": theirs.pk}, format="json")
    assert response.status_code == 400 and "ward" in response.json()["errors"]
    assert not Patient.objects.filter(name="新患者").exists()
    patient = wards["丁"]
    response = client.patch(f"{LIST}{patient.pk}/", {"ward": theirs.pk}, format="json")
    assert response.status_code == 400 and "ward" in response.json()["errors"]
    assert Patient.objects.get(pk=patient.pk).ward_id is None
    response = client.patch(f"{LIST}{patient.pk}/", {"ward": wards["other"].pk}, format="json")
    assert response.status_code == 200 and response.json()["ward"] == wards["other"].pk


def test_service_refuses_another_clinics_ward(clinic, other_clinic, make_patient):
    from django.core.exceptions import ValidationError

    from patients import services

    theirs = ward_save(ward=Ward(clinic=other_clinic), name="外院病区")
    with pytest.raises(ValidationError) as info:
        services.patient_create(clinic=clinic, name="己", ward=theirs)
    assert "ward" in info.value.message_dict
    assert not Patient.objects.filter(name="己").exists()


def test_nurse_places_patients_only_in_her_wards(api, nurse, wards):
    client = api(nurse)
    response = client.post(LIST, {"name": "无病区"}, format="json")
    assert response.status_code == 400 and "ward" in response.json()["errors"]
    response = client.post(LIST, {"name": "别的病区", "ward": wards["other"].pk}, format="json")
    assert response.status_code == 400 and "ward" in response.json()["errors"]
    response = client.patch(f"{LIST}{wards['甲'].pk}/", {"ward": wards["other"].pk}, format="json")
    assert response.status_code == 400
    assert Patient.objects.get(pk=wards["甲"].pk).ward == wards["mine"]
    response = client.post(LIST, {"name": "新入院", "ward": wards["mine"].pk}, format="json")
    assert response.status_code == 201
    assert "新入院" in names(client.get(LIST))


def test_nurse_sees_only_her_wards_follow_up_tasks(api, client, clinic, nurse, wards):
    template = followup_services.template_create(
        clinic=clinic,
        name="病房SOP",
        # A window of the whole day: the task is in "today" whatever the hour of the run (with
        # the default 09:00–18:00 it is overdue, not today, in the evening).
        steps=[
            step("换药", 0, "checklist", role="nurse", window_start="00:00", window_end="23:59")
        ],
    )
    for name in ("甲", "丙"):
        followup_services.plan_start(
            patient=wards[name], template=template, anchor_date=clock.local_today()
        )
    theirs = FollowUpTask.objects.get(patient=wards["丙"])
    nurse_api = api(nurse)
    for view in ("", "mine", "today"):
        rows = nurse_api.get("/api/followup-tasks/", {"view": view} if view else {}).json()
        assert [r["patient_name"] for r in rows["results"]] == ["甲"], view
    assert nurse_api.get(f"/api/followup-tasks/{theirs.pk}/").status_code == 404
    assert nurse_api.post(f"/api/followup-tasks/{theirs.pk}/tick/").status_code == 404
    plans = nurse_api.get("/api/care-plans/").json()["results"]
    assert [p["patient"] for p in plans] == [wards["甲"].pk]
    response = nurse_api.post(
        "/api/care-plans/",
        {"patient": wards["丙"].pk, "template": template.pk, "anchor_date": "2026-11-01"},
        format="json",
    )
    assert response.status_code == 400 and "patient" in response.json()["errors"]
    client.force_login(nurse)
    page = client.get("/nurse/").content.decode()
    assert ">甲</a> · 换药" in page and "丙</a> · 换药" not in page
    assert client.post(f"/followups/tasks/{theirs.pk}/tick/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "open"


def test_dashboard_is_closed_to_nurses(api, client, nurse, doctor):
    assert api(nurse).get("/api/dashboard/").status_code == 403
    assert api(doctor).get("/api/dashboard/").status_code == 200
    client.force_login(nurse)
    assert client.get("/dashboard/").status_code == 403
    assert "/dashboard/" not in client.get("/nurse/").content.decode()


def test_wards_api_lists_for_everyone_and_admins_write(api, staff, clinic, wards, other_clinic):
    nurse_member = staff["nurse"].memberships.get()
    listed = api(staff["nurse"]).get("/api/wards/").json()["results"]
    assert [(w["name"], w["patient_count"]) for w in listed] == [("一病区", 2), ("二病区", 1)]
    assert listed[0]["nurses"] == [nurse_member.pk]
    response = api(staff["nurse"]).post("/api/wards/", {"name": "三病区"}, format="json")
    assert response.status_code == 403
    admin = api(staff["admin"])
    response = admin.post(
        "/api/wards/", {"name": "三病区", "nurses": [nurse_member.pk]}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["nurses"] == [nurse_member.pk]
    assert response.json()["patient_count"] == 0
    duplicate = admin.post("/api/wards/", {"name": "三病区"}, format="json")
    assert duplicate.status_code == 400 and "name" in duplicate.json()["errors"]
    doctor_member = staff["doctor"].memberships.get()
    response = admin.patch(
        f"/api/wards/{wards['other'].pk}/", {"nurses": [doctor_member.pk]}, format="json"
    )
    assert response.status_code == 400 and "nurses" in response.json()["errors"]
    assert not wards["other"].nurses.exists()
    response = admin.patch(
        f"/api/wards/{wards['other'].pk}/", {"nurses": [nurse_member.pk]}, format="json"
    )
    assert response.status_code == 200
    assert names(api(staff["nurse"]).get(LIST)) == ["丙", "乙", "甲"]


def test_ward_admin_is_scoped_and_shows_errors(client, admin_user, clinic, other_clinic, wards):
    ward_save(ward=Ward(clinic=other_clinic), name="外院病区")
    client.force_login(admin_user)
    page = client.get("/admin/patients/ward/").content.decode()
    assert "一病区" in page and "外院病区" not in page
    response = client.post("/admin/patients/ward/add/", {"name": "一病区"})
    assert response.status_code == 200 and "已有" in response.content.decode()
    assert Ward.objects.filter(clinic=clinic, name="一病区").count() == 1
    nurse_member = clinic.memberships.get(role=Role.NURSE)
    response = client.post(
        "/admin/patients/ward/add/", {"name": "三病区", "nurses": [nurse_member.pk]}
    )
    assert response.status_code == 302
    ward = Ward.objects.get(name="三病区")
    assert ward.clinic == clinic and list(ward.nurses.all()) == [nurse_member]


def test_nurse_lists_make_a_constant_number_of_queries(api, clinic, staff, nurse_ward):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients.demo import seed_patients

    client = api(staff["nurse"])
    urls = [LIST, "/api/wards/", "/api/followup-tasks/", "/api/care-plans/"]

    def counts(size):
        seed_patients(
            clinic=clinic,
            count=size,
            doctors=[staff["doctor"]],
            assistants=[staff["assistant"]],
            seed=size,
            wards=[nurse_ward],
        )
        result = {}
        for url in urls:
            with CaptureQueriesContext(connection) as queries:
                response = client.get(url, {"page_size": 100})
            assert response.status_code == 200, url
            result[url] = len(queries)
        return result, client.get(LIST).json()["count"]

    (small, seen_small), (large, seen_large) = counts(10), counts(90)
    assert (seen_small, seen_large) == (5, 50)
    assert small == large


def test_content_reads_name_only_the_nurses_wards(api, nurse, assistant, wards, make_patient):
    """Survey invitations, referral counts and referral codes name patients: a nurse sees
    those of her wards only; an assistant sees the whole clinic."""
    from content.surveys import survey_invite, survey_save

    survey = survey_save(clinic=wards["mine"].clinic, title="满意度", question="本次就诊满意吗？")
    for name in ("甲", "丙"):
        survey_invite(survey=survey, patient=wards[name], by=assistant)
        make_patient(name=f"{name}介绍的", referred_by=wards[name])
    invitations = f"/api/surveys/{survey.pk}/invitations/"
    assert [r["patient_name"] for r in api(nurse).get(invitations).json()["results"]] == ["甲"]
    assert len(api(assistant).get(invitations).json()["results"]) == 2
    referrers = [p["name"] for p in api(nurse).get("/api/referrals/").json()["patients"]]
    assert referrers == ["甲"]
    assert len(api(assistant).get("/api/referrals/").json()["patients"]) == 2
    code = f"{LIST}{wards['丙'].pk}/referral-code/"
    assert api(nurse).get(code).status_code == 404
    assert api(assistant).get(code).status_code == 200


def test_patient_page_names_a_referrer_only_within_the_nurses_wards(
    client, nurse, assistant, wards, make_patient
):
    mine = make_patient(name="甲介绍的", ward=wards["mine"], referred_by=wards["甲"])
    theirs = make_patient(name="丙介绍的", ward=wards["mine"], referred_by=wards["丙"])
    client.force_login(nurse)
    page = client.get(f"/patients/{mine.pk}/").content.decode()
    assert f"/patients/{wards['甲'].pk}/" in page
    page = client.get(f"/patients/{theirs.pk}/").content.decode()
    assert "丙" not in page.replace("丙介绍的", "") and "您所在病区以外的患者" in page
    client.force_login(assistant)
    page = client.get(f"/patients/{theirs.pk}/").content.decode()
    assert f"/patients/{wards['丙'].pk}/" in page
