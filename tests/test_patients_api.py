import pytest

from crm.models import AuditEvent, Role
from patients.choices import Stage, TouchKind
from patients.models import Patient, Touch
from tests.conftest import tag

pytestmark = pytest.mark.django_db

LIST = "/api/patients/"


def detail(patient, action=""):
    return f"/api/patients/{patient.pk}/" + (f"{action}/" if action else "")


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_role_lists_and_reads_its_clinics_patients(
    api, staff, make_patient, nurse_ward, role
):
    patient = make_patient(name="王五", phone="13800135555", ward=nurse_ward)
    client = api(staff[role])
    listing = client.get(LIST)
    assert listing.status_code == 200
    assert listing.json()["count"] == 1
    row = listing.json()["results"][0]
    assert row["name"] == "王五"
    assert row["phone_masked"] == "138****5555"
    assert "phone" not in row and "phone_encrypted" not in row
    assert client.get(detail(patient)).json()["id"] == patient.pk


@pytest.mark.parametrize("role", [r.value for r in Role])
def test_every_role_creates_and_updates(api, staff, clinic, nurse_ward, role):
    client = api(staff[role])
    created = client.post(
        LIST,
        {
            "name": "赵六",
            "phone": "13912345678",
            "tag_ids": [tag(clinic, "糖尿病").pk],
            "ward": nurse_ward.pk,
        },
        format="json",
    )
    assert created.status_code == 201, created.json()
    assert created.json()["tags"][0]["name"] == "糖尿病"
    updated = client.patch(
        f"{LIST}{created.json()['id']}/", {"notes": "对青霉素过敏"}, format="json"
    )
    assert updated.status_code == 200
    assert Patient.objects.get(pk=created.json()["id"]).notes == "对青霉素过敏"


def test_outsider_gets_404_and_an_empty_list(api, outsider, make_patient):
    patient = make_patient()
    client = api(outsider)
    assert client.get(LIST).json()["count"] == 0
    assert client.get(detail(patient)).status_code == 404
    assert client.patch(detail(patient), {"name": "x"}, format="json").status_code == 404
    assert (
        client.post(detail(patient, "stage"), {"stage": "booked"}, format="json").status_code == 404
    )
    assert client.post(detail(patient, "reveal-phone")).status_code == 404
    patient.refresh_from_db()
    assert patient.name == "张三" and patient.stage == Stage.LEAD


def test_anonymous_is_refused_with_the_error_shape(client, make_patient):
    response = client.get(LIST)
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message", "errors"}


