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


@pytest.fixture
def linked(clinic, wecom_account, fake_wecom):
    from wechat.sync import corp_tags_sync

    fake_wecom.tag_groups.append(
        {"group_id": "etG2", "group_name": "病种", "tag": [{"id": "etHT", "name": "高血压"}]}
    )
    corp_tags_sync(account=wecom_account)
    tag = PatientTag.objects.get(clinic=clinic, name="高血压")
    assert tag.wecom_tag_id == "etHT"
    return tag


def fake_names(fake):
    return {t["id"]: t["name"] for g in fake.tag_groups for t in g["tag"]}


def test_a_tag_renamed_in_careloop_is_renamed_in_wecom(linked, wecom_account, fake_wecom):
    from wechat.sync import corp_tags_sync

    PatientTag.objects.filter(pk=linked.pk).update(name="原发性高血压")
    report = corp_tags_sync(account=wecom_account)
    assert report.tags_renamed_in_wecom == 1
    assert fake_names(fake_wecom)["etHT"] == "原发性高血压"
    linked.refresh_from_db()
    assert linked.name == "原发性高血压"
    # A rename in WeCom still comes the other way.
    fake_wecom.tag_groups[-1]["tag"][0]["name"] = "高血压病"
    assert corp_tags_sync(account=wecom_account).tags_renamed_in_wecom == 0
    linked.refresh_from_db()
    assert linked.name == "高血压病"


def test_a_tag_deleted_in_careloop_is_deleted_in_wecom(linked, clinic, wecom_account, fake_wecom):
    from wechat.sync import corp_tags_sync

    linked.delete()
    report = corp_tags_sync(account=wecom_account)
    assert report.tags_deleted_in_wecom == 1
    assert "etHT" not in fake_names(fake_wecom)
    assert not PatientTag.objects.filter(clinic=clinic, name="高血压").exists()  # not re-imported
    assert corp_tags_sync(account=wecom_account).tags_deleted_in_wecom == 0
