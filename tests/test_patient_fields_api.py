"""Patient fields through the API, the list's filter, the export and import columns, the pages,
and another clinic's fields invisible everywhere."""

import csv
import io
from datetime import date

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from followups import services as followups
from followups.models import Anchor, CarePlan, TaskStatus
from patients.fields import services as fields
from patients.fields.models import FieldKind, PatientField, PatientFieldValue
from patients.imports import services as imports
from patients.imports.commit import import_commit
from tests.followups_factories import step

pytestmark = pytest.mark.django_db
LIST = "/api/patients/"
FIELDS = "/api/patient-fields/"


@pytest.fixture
def clinic_fields(clinic):
    return {
        "surgery": fields.field_create(clinic=clinic, name="手术日期", kind=FieldKind.DATE),
        "score": fields.field_create(clinic=clinic, name="疼痛评分", kind=FieldKind.NUMBER),
        "allergy": fields.field_create(
            clinic=clinic, name="过敏史", kind=FieldKind.CHOICES, options=["青霉素", "头孢"]
        ),
        "blood": fields.field_create(
            clinic=clinic, name="血型", kind=FieldKind.CHOICE, options=["A", "B", "O"]
        ),
    }


def body(response) -> bytes:
    return b"".join(response.streaming_content)


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200
    return list(csv.reader(io.StringIO(body(response).decode("utf-8-sig"))))


def names(response):
    assert response.status_code == 200, response.json()
    return sorted(p["name"] for p in response.json()["results"])


# ---- definitions API --------------------------------------------------------------------