def test_malformed_phone_gets_a_chinese_field_error(api, assistant):
    response = api(assistant).post(LIST, {"name": "钱七", "phone": "1234"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "有效" in body["errors"]["phone"][0]
    assert Patient.objects.count() == 0


def test_english_error_on_request(api, assistant):
    response = api(assistant).post(
        LIST, {"name": "钱七", "phone": "1234"}, format="json", HTTP_ACCEPT_LANGUAGE="en"
    )
    assert "valid mainland China phone number" in response.json()["errors"]["phone"][0]


def test_unknown_stage_is_a_400(api, assistant, make_patient):
    patient = make_patient()
    response = api(assistant).post(detail(patient, "stage"), {"stage": "cured"}, format="json")
    assert response.status_code == 400
    assert "stage" in response.json()["errors"]
    patient.refresh_from_db()
    assert patient.stage == Stage.LEAD


def test_stage_action_moves_the_patient(api, assistant, make_patient):
    patient = make_patient()
    response = api(assistant).post(
        detail(patient, "stage"), {"stage": "booked", "reason": "已约周三"}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["stage"] == "booked"
    assert patient.transitions.first().by == assistant


def test_tag_from_another_clinic_is_a_400(api, assistant, make_patient, other_clinic):
    patient = make_patient()
    foreign = tag(other_clinic, "肺结节")
    response = api(assistant).post(detail(patient, "tags"), {"add": [foreign.pk]}, format="json")
    assert response.status_code == 400
    assert "add" in response.json()["errors"]
    assert list(patient.tags.names()) == []
    response = api(assistant).post(LIST, {"name": "孙八", "tag_ids": [foreign.pk]}, format="json")
    assert response.status_code == 400
    assert Patient.objects.filter(name="孙八").count() == 0


def test_referrer_from_another_clinic_is_a_400(api, assistant, make_patient, other_clinic):
    foreign = make_patient(target_clinic=other_clinic)
    response = api(assistant).post(LIST, {"name": "周九", "referred_by": foreign.pk}, format="json")
    assert response.status_code == 400
    assert "referred_by" in response.json()["errors"]


def test_duplicate_phone_is_a_400(api, assistant, make_patient):
    make_patient(phone="13800138000")
    response = api(assistant).post(LIST, {"name": "吴十", "phone": "13800138000"}, format="json")
    assert response.status_code == 400
    assert "phone" in response.json()["errors"]


def test_tag_action_adds_and_removes(api, assistant, clinic, make_patient):
    patient = make_patient()
    client = api(assistant)
    client.post(
        detail(patient, "tags"),
        {"add": [tag(clinic, "术后").pk, tag(clinic, "轻度").pk]},
        format="json",
    )
    response = client.post(
        detail(patient, "tags"), {"remove": [tag(clinic, "术后").pk]}, format="json"
    )
    assert [t["name"] for t in response.json()["tags"]] == ["轻度"]


def test_search_and_filters(api, assistant, clinic, make_patient):
    a = make_patient(name="张三", phone="13800131234", tags=[tag(clinic, "肺结节")])
    b = make_patient(
        name="李四", phone="13800135678", tags=[tag(clinic, "肺结节"), tag(clinic, "术后")]
    )
    make_patient(name="王五", phone="13800139999")
    client = api(assistant)

    def ids(query):
        return {row["id"] for row in client.get(LIST + query).json()["results"]}

    assert ids("?q=1234") == {a.pk}
    assert ids(f"?tag={tag(clinic, '肺结节').pk}") == {a.pk, b.pk}
    assert ids(f"?tag_all={tag(clinic, '肺结节').pk},{tag(clinic, '术后').pk}") == {b.pk}
    assert ids("?stage=lead&q=ls") == {b.pk}
    assert client.get(LIST + "?stage=cured").status_code == 400


def test_reveal_phone_is_logged_and_limited_to_doctors_and_admins(
    api, doctor, assistant, make_patient
):
    patient = make_patient(phone="13800138000")
    response = api(doctor).post(detail(patient, "reveal-phone"))
    assert response.json() == {"phone": "+8613800138000"}
    event = AuditEvent.objects.get(action="reveal_phone")
    assert (event.user, event.action, event.object_id) == (doctor, "reveal_phone", str(patient.pk))
    assert api(assistant).post(detail(patient, "reveal-phone")).status_code == 403
    # The refusal is audited too (and reveals nothing).
    signins = ("sign_in", "second_factor")  # the test clients sign in too (crm.signin)
    events = AuditEvent.objects.exclude(action__in=signins).values_list("action", flat=True)
    assert sorted(events) == [
        "reveal_phone",
        "reveal_refused",
    ]


def test_timeline_newest_first_and_note(api, assistant, make_patient):
    patient = make_patient()
    client = api(assistant)
    created = client.post(
        detail(patient, "timeline"),
        {"kind": "call", "channel": "phone", "summary": "已接通"},
        format="json",
    )
    assert created.status_code == 201
    timeline = client.get(detail(patient, "timeline")).json()["results"]
    assert timeline[0]["summary"] == "已接通"
    assert timeline[-1]["kind"] == TouchKind.PROFILE
    assert Touch.objects.filter(patient=patient).count() == 2


def test_timeline_is_in_the_order_things_happened_not_recorded(api, assistant, make_patient):
    """A call logged today for yesterday sits at yesterday, below what happened since, on
    every page (the cursor keys on when it happened too)."""
    from datetime import timedelta

    from django.utils import timezone

    from patients.timeline import touch_record

    patient = make_patient()
    now = timezone.now()
    for hours in range(1, 40):  # two pages of 30, happened an hour apart
        touch_record(
            patient=patient,
            kind="note",
            summary=f"{hours}小时前",
            occurred_at=now - timedelta(hours=hours),
        )
    touch_record(
        patient=patient,
        kind="call",
        summary="补记：昨天的电话",
        occurred_at=now - timedelta(hours=24, minutes=30),
    )
    client = api(assistant)
    first = client.get(detail(patient, "timeline")).json()
    second = client.get(first["next"]).json()
    rows = first["results"] + second["results"]
    times = [row["occurred_at"] for row in rows]
    assert times == sorted(times, reverse=True)
    summaries = [row["summary"] for row in rows]
    assert summaries.index("补记：昨天的电话") == summaries.index("24小时前") + 1
    assert len(rows) == 41  # the 39 notes, the late call, the profile entry; none twice
