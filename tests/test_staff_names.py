"""People appear by display name (timeline, checklist, exports, admin, audit log), and the doctor
and assistant pickers list only those roles of the clinic."""

import csv
import io

from crm.models import Membership
from followups import clock, services
from followups.models import FollowUpTask
from tests.followups_factories import step

LIST = "/api/patients/"


def _name(user, display_name):
    Membership.objects.filter(user=user).update(display_name=display_name)


def test_timeline_authors_by_display_name_in_api_and_page(client, api, assistant, make_patient):
    _name(assistant, "李助理")
    patient = make_patient(name="魏博雨")
    client_api = api(assistant)
    created = client_api.post(
        f"{LIST}{patient.pk}/timeline/", {"kind": "note", "summary": "已电话沟通"}, format="json"
    )
    assert created.status_code == 201 and created.json()["actor_name"] == "李助理"
    rows = client_api.get(f"{LIST}{patient.pk}/timeline/").json()["results"]
    assert [r["actor_name"] for r in rows if r["kind"] == "note"] == ["李助理"]
    assert assistant.username not in {r["actor_name"] for r in rows}


def test_export_names_the_doctor_by_display_name(api, assistant, doctor, make_patient):
    _name(doctor, "王医生")
    make_patient(name="蔡军瑶", assigned_doctor=doctor)
    response = api(assistant).get(f"{LIST}export/?file=csv")
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(body)))
    doctor_column = rows[0].index("医生")
    assert rows[1][doctor_column] == "王医生"


def test_checklist_tick_by_display_name(client, clinic, nurse, nurse_ward, make_patient):
    _name(nurse, "陈护士")
    patient = make_patient(name="孙八", ward=nurse_ward)
    template = services.template_create(
        clinic=clinic, name="病房SOP", steps=[step("术后换药", 0, "checklist", role="nurse")]
    )
    services.plan_start(patient=patient, template=template, anchor_date=clock.local_today())
    client.force_login(nurse)
    client.post(f"/followups/tasks/{FollowUpTask.objects.get().pk}/tick/")
    page = client.get("/nurse/").content.decode()
    assert "陈护士 于" in page and f"{nurse.username} 于" not in page


def test_workbench_doctor_picker_lists_only_active_doctors(client, admin_user, doctor, clinic):
    from crm.services import staff_create, staff_deactivate
    from tests.conftest import PASSWORD

    _name(doctor, "王医生")
    _name(admin_user, "周主任")
    gone = staff_create(
        clinic=clinic, username="gone", password=PASSWORD, role="doctor", display_name="离职医生"
    )
    staff_deactivate(membership=gone, by=admin_user)
    client.force_login(admin_user)
    response = client.get("/workbench/")
    page = response.content.decode()
    picker = page.split('id="f-doctor"')[1].split("</select>")[0]
    assert "王医生" in picker
    assert "周主任" not in picker and "离职医生" not in picker
    bulk_picker = page.split('id="b-doctor"')[1].split("</select>")[0]
    assert "王医生" in bulk_picker and "离职医生" not in bulk_picker
    # Rows still name a doctor who left (their patients were not handed over yet).
    assert response.context["script_config"]["doctors"][str(gone.user_id)] == "离职医生"


def test_api_refuses_an_assistant_as_doctor_and_a_doctor_as_assistant(
    api, assistant, doctor, make_patient
):
    patient = make_patient()
    client = api(assistant)
    wrong = client.patch(f"{LIST}{patient.pk}/", {"assigned_doctor": assistant.pk}, format="json")
    assert wrong.status_code == 400 and "assigned_doctor" in wrong.json()["errors"]
    wrong = client.patch(f"{LIST}{patient.pk}/", {"assigned_assistant": doctor.pk}, format="json")
    assert wrong.status_code == 400 and "assigned_assistant" in wrong.json()["errors"]
    right = client.patch(
        f"{LIST}{patient.pk}/",
        {"assigned_doctor": doctor.pk, "assigned_assistant": assistant.pk},
        format="json",
    )
    assert right.status_code == 200


def test_bulk_assign_refuses_a_non_doctor(api, assistant, make_patient):
    patient = make_patient()
    response = api(assistant).post(
        f"{LIST}bulk/", {"ids": [patient.pk], "assigned_doctor": assistant.pk}, format="json"
    )
    assert response.status_code == 400


def test_admin_doctor_choices_by_display_name_and_role(client, admin_user, doctor, assistant):
    _name(doctor, "王医生")
    _name(assistant, "李助理")
    client.force_login(admin_user)
    page = client.get("/admin/patients/patient/add/").content.decode()
    doctor_select = page.split('name="assigned_doctor"')[1].split("</select>")[0]
    assistant_select = page.split('name="assigned_assistant"')[1].split("</select>")[0]
    assert "王医生" in doctor_select and "李助理" not in doctor_select
    assert doctor.username not in doctor_select
    assert "李助理" in assistant_select and "王医生" not in assistant_select


def test_audit_log_in_admin_by_display_name(client, admin_user, doctor):
    from crm.services import staff_password_reset

    _name(admin_user, "周主任")
    staff_password_reset(
        membership=doctor.memberships.get(), password="Kangfu-2026-yisheng", by=admin_user
    )
    client.force_login(admin_user)
    page = client.get("/admin/crm/auditevent/").content.decode()
    assert "周主任" in page