def test_admins_define_fields_others_only_read(api, admin_user, assistant, clinic):
    response = api(admin_user).post(
        FIELDS,
        {"name": "手术日期", "kind": "date", "is_required": False},
        format="json",
    )
    assert response.status_code == 201, response.json()
    field_id = response.json()["id"]
    bad = api(admin_user).post(FIELDS, {"name": "过敏史", "kind": "choices"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["errors"]["options"] == ["选项字段至少需要一个选项。"]
    assert api(assistant).get(FIELDS).json()[0]["name"] == "手术日期"
    refused = api(assistant).post(FIELDS, {"name": "x", "kind": "text"}, format="json")
    assert refused.status_code == 403
    assert api(assistant).delete(f"{FIELDS}{field_id}/").status_code == 403
    assert api(admin_user).delete(f"{FIELDS}{field_id}/").status_code == 204
    assert not PatientField.objects.exists()


def test_another_clinics_fields_are_invisible(api, outsider, clinic, make_patient, clinic_fields):
    patient = make_patient(name="本院患者")
    fields.field_values_set(patient=patient, values={"手术日期": "2026-12-01"})
    assert api(outsider).get(FIELDS).json() == []
    surgery = clinic_fields["surgery"]
    assert api(outsider).get(f"{FIELDS}{surgery.pk}/").status_code == 404
    assert api(outsider).patch(
        f"{FIELDS}{surgery.pk}/", {"name": "改名"}, format="json"
    ).status_code in (403, 404)
    # Filtering on our field from the other clinic: not a field of theirs.
    response = api(outsider).get(LIST, {"field": f"{surgery.pk}:2026-12-01"})
    assert response.status_code == 400
    assert response.json()["errors"]["field"] == [f"本诊所没有编号为 {surgery.pk} 的患者字段。"]
    # Writing our field's name on their patient: their clinic has no such field.
    theirs = make_patient(name="乙院患者", target_clinic=outsider.memberships.get().clinic)
    write = api(outsider).patch(
        f"{LIST}{theirs.pk}/", {"custom_fields": {"手术日期": "2026-12-01"}}, format="json"
    )
    assert write.status_code == 400
    assert write.json()["errors"]["custom_fields"] == ["本诊所没有患者字段“手术日期”。"]
    assert api(outsider).get(f"{LIST}{theirs.pk}/").json()["custom_fields"] == {}


# ---- values through the patient API --------------------------------------------------------


def test_patient_api_reads_and_writes_custom_fields(api, assistant, make_patient, clinic_fields):
    patient = make_patient(name="李四")
    response = api(assistant).patch(
        f"{LIST}{patient.pk}/",
        {"custom_fields": {"手术日期": "2026-12-01", "疼痛评分": 7.5, "过敏史": ["头孢"]}},
        format="json",
    )
    assert response.status_code == 200, response.json()
    assert response.json()["custom_fields"] == {
        "手术日期": "2026-12-01",
        "疼痛评分": 7.5,
        "过敏史": ["头孢"],
        "血型": None,
    }
    listed = api(assistant).get(LIST).json()["results"][0]
    assert listed["custom_fields"]["手术日期"] == "2026-12-01"
    bad = api(assistant).patch(
        f"{LIST}{patient.pk}/",
        {"custom_fields": {"手术日期": "明天", "血型": "AB"}},
        format="json",
    )
    assert bad.status_code == 400
    assert sorted(bad.json()["errors"]["custom_fields"]) == sorted(
        [
            "“手术日期”：“明天”不是日期，请写成 2026-12-08 这样。",
            "“血型”：“AB”不是它的选项（A、B、O）。",
        ]
    )
    # Nothing of the refused write was saved.
    assert fields.values_of([patient.pk])[patient.pk][clinic_fields["surgery"].pk] == date(
        2026, 12, 1
    )


def test_a_required_field_is_asked_for_on_create(api, assistant, clinic):
    fields.field_create(clinic=clinic, name="诊断", kind=FieldKind.TEXT, is_required=True)
    missing = api(assistant).post(LIST, {"name": "新患者", "phone": "13800138111"}, format="json")
    assert missing.status_code == 400
    assert missing.json()["errors"]["custom_fields"] == ["“诊断”：此项必填。"]
    created = api(assistant).post(
        LIST,
        {"name": "新患者", "phone": "13800138111", "custom_fields": {"诊断": "腰椎间盘突出"}},
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["custom_fields"] == {"诊断": "腰椎间盘突出"}


def test_operations_cannot_set_values(api, staff, make_patient, clinic_fields):
    patient = make_patient()
    response = api(staff["operations"]).patch(
        f"{LIST}{patient.pk}/", {"custom_fields": {"血型": "A"}}, format="json"
    )
    assert response.status_code in (400, 403)
    assert not PatientFieldValue.objects.exists()


def test_schema_documents_custom_fields_and_the_field_filter(api, assistant):
    schema = api(assistant).get("/api/schema/?format=json").json()
    patient = schema["components"]["schemas"]["Patient"]["properties"]
    assert patient["custom_fields"]["type"] == "object"
    params = {p["name"] for p in schema["paths"]["/api/patients/"]["get"]["parameters"]}
    assert "field" in params
    assert "/api/patient-fields/" in schema["paths"]


# ---- the list's filter -------------------------------------------------------------------------


def test_filter_on_dates_numbers_and_choices(api, assistant, make_patient, clinic_fields):
    f = clinic_fields
    one, two, three = make_patient(name="甲"), make_patient(name="乙"), make_patient(name="丙")
    fields.field_values_set(patient=one, values={f["surgery"]: "2026-12-01", f["score"]: "3"})
    fields.field_values_set(
        patient=two,
        values={f["surgery"]: "2026-12-20", f["score"]: "8", f["allergy"]: "青霉素、头孢"},
    )
    fields.field_values_set(patient=three, values={f["allergy"]: ["头孢"], f["blood"]: "O"})
    client = api(assistant)
    s, n, a, b = (f[k].pk for k in ("surgery", "score", "allergy", "blood"))
    assert names(client.get(LIST, {"field": f"{s}:2026-12-01..2026-12-10"})) == sorted(["甲"])
    assert names(client.get(LIST, {"field": f"{s}:2026-12-15.."})) == sorted(["乙"])
    assert names(client.get(LIST, {"field": f"{n}:5.."})) == sorted(["乙"])
    assert names(client.get(LIST, {"field": f"{a}:头孢"})) == sorted(["丙", "乙"])
    assert names(client.get(LIST, {"field": f"{a}:青霉素"})) == sorted(["乙"])
    assert names(client.get(LIST, {"field": f"{b}:O"})) == sorted(["丙"])
    assert names(client.get(LIST, {"field": f"{s}:*"})) == sorted(["甲", "乙"])
    assert names(client.get(LIST, {"field": f"{s}:-"})) == sorted(["丙"])
    # Repeated: all must match.
    assert names(client.get(LIST, {"field": [f"{a}:头孢", f"{s}:*"]})) == sorted(["乙"])
    bad = client.get(LIST, {"field": f"{s}:十二月"})
    assert bad.status_code == 400
    assert bad.json()["errors"]["field"] == [
        "“手术日期”：“十二月”不是日期，请写成 2026-12-08 这样。"
    ]
    assert client.get(LIST, {"field": "手术日期"}).status_code == 400
    # The export follows the same filter.
    rows = csv_rows(client.get(LIST + "export/", {"field": f"{s}:*"}))
    assert len(rows) == 3


# ---- export and import columns -------------------------------------------------------------------


def test_export_has_a_column_per_field(api, assistant, make_patient, clinic_fields):
    patient = make_patient(name="王五")
    fields.field_values_set(
        patient=patient,
        values={"手术日期": "2026-12-01", "疼痛评分": "7.50", "过敏史": "头孢,青霉素"},
    )
    response = api(assistant).get(LIST + "export/?file=csv")
    rows = csv_rows(response)
    assert rows[0][-4:] == ["手术日期", "疼痛评分", "过敏史", "血型"]
    assert rows[1][0] == "王五"
    assert rows[1][-4:] == ["2026-12-01", "7.5", "青霉素、头孢", ""]


def _csv_upload(clinic, user, rows):
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return imports.import_create(
        clinic=clinic, user=user, upload=SimpleUploadedFile("p.csv", text.getvalue().encode())
    )


def test_import_maps_field_columns_and_names_bad_values(clinic, assistant, clinic_fields):
    surgery, allergy = clinic_fields["surgery"], clinic_fields["allergy"]
    batch = _csv_upload(
        clinic,
        assistant,
        [
            ["姓名", "手机号", "手术日期", "过敏史"],
            ["张三", "13800138001", "2026/12/01", "青霉素"],
            ["李四", "13800138002", "昨天", "花粉"],
        ],
    )
    assert batch.mapping[surgery.param] == 2 and batch.mapping[allergy.param] == 3
    checked = imports.import_check(batch=batch)
    report = [r for r in checked.results if r[1] == "error"]
    assert len(report) == 1
    assert "“手术日期”：“昨天”不是日期" in report[0][4]
    assert "“过敏史”：“花粉”不是它的选项（青霉素、头孢）。" in report[0][4]

    good = _csv_upload(
        clinic,
        assistant,
        [["姓名", "手机号", "手术日期", "过敏史"], ["张三", "13800138001", "2026/12/01", "青霉素"]],
    )
    imports.import_check(batch=good)
    import_commit(batch=good, actor=assistant)
    value = PatientFieldValue.objects.get(field=surgery)
    assert value.value_date == date(2026, 12, 1) and value.patient.name == "张三"
    assert PatientFieldValue.objects.get(field=allergy).value_choices == ["青霉素"]


def test_export_then_import_round_trips(api, clinic, doctor, make_patient, clinic_fields):
    patient = make_patient(name="赵六", phone="13800138009")
    fields.field_values_set(patient=patient, values={"手术日期": "2026-11-30", "血型": "B"})
    # A doctor's export has the full numbers: the import finds the patient by phone.
    content = body(api(doctor).get(LIST + "export/?file=csv"))
    PatientFieldValue.objects.all().delete()
    batch = imports.import_create(
        clinic=clinic, user=doctor, upload=SimpleUploadedFile("export.csv", content)
    )
    assert batch.mapping[clinic_fields["surgery"].param] is not None
    batch.on_duplicate = "merge"
    batch.save()
    checked = imports.import_check(batch=batch)
    assert not checked.summary.get("error"), checked.results
    # A merge fills the fields the record lacks.
    import_commit(batch=batch, actor=doctor)
    assert fields.values_of([patient.pk])[patient.pk] == {
        clinic_fields["surgery"].pk: date(2026, 11, 30),
        clinic_fields["blood"].pk: "B",
    }


# ---- pages -----------------------------------------------------------------------------------


def test_the_edit_page_saves_fields_and_moves_the_plan(
    client, assistant, clinic, make_patient, clinic_fields
):
    surgery = clinic_fields["surgery"]
    patient = make_patient(name="钱七", assigned_assistant=assistant)
    fields.field_values_set(patient=patient, values={surgery: "2026-12-01"})
    template = followups.template_create(
        clinic=clinic,
        name="术后随访（按手术日期）",
        anchor=Anchor.FIELD,
        anchor_field=surgery,
        steps=[step("术后第1天电话随访", 1), step("术后第7天电话随访", 7)],
    )
    plan, _ = followups.plan_start(patient=patient, template=template)
    client.force_login(assistant)
    page = client.get(f"/patients/{patient.pk}/")
    assert page.status_code == 200
    assert 'data-field="手术日期">2026-12-01<' in page.content.decode()
    form = client.get(f"/patients/{patient.pk}/edit/").content.decode()
    assert f'name="{surgery.param}"' in form
    post = {
        "name": "钱七",
        "source": patient.source,
        "consent_to_contact": "on",
        surgery.param: "2026-12-03",
        clinic_fields["score"].param: "很多",
    }
    bad = client.post(f"/patients/{patient.pk}/edit/", post)
    assert bad.status_code == 200
    assert "“疼痛评分”：“很多”不是数字。" in bad.content.decode()
    plan.refresh_from_db()
    assert plan.anchor_date == date(2026, 12, 1)  # nothing saved
    post[clinic_fields["score"].param] = "4"
    saved = client.post(f"/patients/{patient.pk}/edit/", post)
    assert saved.status_code == 302
    plan.refresh_from_db()
    assert plan.anchor_date == date(2026, 12, 3)
    assert all(t.status == TaskStatus.OPEN for t in plan.tasks.all())
    timeline = [t.summary for t in patient.touches.all()]
    assert any("随手术日期调整：2026-12-01 → 2026-12-03" in s for s in timeline)


def test_settings_page_is_for_admins_and_names_errors(client, admin_user, assistant, clinic):
    client.force_login(assistant)
    assert client.get("/patients/fields/").status_code == 403
    client.force_login(admin_user)
    assert client.get("/patients/fields/").status_code == 200
    added = client.post(
        "/patients/fields/", {"name": "过敏史", "kind": "choices", "options": "青霉素\n头孢"}
    )
    assert added.status_code == 302
    assert PatientField.objects.get(name="过敏史").options == ["青霉素", "头孢"]
    again = client.post("/patients/fields/", {"name": "过敏史", "kind": "text"})
    assert again.status_code == 400
    assert "本诊所已有名为“过敏史”的字段。" in again.content.decode()


def test_plan_start_api_without_the_anchor_date_is_a_clear_400(
    api, assistant, clinic, make_patient, clinic_fields
):
    template = followups.template_create(
        clinic=clinic,
        name="术后随访（按手术日期）",
        anchor=Anchor.FIELD,
        anchor_field=clinic_fields["surgery"],
        steps=[step("术后第1天电话随访", 1)],
    )
    patient = make_patient(name="孙八")
    response = api(assistant).post(
        "/api/care-plans/", {"patient": patient.pk, "template": template.pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["errors"]["anchor_date"] == [
        "术后随访（按手术日期）从手术日期起算，孙八还没有手术日期：请先在患者页填写。"
    ]
    fields.field_values_set(patient=patient, values={"手术日期": "2026-12-02"})
    started = api(assistant).post(
        "/api/care-plans/", {"patient": patient.pk, "template": template.pk}, format="json"
    )
    assert started.status_code == 201, started.json()
    assert started.json()["anchor_date"] == "2026-12-02"
    assert CarePlan.objects.get().anchor_field_id == clinic_fields["surgery"].pk
