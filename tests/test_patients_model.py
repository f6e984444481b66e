import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from patients import services
from patients.choices import Stage, TouchKind
from patients.models import Patient, StageTransition, Touch
from tests.conftest import tag

pytestmark = pytest.mark.django_db


def test_phone_is_normalised_encrypted_and_masked(make_patient):
    patient = make_patient(phone="138 0013 8000")
    patient.refresh_from_db()
    assert patient.phone == "+8613800138000"
    assert patient.phone_masked == "138****8000"
    assert patient.phone_last4 == "8000"
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone_encrypted FROM patients_patient WHERE id = %s", [patient.pk])
        stored = cursor.fetchone()[0]
    assert "13800138000" not in stored and "8000" not in stored


def test_malformed_phone_is_refused_with_a_clear_error(clinic):
    with pytest.raises(ValidationError) as error:
        services.patient_create(clinic=clinic, name="李四", phone="12345")
    assert "phone" in error.value.message_dict
    assert Patient.objects.count() == 0


def test_two_patients_of_one_clinic_cannot_share_a_phone(make_patient):
    make_patient(name="张三", phone="13800138000")
    with pytest.raises(ValidationError) as error:
        make_patient(name="张三的妻子", phone="+86 138-0013-8000")
    assert "phone" in error.value.message_dict
    assert Patient.objects.count() == 1


def test_two_clinics_may_share_a_phone(make_patient, other_clinic):
    make_patient(phone="13800138000")
    make_patient(phone="13800138000", target_clinic=other_clinic)
    assert Patient.objects.filter(phone_last4="8000").count() == 2


def test_external_userid_is_unique_per_clinic(make_patient, other_clinic):
    make_patient(external_userid="wmABC")
    with pytest.raises(ValidationError):
        make_patient(external_userid="wmABC")
    make_patient(external_userid="wmABC", target_clinic=other_clinic)
    assert Patient.objects.filter(external_userid="wmABC").count() == 2


def test_search_by_last_four_digits_full_number_and_initials(make_patient):
    zhang = make_patient(name="张三丰", phone="13800131234")
    make_patient(name="李四", phone="13900135678")
    assert list(Patient.objects.search("1234")) == [zhang]
    assert list(Patient.objects.search("138 0013 1234")) == [zhang]
    assert list(Patient.objects.search("zsf")) == [zhang]
    assert list(Patient.objects.search("三丰")) == [zhang]
    assert list(Patient.objects.search("0000")) == []


def test_stage_change_writes_transition_and_touch(make_patient, doctor):
    patient = make_patient()
    services.patient_set_stage(patient=patient, stage=Stage.BOOKED, actor=doctor, reason="电话预约")
    patient.refresh_from_db()
    assert patient.stage == Stage.BOOKED
    transition = StageTransition.objects.filter(patient=patient).first()
    assert (transition.from_stage, transition.to_stage, transition.by) == (
        Stage.LEAD,
        Stage.BOOKED,
        doctor,
    )
    touch = Touch.objects.get(patient=patient, kind=TouchKind.STAGE_CHANGE)
    wording = touch.payload.pop("wording")  # to word it in the reader's language
    assert touch.payload == {"from": "lead", "to": "booked", "reason": "电话预约"}
    assert wording["msgid"] == "%(change)s (%(reason)s)"


def test_stage_change_failing_midway_leaves_neither_transition_nor_touch(make_patient):
    patient = make_patient()
    # A real database failure on the touch insert, after the transition was written.
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION refuse_touch() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'touch insert refused'; END; $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER refuse_touch BEFORE INSERT ON patients_touch "
            "FOR EACH ROW EXECUTE FUNCTION refuse_touch()"
        )
    before = StageTransition.objects.count()
    with pytest.raises(Exception, match="touch insert refused"):
        services.patient_set_stage(patient=patient, stage=Stage.ARRIVED)
    patient.refresh_from_db()
    assert patient.stage == Stage.LEAD
    assert StageTransition.objects.count() == before


def test_unknown_stage_is_refused(make_patient):
    patient = make_patient()
    with pytest.raises(ValidationError) as error:
        services.patient_set_stage(patient=patient, stage="cured")
    assert "stage" in error.value.message_dict
    assert patient.transitions.count() == 1  # the creation only


def test_single_choice_group_keeps_one_tag(clinic, make_patient):
    patient = make_patient()
    services.patient_tag(patient=patient, add=[tag(clinic, "轻度"), tag(clinic, "肺结节")])
    added, removed = services.patient_tag(patient=patient, add=[tag(clinic, "重度")])
    names = set(patient.tags.names())
    assert names == {"重度", "肺结节"}
    assert [t.name for t in removed] == ["轻度"]
    assert Touch.objects.filter(patient=patient, kind=TouchKind.TAG_CHANGE).count() == 2


def test_two_tags_of_a_single_choice_group_at_once_are_refused(clinic, make_patient):
    patient = make_patient()
    with pytest.raises(ValidationError):
        services.patient_tag(patient=patient, add=[tag(clinic, "轻度"), tag(clinic, "重度")])
    assert list(patient.tags.names()) == []


def test_multi_choice_group_keeps_several_tags(clinic, make_patient):
    patient = make_patient()
    services.patient_tag(patient=patient, add=[tag(clinic, "肺结节"), tag(clinic, "糖尿病")])
    assert set(patient.tags.names()) == {"肺结节", "糖尿病"}


def test_tag_from_another_clinic_is_refused(make_patient, other_clinic):
    patient = make_patient()
    with pytest.raises(ValidationError) as error:
        services.patient_tag(patient=patient, add=[tag(other_clinic, "肺结节")])
    assert "tags" in error.value.message_dict
    assert list(patient.tags.names()) == []


def test_visit_updates_last_visit_and_timeline(make_patient, doctor):
    import datetime
    from decimal import Decimal

    patient = make_patient()
    services.visit_record(
        patient=patient,
        visit_date=datetime.date(2026, 3, 1),
        kind="first",
        doctor=doctor,
        amount=Decimal("320.00"),
    )
    services.visit_record(patient=patient, visit_date=datetime.date(2026, 2, 1), kind="revisit")
    patient.refresh_from_db()
    assert patient.last_visit_date == datetime.date(2026, 3, 1)
    assert patient.touches.filter(kind=TouchKind.VISIT).count() == 2


def test_touches_are_immutable(make_patient):
    touch = make_patient().touches.first()
    touch.summary = "rewritten"
    with pytest.raises(ValueError):
        touch.save()
