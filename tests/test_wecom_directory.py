"""The WeCom staff directory: the sync against the fake's department/list and user/list
(its refusals included), proposals of new staff, members who left WeCom flagged for
handover, and the page for admins only."""

import pytest

from crm.models import Membership
from wechat import transport
from wechat.directory import directory_review, directory_sync
from wechat.models import DirectoryUser

pytestmark = pytest.mark.django_db


def test_fake_directory_refuses_an_unknown_department(wecom_account, fake_wecom):
    with pytest.raises(transport.WeComError) as exc:
        transport.department_users(wecom_account, department_id=99)
    assert exc.value.errcode == 60123


def test_sync_proposes_new_staff_and_flags_those_who_left(
    wecom_account, fake_wecom, clinic, wecom_staff
):
    fake_wecom.department_add(id=2, name="内分泌科")
    fake_wecom.staff_set(userid="wx-assistant", name="助理")
    fake_wecom.staff_set(userid="wx-doctor", name="医生")
    fake_wecom.staff_set(userid="wx-new", name="新护士", department=[2])
    # Before any sync nothing is flagged.
    assert directory_review(clinic=clinic)["left"] == []
    report = directory_sync(account=wecom_account)
    assert (report.seen, report.gone) == (3, 0)
    review = directory_review(clinic=clinic)
    assert [d.userid for d in review["proposed"]] == ["wx-new"]
    assert review["proposed"][0].departments == "内分泌科"
    assert review["left"] == []
    # The doctor leaves WeCom (deleted from the directory); the assistant is disabled.
    fake_wecom.staff_resign("wx-doctor")
    fake_wecom.staff_set(userid="wx-assistant", name="助理", status=5)
    again = directory_sync(account=wecom_account)
    assert again.gone == 1
    flagged = {row["membership"].wecom_userid for row in directory_review(clinic=clinic)["left"]}
    assert flagged == {"wx-doctor", "wx-assistant"}
    assert directory_sync(account=wecom_account).gone == 0  # idempotent
    assert DirectoryUser.objects.filter(clinic=clinic).count() == 3


def test_directory_page_for_admins_with_links(
    wecom_account, fake_wecom, clinic, staff, wecom_staff, client
):
    fake_wecom.staff_set(userid="wx-assistant", name="助理")
    fake_wecom.staff_set(userid="wx-new", name="新人")
    client.force_login(staff["admin"])
    response = client.post("/wechat/directory/sync/", follow=True)
    html = response.content.decode()
    assert "wecom_userid=wx-new" in html
    doctor = Membership.objects.get(wecom_userid="wx-doctor")
    assert f"/settings/staff/{doctor.pk}/deactivate/" in html
    prefilled = client.get(
        "/settings/staff/?wecom_userid=wx-new&display_name=新人"
    ).content.decode()
    assert 'value="wx-new"' in prefilled
    client.force_login(staff["assistant"])
    assert client.get("/wechat/directory/").status_code == 403


def test_directory_sync_when_wecom_fails_says_so(wecom_account, fake_wecom, staff, client):
    fake_wecom.faults.update({"errcode": 60011, "every": 1})
    client.force_login(staff["admin"])
    response = client.post("/wechat/directory/sync/", follow=True)
    assert response.status_code == 200
    assert "60011" in response.content.decode()
