"""Referral counts per patient and per doctor, from Patient.referred_by."""

import pytest

from content import selectors

pytestmark = pytest.mark.django_db


def test_referral_counts_per_patient_and_per_doctor(clinic, other_clinic, staff, make_patient):
    doctor = staff["doctor"]
    a = make_patient(name="老患者A", assigned_doctor=doctor)
    b = make_patient(name="老患者B")
    make_patient(name="新患者1", referred_by=a)
    make_patient(name="新患者2", referred_by=a)
    make_patient(name="新患者3", referred_by=b)
    make_patient(name="自然到诊")
    outsider_referrer = make_patient(name="外院老患者", target_clinic=other_clinic)
    make_patient(name="外院新患者", target_clinic=other_clinic, referred_by=outsider_referrer)

    by_patient = [(p.name, p.referral_count) for p in
                  selectors.referral_counts_by_patient(clinic=clinic)]  # fmt: skip
    assert by_patient == [("老患者A", 2), ("老患者B", 1)]
    assert selectors.referral_counts_by_doctor(clinic=clinic) == [
        {"doctor_id": doctor.pk, "referrals": 2, "referrers": 1},
        {"doctor_id": None, "referrals": 1, "referrers": 1},
    ]
    assert [p.name for p in selectors.referral_counts_by_patient(clinic=other_clinic)] == [
        "外院老患者"
    ]
