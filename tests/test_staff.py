"""/settings/staff/: clinic admins add staff, change roles, reset passwords and deactivate with a
handover; every password goes through the password rules; everything is audited."""

import pytest
from django.core.exceptions import ValidationError

from crm import services
from crm.models import AuditAction, AuditEvent, Membership, Role
from tests.conftest import PASSWORD

STRONG = "Kangfu-2026-yisheng"


def _add(client, **fields):
    data = {
        "username": "newdoc",
        "display_name": "孙医生",
        "role": "doctor",
        "wecom_userid": "wx-sun",
        "password": STRONG,
        **fields,
    }
    return client.post("/settings/staff/", data)


def test_admin_adds_a_staff_member_who_signs_in(client, admin_user):
    client.force_login(admin_user)
    response = _add(client)
    assert response.status_code == 302
    member = Membership.objects.get(user__username="newdoc")
    assert (member.role, member.display_name, member.wecom_userid) == ("doctor", "孙医生", "wx-sun")
    event = AuditEvent.objects.get(action=AuditAction.STAFF_CHANGE, detail__username="newdoc")
    assert event.user == admin_user and event.detail["change"] == "created"
    assert "孙医生" in client.get("/settings/staff/").content.decode()

    client.logout()
    signed_in = client.post("/accounts/login/", {"username": "newdoc", "password": STRONG})
    assert signed_in.status_code == 302
    assert client.get("/").url == "/dashboard/"


def test_a_weak_password_is_refused_in_chinese_and_creates_nothing(client, admin_user):
    client.force_login(admin_user)
    response = _add(client, password="123")
    assert response.status_code == 400
    text = response.content.decode()
    assert "密码太短" in text
    assert not Membership.objects.filter(user__username="newdoc").exists()


def test_staff_create_service_validates_the_password(clinic):
    with pytest.raises(ValidationError) as exc:
        services.staff_create(clinic=clinic, username="x1", password="password", role="doctor")
    assert "password" in exc.value.message_dict


def test_a_taken_username_is_refused_on_its_field(client, admin_user, doctor):
    client.force_login(admin_user)
    response = _add(client, username=doctor.username)
    assert response.status_code == 400
    assert "该用户名已被使用" in response.content.decode()


def test_nurse_added_with_her_wards(client, admin_user, nurse_ward):
    client.force_login(admin_user)
    response = _add(client, username="nurse2", role="nurse", wecom_userid="", wards=[nurse_ward.pk])
    assert response.status_code == 302
    assert list(Membership.objects.get(user__username="nurse2").wards.all()) == [nurse_ward]


def test_wards_only_for_nurses(client, admin_user, nurse_ward):
    client.force_login(admin_user)
    response = _add(client, wards=[nurse_ward.pk])
    assert response.status_code == 400
    assert "只有护士" in response.content.decode()


def test_role_change_is_audited(client, admin_user, assistant):
    client.force_login(admin_user)
    member = assistant.memberships.get()
    response = client.post(
        f"/settings/staff/{member.pk}/",
        {"form": "edit", "display_name": "李助理", "role": "nurse", "wecom_userid": ""},
    )
    assert response.status_code == 302
    member.refresh_from_db()
    assert (member.role, member.display_name) == ("nurse", "李助理")
    event = AuditEvent.objects.filter(action=AuditAction.STAFF_CHANGE).latest("id")
    assert event.detail == {
        "change": "role",
        "username": assistant.username,
        "old": "assistant",
        "new": "nurse",
    }


def test_the_last_admin_keeps_the_admin_role(admin_user):
    member = admin_user.memberships.get()
    with pytest.raises(ValidationError):
        services.staff_update(membership=member, by=admin_user, role=Role.DOCTOR)


def test_password_reset_weak_refused_in_chinese_then_strong_works(client, admin_user, doctor):
    client.force_login(admin_user)
    member = doctor.memberships.get()
    weak = client.post(f"/settings/staff/{member.pk}/", {"form": "password", "password": "abc"})
    assert weak.status_code == 400
    assert "密码太短" in weak.content.decode()
    doctor.refresh_from_db()
    assert doctor.check_password(PASSWORD)
    strong = client.post(f"/settings/staff/{member.pk}/", {"form": "password", "password": STRONG})
    assert strong.status_code == 302
    doctor.refresh_from_db()
    assert doctor.check_password(STRONG)
    assert AuditEvent.objects.filter(detail__change="password_reset").count() == 1


