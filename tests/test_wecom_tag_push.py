"""A tag removed from a patient in CareLoop reaches WeCom (mark_tag remove_tag for each staff
contact), once the job runs; a WeCom error leaves the cursor so the next run repeats it."""

import pytest

from patients.models import PatientTag
from patients.services import patient_tag
from wechat.contacts import contact_arrive
from wechat.tag_push import tag_removals_push

pytestmark = pytest.mark.django_db


@pytest.fixture
def tagged(clinic, callback_account, wecom_staff, fake_wecom):
    fake_wecom.tag_groups.append(
        {"group_id": "etG", "group_name": "病种", "tag": [{"id": "etDIAB", "name": "糖尿病"}]}
    )
    diabetes = PatientTag.objects.get(clinic=clinic, name="糖尿病")
    PatientTag.objects.filter(pk=diabetes.pk).update(wecom_tag_id="etDIAB")
    diabetes.refresh_from_db()
    external_userid = fake_wecom.add_contact(userid="wx-assistant", tag_ids=["etDIAB"])
    fake_wecom.add_contact(userid="wx-doctor", external_userid=external_userid, tag_ids=["etDIAB"])
    patient, _ = contact_arrive(
        account=callback_account, external_userid=external_userid, userid="wx-assistant"
    )
    contact_arrive(account=callback_account, external_userid=external_userid, userid="wx-doctor")
    patient_tag(patient=patient, add=[diabetes])
    return patient, diabetes


def wecom_tags(fake, external_userid):
    return {
        f["userid"]: [t["tag_id"] for t in f["tags"]]
        for f in fake.contacts[external_userid]["follow_user"]
    }


def test_a_removed_tag_is_removed_in_wecom_for_every_staff_contact(tagged, fake_wecom):
    patient, diabetes = tagged
    assert tag_removals_push() == {"read": 0, "calls": 0}  # additions are the sync's
    patient_tag(patient=patient, remove=[diabetes])
    assert tag_removals_push() == {"read": 1, "calls": 2}
    assert wecom_tags(fake_wecom, patient.external_userid) == {"wx-assistant": [], "wx-doctor": []}
    assert {m["remove_tag"][0] for m in fake_wecom.marked} == {"etDIAB"}
    # The cursor moved: nothing is sent twice.
    assert tag_removals_push() == {"read": 0, "calls": 0}


def test_a_wecom_error_is_retried_on_the_next_run(tagged, fake_wecom):
    patient, diabetes = tagged
    patient_tag(patient=patient, remove=[diabetes])
    fake_wecom.faults.update(errcode=-1, every=1)  # WeCom busy
    assert tag_removals_push()["read"] == 0
    fake_wecom.faults.update(errcode=None, every=0)
    assert tag_removals_push() == {"read": 1, "calls": 2}
    assert wecom_tags(fake_wecom, patient.external_userid)["wx-doctor"] == []
