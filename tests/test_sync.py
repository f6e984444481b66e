"""Sync with WeCom over real HTTP (the fake): backfill contacts added before CareLoop, the corp
tag library both ways, no duplicates, and relations WeCom no longer has."""

import pytest
from django.core.management import call_command

from patients.choices import Source, TouchKind
from patients.models import Patient
from tests.conftest import tag
from wechat.channels import channel_code_create
from wechat.contacts import contact_arrive
from wechat.models import ContactArrival
from wechat.sync import contacts_sync, corp_tags_sync
from wechat.tasks import contacts_sync_all

pytestmark = pytest.mark.django_db


@pytest.fixture
def library(fake_wecom):
    fake_wecom.tag_groups = [
        {"group_id": "g1", "group_name": "病种", "tag": [{"id": "t-thy", "name": "甲状腺结节"}]},
        {"group_id": "g2", "group_name": "会员", "tag": [{"id": "t-vip", "name": "年卡会员"}]},
    ]
    return fake_wecom


def test_tag_library_is_linked_by_name_created_here_and_pushed_to_wecom(
    clinic, callback_account, library
):
    report = corp_tags_sync(account=callback_account, push=True)
    assert tag(clinic, "甲状腺结节").wecom_tag_id == "t-thy"  # same name: linked
    vip = tag(clinic, "年卡会员")  # only in WeCom: created here, in a group of its name
    assert vip.wecom_tag_id == "t-vip" and vip.group.name == "会员"
    # CareLoop's own tags now exist in WeCom too, each linked by its new id.
    wecom_names = {t["name"] for g in library.tag_groups for t in g["tag"]}
    assert {"糖尿病", "门诊", "重度"} <= wecom_names
    assert tag(clinic, "糖尿病").wecom_tag_id.startswith("et")
    assert report.tags_linked == 1 and report.tags_created_here == 1
    again = corp_tags_sync(account=callback_account, push=True)
    assert (again.tags_linked, again.tags_created_here, again.tags_created_in_wecom) == (0, 0, 0)


def test_a_tag_deleted_in_wecom_is_unlinked_not_deleted(clinic, callback_account, library):
    corp_tags_sync(account=callback_account)
    library.tag_groups = [g for g in library.tag_groups if g["group_id"] != "g1"]
    report = corp_tags_sync(account=callback_account)
    assert report.tags_unlinked == 1 and tag(clinic, "甲状腺结节").wecom_tag_id == ""


def test_backfill_creates_old_contacts_once_and_links_known_patients(
    clinic, callback_account, library, wecom_staff, make_patient
):
    known = make_patient(name="已建档", external_userid="wmKNOWN")
    library.add_contact(userid="wx-assistant", external_userid="wmKNOWN", name="昵称")
    library.add_contact(
        userid="wx-assistant", external_userid="wmOLD1", name="老客户", remark="赵老师",
    )  # fmt: skip
    library.add_contact(userid="wx-doctor", external_userid="wmOLD1", tag_ids=["t-thy"])
    for n in range(105):  # more than one page (100) of batch/get_by_user
        library.add_contact(userid="wx-assistant", external_userid=f"wmBULK{n:03d}")
    report = contacts_sync(account=callback_account)
    assert sorted(report.staff) == ["wx-assistant", "wx-doctor"]
    assert Patient.objects.filter(clinic=clinic).count() == 1 + 1 + 105
    # Linked: the known patient, and wmOLD1's second relation (to the patient just created).
    assert report.patients_created == 106 and report.patients_linked == 2
    old = Patient.objects.get(external_userid="wmOLD1")
    assert old.name == "赵老师" and old.source == Source.WECOM_QR
    assert "甲状腺结节" in old.tags.names()
    assert ContactArrival.objects.filter(patient=old).count() == 2
    known.refresh_from_db()
    assert known.name == "已建档" and ContactArrival.objects.filter(patient=known).exists()
    assert library.welcome_messages == []  # no welcome for contacts added long ago
    # Again: nothing new, no duplicates.
    again = contacts_sync(account=callback_account)
    assert (again.patients_created, again.patients_linked) == (0, 0)
    assert Patient.objects.filter(clinic=clinic).count() == 107


def test_sync_pushes_careloop_tags_to_wecom_contacts(
    clinic, callback_account, library, wecom_staff, fake_wecom
):
    code = channel_code_create(
        clinic=clinic, name="台卡", staff=[wecom_staff["assistant"]], tags=[tag(clinic, "门诊")]
    )
    library.add_contact(userid="wx-assistant", external_userid="wmA", state=code.state)
    contacts_sync(account=callback_account)
    patient = Patient.objects.get(external_userid="wmA")
    assert "门诊" in patient.tags.names()  # the code's tag, from the state
    [marked] = fake_wecom.marked
    assert marked["external_userid"] == "wmA"
    assert tag(clinic, "门诊").wecom_tag_id in marked["add_tag"]


def test_a_relation_wecom_no_longer_has_is_closed_with_a_churn_signal(
    clinic, callback_account, library, wecom_staff
):
    library.add_contact(userid="wx-assistant", external_userid="wmSTAY")
    patient, _welcome = contact_arrive(
        account=callback_account, external_userid="wmGONE", userid="wx-assistant"
    )
    report = contacts_sync(account=callback_account)
    assert report.contacts_gone == 1
    arrival = ContactArrival.objects.get(patient=patient)
    assert not arrival.still_contact and arrival.left_at is not None
    assert patient.touches.filter(kind=TouchKind.CHURN_SIGNAL).count() == 1
    assert contacts_sync(account=callback_account).contacts_gone == 0


def test_the_command_and_the_periodic_task(clinic, callback_account, library, capsys):
    library.add_contact(userid="wx-assistant", external_userid="wmCMD")
    call_command("wecom_sync", "--clinic", "a")
    assert "1 patients created" in capsys.readouterr().out
    assert Patient.objects.filter(external_userid="wmCMD").count() == 1
    assert contacts_sync_all() == 1  # one account: one task enqueued