def test_deactivate_lists_the_handover_and_reassigns_in_one_step(
    client, clinic, admin_user, doctor, make_patient
):
    from followups.models import FollowUpTask, TaskStatus

    other = services.staff_create(
        clinic=clinic, username="doc2", password=STRONG, role="doctor", display_name="孙医生"
    )
    patient = make_patient(name="魏博雨", assigned_doctor=doctor)
    task = FollowUpTask.objects.create(
        clinic=clinic,
        patient=patient,
        title="术后第7天复查提醒",
        action="call",
        assignee=doctor,
        due_at="2026-12-01T09:00:00+08:00",
        window_end="2026-12-01T18:00:00+08:00",
    )
    client.force_login(admin_user)
    member = doctor.memberships.get()
    listed = client.get(f"/settings/staff/{member.pk}/deactivate/").content.decode()
    assert "魏博雨" in listed and "术后第7天复查提醒" in listed
    # Only doctors are offered to take over a doctor's work.
    assert "孙医生" in listed and "a-assistant" not in listed

    response = client.post(f"/settings/staff/{member.pk}/deactivate/", {"to": other.pk})
    assert response.status_code == 302
    patient.refresh_from_db()
    task.refresh_from_db()
    doctor.refresh_from_db()
    assert patient.assigned_doctor == other.user
    assert task.assignee == other.user and task.status == TaskStatus.OPEN
    assert not doctor.is_active
    changes = set(AuditEvent.objects.values_list("detail__change", flat=True))
    assert {"handover", "deactivated"} <= changes

    client.logout()
    refused = client.post("/accounts/login/", {"username": doctor.username, "password": PASSWORD})
    assert refused.status_code == 200  # the form again, not a redirect


def test_handover_to_another_role_is_refused(client, admin_user, doctor, assistant):
    client.force_login(admin_user)
    member = doctor.memberships.get()
    response = client.post(
        f"/settings/staff/{member.pk}/deactivate/", {"to": assistant.memberships.get().pk}
    )
    assert response.status_code == 400
    doctor.refresh_from_db()
    assert doctor.is_active


def test_deactivated_session_ends(client, admin_user, doctor):
    doctor_client = type(client)()
    doctor_client.force_login(doctor)
    assert doctor_client.get("/dashboard/").status_code == 200
    services.staff_deactivate(membership=doctor.memberships.get(), by=admin_user)
    assert doctor_client.get("/dashboard/").status_code == 302


@pytest.mark.parametrize("role", ["doctor", "assistant", "nurse", "operations"])
def test_other_roles_get_403(client, staff, role):
    client.force_login(staff[role])
    assert client.get("/settings/staff/").status_code == 403


def test_another_clinics_member_is_404(client, admin_user, outsider):
    client.force_login(admin_user)
    member = outsider.memberships.get()
    assert client.get(f"/settings/staff/{member.pk}/").status_code == 404
    assert client.get(f"/settings/staff/{member.pk}/deactivate/").status_code == 404
    assert client.post(f"/settings/staff/{member.pk}/deactivate/", {}).status_code == 404


def test_a_role_must_be_chosen(client, admin_user):
    client.force_login(admin_user)
    response = _add(client, role="")
    assert response.status_code == 400
    assert not Membership.objects.filter(user__username="newdoc").exists()


def test_the_settings_menu_links_the_staff_page_for_admins_only(client, admin_user, assistant):
    client.force_login(admin_user)
    assert 'href="/settings/staff/"' in client.get("/workbench/").content.decode()
    client.force_login(assistant)
    assert 'href="/settings/staff/"' not in client.get("/workbench/").content.decode()


def test_an_admin_cannot_deactivate_themselves(client, admin_user):
    client.force_login(admin_user)
    member = admin_user.memberships.get()
    response = client.post(f"/settings/staff/{member.pk}/deactivate/", {})
    assert response.status_code == 400
    assert "不能停用自己的账号" in response.content.decode()
    admin_user.refresh_from_db()
    assert admin_user.is_active
