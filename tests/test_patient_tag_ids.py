"""Patient.tag_ids, the copy of a patient's tags the list's tag filter reads (GIN-indexed on
PostgreSQL): every write path keeps it equal to the TaggedPatient rows, and the filter gives the
same patients as a join of those rows would."""

import pytest
from django.core.management import call_command

from crm.models import Clinic
from patients import bulk, services
from patients.models import Patient, PatientTag, TaggedPatient
from tests.conftest import tag

LIST = "/api/patients/"


def tags_by_patient(patients):
    rows = TaggedPatient.objects.filter(content_object__in=patients).values_list(
        "content_object_id", "tag_id"
    )
    result = {patient.pk: [] for patient in patients}
    for patient_id, tag_id in rows:
        result[patient_id].append(tag_id)
    return {patient_id: sorted(ids) for patient_id, ids in result.items()}


def stored_tag_ids(patients):
    return {p.pk: p.tag_ids for p in Patient.objects.filter(pk__in=[p.pk for p in patients])}


def test_patient_tag_keeps_tag_ids_equal_to_the_tag_rows(clinic, make_patient):
    sugar, nodule = tag(clinic, "糖尿病"), tag(clinic, "肺结节")
    mild, severe = tag(clinic, "轻度"), tag(clinic, "重度")
    patient = make_patient(tags=[sugar])
    assert stored_tag_ids([patient]) == {patient.pk: [sugar.pk]}

    services.patient_tag(patient=patient, add=[nodule, mild])
    assert stored_tag_ids([patient])[patient.pk] == sorted([sugar.pk, nodule.pk, mild.pk])
    # A single-choice group (severity) keeps one tag: adding 重度 removes 轻度.
    services.patient_tag(patient=patient, add=[severe], remove=[sugar])
    assert stored_tag_ids([patient]) == tags_by_patient([patient])
    assert stored_tag_ids([patient])[patient.pk] == sorted([nodule.pk, severe.pk])
    services.patient_tag(patient=patient, remove=[nodule, severe])
    assert stored_tag_ids([patient])[patient.pk] == []


def test_bulk_create_writes_tag_ids(clinic):
    sugar, nodule = tag(clinic, "糖尿病"), tag(clinic, "肺结节")
    rows = [
        {"name": "甲", "phone": "+8613800130001", "tags": [sugar, nodule]},
        {"name": "乙", "phone": "+8613800130002", "tags": []},
    ]
    assert bulk.patient_create_many(clinic=clinic, rows=rows) == 2
    created = list(Patient.objects.filter(clinic=clinic).order_by("name"))
    assert stored_tag_ids(created) == tags_by_patient(created)
    assert sorted(len(p.tag_ids) for p in created) == [0, 2]


@pytest.mark.django_db(transaction=True)
def test_generated_patients_carry_their_tag_ids():
    call_command("generate_load", patients=200, touches=2000, seed=2, clinic="g", staff=10)
    patients = list(Patient.objects.filter(clinic=Clinic.objects.get(slug="g")))
    assert len(patients) == 200
    assert stored_tag_ids(patients) == tags_by_patient(patients)
    assert all(p.tag_ids for p in patients)


def test_the_tag_filter_reads_tag_ids_and_matches_the_tag_rows(
    api, assistant, clinic, make_patient
):
    sugar, nodule, after = tag(clinic, "糖尿病"), tag(clinic, "肺结节"), tag(clinic, "术后")
    a = make_patient(tags=[sugar])
    b = make_patient(tags=[sugar, nodule])
    c = make_patient(tags=[nodule, after])
    make_patient(tags=[])
    client = api(assistant)

    def ids(query):
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.content
        return {row["id"] for row in response.json()["results"]}

    assert ids(f"tag={sugar.pk}") == {a.pk, b.pk}
    assert ids(f"tag={sugar.pk},{after.pk}") == {a.pk, b.pk, c.pk}
    assert ids(f"tag={sugar.pk},{nodule.pk}&tag_match=all") == {b.pk}
    assert ids(f"tag_all={nodule.pk},{after.pk}") == {c.pk}
    # Any within a group (both diseases), all across groups (a disease and a surgery).
    assert ids(f"tag={sugar.pk},{nodule.pk}&tag_match=group") == {a.pk, b.pk, c.pk}
    assert ids(f"tag={nodule.pk},{after.pk}&tag_match=group") == {c.pk}
    # The count agrees with the page.
    assert client.get(f"{LIST}?tag={nodule.pk}").json()["count"] == 2

    # On PostgreSQL the filter is containment on the column, not a join of the tag rows.
    sql = str(Patient.objects.tagged_any([sugar.pk]).query)
    assert "@>" in sql and "taggedpatient" not in sql


def test_a_deleted_tag_lingering_in_tag_ids_matches_nobody(api, assistant, clinic, make_patient):
    group = tag(clinic, "糖尿病").group
    doomed = PatientTag.objects.create(clinic=clinic, group=group, name="待删除", slug="doomed")
    patient = make_patient(tags=[doomed])
    doomed_id = doomed.pk
    doomed.delete()  # cascades to TaggedPatient; tag_ids keeps the id
    assert stored_tag_ids([patient])[patient.pk] == [doomed_id]
    client = api(assistant)
    for query in (f"tag={doomed_id}", f"tag_all={doomed_id}", f"tag={doomed_id}&tag_match=group"):
        response = client.get(f"{LIST}?{query}")
        assert response.status_code == 200
        assert response.json()["count"] == 0, query


def test_list_rows_show_tags_from_tag_ids_in_group_order(api, assistant, clinic, make_patient):
    """The list shows a row's tags from tag_ids and the clinic's tags: in group order, then by
    name, as the patient page does; a deleted tag's id shows nothing; a rename shows at once."""
    sugar, nodule, severe = tag(clinic, "糖尿病"), tag(clinic, "肺结节"), tag(clinic, "重度")
    doomed = PatientTag.objects.create(clinic=clinic, group=sugar.group, name="待删除", slug="x")
    patient = make_patient(name="排序患者", tags=[severe, nodule, sugar, doomed])
    doomed.delete()
    PatientTag.objects.filter(pk=nodule.pk).update(name="肺部结节")
    client = api(assistant)
    [row] = client.get(f"{LIST}?q=排序患者").json()["results"]
    detail = client.get(f"{LIST}{patient.pk}/").json()
    page_order = [t.name for t in services_patient_tags(patient)]
    assert [t["name"] for t in row["tags"]] == page_order == [t["name"] for t in detail["tags"]]
    assert "待删除" not in page_order and "肺部结节" in page_order
    assert row["tags"][0] == {
        "id": row["tags"][0]["id"],
        "name": page_order[0],
        "group": PatientTag.objects.get(name=page_order[0]).group_id,
        "group_name": PatientTag.objects.get(name=page_order[0]).group.name,
    }
    positions = [PatientTag.objects.get(pk=t["id"]).group.position for t in row["tags"]]
    assert positions == sorted(positions)


def services_patient_tags(patient):
    """The patient page's tags: the TaggedPatient rows, in the database's order."""
    from patients.selectors import patient_tags

    return patient_tags(Patient.objects.get(pk=patient.pk))
