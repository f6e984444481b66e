"""Issue 17, the audit and least-privilege part: a check that can fail for each item. The audit
log's events, the append-only trigger, the archive, the audit page, role × data for operations,
the full-phone search rule, search terms out of URLs and logs, PIPL export and erasure, hashed
expiring rotated tokens, key rotation, and the two small fixes (admin membership form, replaced
licence photos). The hostile-input cases are tests/test_security_input.py's."""

import io
import json
import logging
import os
import subprocess
import sys
import zipfile
from datetime import date, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import DatabaseError, transaction
from django.utils import timezone
from knox.models import AuthToken
from rest_framework.test import APIClient

from crm import crypto
from crm.audit import archived_events, archiving, audit_archive, audit_record
from crm.guards import RedactSearchTerms
from crm.models import AuditAction, AuditEvent, Role
from patients import services, timeline
from patients.choices import TouchKind
from patients.models import Patient, Touch, Visit
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def actions(**filters):
    return list(AuditEvent.objects.filter(**filters).values_list("action", flat=True))


# The audit log's events --------------------------------------------------------------------


def test_opening_a_patient_record_is_audited_by_page_api_and_timeline(
    client, api, assistant, make_patient
):
    patient = make_patient()
    client.force_login(assistant)
    assert client.get(f"/patients/{patient.pk}/").status_code == 200
    api_client = api(assistant)
    assert api_client.get(f"/api/patients/{patient.pk}/").status_code == 200
    first = api_client.get(f"/api/patients/{patient.pk}/timeline/").json()
    assert first["results"]
    events = AuditEvent.objects.filter(action=AuditAction.VIEW_PATIENT, object_id=str(patient.pk))
    assert sorted(e.detail["via"] for e in events) == ["api", "page", "timeline"]
    assert {e.user for e in events} == {assistant}
    # The list is not "opening a record".
    api_client.get("/api/patients/")
    assert events.count() == 3


def test_token_changes_are_audited(client, admin_user, assistant):
    member = assistant.memberships.get()
    client.force_login(admin_user)
    for action in ("create", "create", "revoke"):
        client.post("/settings/api-tokens/", {"member": member.pk, "action": action})
    events = AuditEvent.objects.filter(action=AuditAction.API_TOKEN).order_by("id")
    assert [e.detail["event"] for e in events] == ["created", "rotated", "revoked"]
    assert {(e.user, e.object_id) for e in events} == {(admin_user, str(member.pk))}


def test_licence_downloads_are_audited_and_replaced_photos_leave_the_disk(
    client, staff, clinic, settings, tmp_path, django_capture_on_commit_callbacks
):
    from doctors.services import doctor_profile_for, onboarding_save

    settings.MEDIA_ROOT = tmp_path
    profile = doctor_profile_for(clinic=clinic, user=staff["doctor"])
    first = onboarding_save(
        profile=profile,
        recruitment_source="conference",
        licence_file=SimpleUploadedFile("执业证.png", b"\x89PNG\r\n\x1a\nfirst"),
    )
    old_path = first.licence_file.path
    assert os.path.exists(old_path)
    with django_capture_on_commit_callbacks(execute=True):
        second = onboarding_save(
            profile=profile,
            recruitment_source="conference",
            licence_file=SimpleUploadedFile("执业证.png", b"\x89PNG\r\n\x1a\nsecond"),
        )
    assert not os.path.exists(old_path)
    assert open(second.licence_file.path, "rb").read().endswith(b"second")
    assert sorted(os.listdir(os.path.dirname(second.licence_file.path))) == [
        os.path.basename(second.licence_file.path)
    ]
    client.force_login(staff["operations"])
    photo = client.get(f"/doctors/onboarding/{second.pk}/licence/")
    assert photo.status_code == 200 and "no-store" in photo["Cache-Control"].split(", ")
    [event] = AuditEvent.objects.filter(action=AuditAction.LICENCE_DOWNLOAD)
    assert (event.user, event.object_id) == (staff["operations"], str(second.pk))


# Append-only, retention and the archive ---------------------------------------------------


def test_the_database_refuses_to_update_or_delete_audit_and_timeline_rows(
    clinic, admin_user, make_patient
):
    patient = make_patient()
    event = audit_record(clinic_id=clinic.pk, user=admin_user, action=AuditAction.EXPORT)
    touch = patient.touches.get()
    attempts = [
        lambda: AuditEvent.objects.filter(pk=event.pk).update(action="import"),
        lambda: AuditEvent.objects.filter(pk=event.pk).delete(),
        lambda: Touch.objects.filter(pk=touch.pk).update(summary="rewritten"),
        lambda: Touch.objects.filter(pk=touch.pk).delete(),
        # A patient's deletion would cascade to their timeline: refused too (erase instead).
        lambda: Patient.objects.filter(pk=patient.pk).delete(),
    ]
    for attempt in attempts:
        with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
            attempt()
    event.refresh_from_db()
    touch.refresh_from_db()
    assert (event.action, touch.summary) == ("export", touch.summary)
    assert Touch.objects.filter(pk=touch.pk).exists()


def test_a_deleted_users_rows_keep_everything_but_the_link(clinic, make_patient):
    leaver = make_staff(clinic, Role.ASSISTANT, "leaver")
    patient = make_patient()
    touch = timeline.touch_record(
        patient=patient, kind=TouchKind.NOTE, summary="交接", actor=leaver
    )
    event = audit_record(clinic_id=clinic.pk, user=leaver, action=AuditAction.EXPORT)
    leaver.delete()
    touch.refresh_from_db()
    event.refresh_from_db()
    assert (touch.actor_id, touch.summary, event.user_id, event.action) == (
        None,
        "交接",
        None,
        "export",
    )


def test_the_archive_moves_old_events_to_a_file_and_loses_none(
    clinic, admin_user, settings, tmp_path
):
    settings.AUDIT_ARCHIVE_DIR = tmp_path
    now = timezone.now()
    old = [
        AuditEvent.objects.create(
            clinic=clinic,
            user=admin_user,
            action=AuditAction.REVEAL_PHONE,
            object_type="patient",
            object_id=str(i),
            created_at=now - timedelta(days=181 + i),
        )
        for i in range(3)
    ]
    recent = AuditEvent.objects.create(
        clinic=clinic,
        user=admin_user,
        action=AuditAction.EXPORT,
        created_at=now - timedelta(days=179),
    )
    count, path = audit_archive(now=now)
    assert count == 3 and path.parent == tmp_path and path.name.endswith(".jsonl.gz")
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [recent.pk]
    archived = list(archived_events(tmp_path))
    assert sorted(row["id"] for row in archived) == sorted(e.pk for e in old)
    assert {row["action"] for row in archived} == {"reveal_phone"}
    assert all(row["user_id"] == admin_user.pk for row in archived)
    assert audit_archive(now=now) == (0, None)


def test_archiving_is_the_only_way_past_the_trigger(clinic, admin_user):
    event = audit_record(clinic_id=clinic.pk, user=admin_user, action=AuditAction.EXPORT)
    with archiving():
        AuditEvent.objects.filter(pk=event.pk).delete()
    assert not AuditEvent.objects.exists()
    # The setting does not outlive the block.
    again = audit_record(clinic_id=clinic.pk, user=admin_user, action=AuditAction.EXPORT)
    with pytest.raises(DatabaseError), transaction.atomic():
        AuditEvent.objects.filter(pk=again.pk).delete()


def run_settings(**env):
    """Import the settings module in a fresh interpreter with this environment."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("FIELD_", "AUDIT_"))}
    return subprocess.run(
        [sys.executable, "-c", "import crm.settings"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
    )


def test_retention_below_six_months_and_a_missing_hash_key_are_refused():
    short = run_settings(AUDIT_RETENTION_DAYS="30")
    assert short.returncode != 0 and "AUDIT_RETENTION_DAYS must be at least 180" in short.stderr
    key = "Y2FyZWxvb3AtdGVzdC1maWVsZC1rZXktMDAwMDAwMDA="
    production = {"DEBUG": "0", "SECRET_KEY": "s" * 50, "FIELD_ENCRYPTION_KEY": key}
    missing = run_settings(**production)
    assert missing.returncode != 0 and "FIELD_HASH_KEY" in missing.stderr
    assert run_settings(**production, FIELD_HASH_KEY="another-key").returncode == 0


# The audit log page ------------------------------------------------------------------------


@pytest.fixture
def audit_trail(clinic, other_clinic, staff, outsider):
    now = timezone.now()
    for i in range(55):
        AuditEvent.objects.create(
            clinic=clinic,
            user=staff["doctor"],
            action=AuditAction.REVEAL_PHONE,
            object_type="patient",
            object_id="7" if i < 5 else "8",
            created_at=now - timedelta(days=i),
        )
    AuditEvent.objects.create(
        clinic=clinic, user=staff["assistant"], action=AuditAction.EXPORT, created_at=now
    )
    AuditEvent.objects.create(
        clinic=other_clinic, user=outsider, action=AuditAction.EXPORT, created_at=now
    )


def rows(response):
    return response.content.decode().count('data-testid="audit-row"')


def test_audit_page_filters_pages_and_only_shows_the_clinic(client, admin_user, staff, audit_trail):
    client.force_login(admin_user)
    page = client.get("/settings/audit/")
    assert page.status_code == 200 and rows(page) == 50
    assert "no-store" in page["Cache-Control"].split(", ")
    # 56 of this clinic plus the admin's own sign-in (crm.signin), none of b's.
    assert rows(client.get("/settings/audit/?page=2")) == 7
    assert rows(client.get("/settings/audit/?action=export")) == 1
    assert rows(client.get(f"/settings/audit/?user={staff['doctor'].pk}")) == 50
    assert rows(client.get("/settings/audit/?patient=7")) == 5
    today = timezone.localdate()
    week = f"start={(today - timedelta(days=6)).isoformat()}&end={today.isoformat()}"
    assert rows(client.get(f"/settings/audit/?{week}&action=reveal_phone")) == 7
    bad = client.get("/settings/audit/?start=9999-99-99&action=nope")
    assert bad.status_code == 200 and rows(bad) == 0 and "请修正" in bad.content.decode()


def test_audit_export_is_csv_of_the_filtered_rows_and_is_audited(client, admin_user, audit_trail):
    client.force_login(admin_user)
    response = client.get("/settings/audit/?patient=7&export=csv")
    assert response["Content-Type"].startswith("text/csv")
    lines = b"".join(response.streaming_content).decode("utf-8-sig").strip().splitlines()
    assert len(lines) == 6 and "patient:7" in lines[1]
    [event] = AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT)
    assert event.user == admin_user and event.detail == {"filters": {"patient": "7"}, "count": 5}


@pytest.mark.parametrize("role", ["doctor", "assistant", "nurse", "operations"])
def test_audit_page_is_403_for_other_roles(client, staff, role):
    client.force_login(staff[role])
    assert client.get("/settings/audit/").status_code == 403
    assert client.get("/settings/audit/?export=csv").status_code == 403
    assert not AuditEvent.objects.filter(action=AuditAction.AUDIT_EXPORT).exists()


# Role × data -------------------------------------------------------------------------------


@pytest.fixture
def clinical_patient(make_patient, doctor, assistant):
    patient = make_patient(name="临床患者")
    services.visit_record(
        patient=patient,
        visit_date=timezone.localdate() - timedelta(days=3),
        kind=Visit.Kind.FIRST,
        doctor=doctor,
        amount=880,
        notes="血糖偏高",
        actor=doctor,
    )
    timeline.touch_record(patient=patient, kind=TouchKind.CALL, summary="已接通：伤口恢复良好")
    timeline.touch_record(patient=patient, kind=TouchKind.NOTE, summary="既往史：糖尿病")
    timeline.touch_record(patient=patient, kind=TouchKind.MESSAGE, summary="已发送：复诊提醒")
    return patient


def test_operations_sees_no_clinical_timeline_entries_and_no_visit_amounts(
    api, client, staff, clinical_patient
):
    url = f"/api/patients/{clinical_patient.pk}/"
    ops = api(staff["operations"])
    kinds = {t["kind"] for t in ops.get(url + "timeline/").json()["results"]}
    assert kinds == {"profile", "message"}
    assert ops.get(url + "timeline/?kind=visit,call,note").json()["results"] == []
    [visit] = ops.get(url + "visits/").json()
    assert (visit["amount"], visit["notes"], visit["kind"]) == (None, "", "first")
    # Every other role reads the clinical record.
    doctor_kinds = {
        t["kind"] for t in api(staff["doctor"]).get(url + "timeline/").json()["results"]
    }
    assert {"visit", "call", "note"} <= doctor_kinds
    assert api(staff["assistant"]).get(url + "visits/").json()[0]["amount"] == "880.00"
    client.force_login(staff["operations"])
    page = client.get(f"/patients/{clinical_patient.pk}/").content.decode()
    assert "¥880" not in page and 'data-testid="privacy"' not in page
    client.force_login(staff["admin"])
    assert "¥880" in client.get(f"/patients/{clinical_patient.pk}/").content.decode()


@pytest.mark.parametrize("role", ["doctor", "assistant", "nurse", "operations"])
def test_only_admins_export_or_erase_a_full_record(api, client, staff, clinical_patient, role):
    api_client = api(staff[role])
    url = f"/api/patients/{clinical_patient.pk}/"
    assert api_client.get(url + "data-export/").status_code in (403, 404)
    assert api_client.post(url + "erase/", {}, format="json").status_code in (403, 404)
    client.force_login(staff[role])
    assert client.post(f"/patients/{clinical_patient.pk}/data-export/").status_code in (403, 404)
    assert client.post(f"/patients/{clinical_patient.pk}/erase/", {"confirm": "1"}).status_code in (
        403,
        404,
    )
    assert not actions(action__in=["subject_export", "erase_patient", "erase_refused"])
    assert Patient.objects.get(pk=clinical_patient.pk).name == "临床患者"


def test_a_full_number_search_by_a_role_that_cannot_reveal_it_is_audited(api, staff, make_patient):
    patient = make_patient(name="来电患者", phone="13912345678")
    found = api(staff["assistant"]).get("/api/patients/", {"q": "139 1234 5678"}).json()
    assert [p["id"] for p in found["results"]] == [patient.pk]
    [event] = AuditEvent.objects.filter(action=AuditAction.PHONE_SEARCH)
    assert event.user == staff["assistant"] and event.detail["phone"] == "139****5678"
    assert "13912345678" not in json.dumps(event.detail)
    # The last four digits and names are not audited; doctors may reveal numbers anyway.
    api(staff["assistant"]).get("/api/patients/", {"q": "5678"})
    api(staff["operations"]).get("/api/patients/", {"q": "来电"})
    api(staff["doctor"]).get("/api/patients/", {"q": "13912345678"})
    assert AuditEvent.objects.filter(action=AuditAction.PHONE_SEARCH).count() == 1


# Search terms out of URLs and logs ---------------------------------------------------------


def test_the_search_travels_in_a_header_not_the_url(api, assistant, make_patient):
    wanted = make_patient(name="欧阳娜娜", phone="13700001111")
    make_patient(name="别人")
    client = api(assistant)
    header = {"HTTP_X_SEARCH": "%E6%AC%A7%E9%98%B3"}  # 欧阳, percent-encoded as workbench.js does
    listed = client.get("/api/patients/", **header).json()
    assert [p["id"] for p in listed["results"]] == [wanted.pk]
    assert client.get("/api/patients/counts/", **header).json()["total"] == 1
    export = client.get("/api/patients/export/?file=csv", **header)
    text = b"".join(export.streaming_content).decode("utf-8-sig")
    assert "欧阳娜娜" in text and "别人" not in text
    # The workbench page never writes a search from its URL back into the page.
    page = APIClient()
    page.force_login(assistant)
    assert "欧阳" not in page.get("/workbench/?q=欧阳").content.decode()


def test_access_log_lines_never_carry_the_search():
    for name in ("django.server", "gunicorn.access"):
        # The logger's own handler (pytest may add its capture handler beside it).
        [handler] = [
            h
            for h in logging.getLogger(name).handlers
            if any(isinstance(f, RedactSearchTerms) for f in h.filters)
        ]
        lines = []
        for line in (
            "GET /api/patients/?stage=lead&q=13912345678 HTTP/1.1",
            "GET /workbench/?q=%E6%AC%A7&page=2 HTTP/1.1",
        ):
            record = logging.LogRecord(
                name, logging.INFO, __file__, 1, '"%s" %s', (line, 200), None
            )
            assert handler.filter(record)
            lines.append(handler.format(record))
        text = "\n".join(lines)
        assert "13912345678" not in text and "%E6%AC%A7" not in text
        assert "stage=lead&q=[redacted]" in text and "q=[redacted]&page=2" in text


# PIPL: export and erasure ------------------------------------------------------------------


def test_admin_exports_a_patients_data_for_them_and_it_is_audited(
    api, admin_user, clinical_patient
):
    response = api(admin_user).get(f"/api/patients/{clinical_patient.pk}/data-export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(response.content))
    assert sorted(archive.namelist()) == ["patient.json", "timeline.csv", "visits.csv"]
    record = json.loads(archive.read("patient.json"))
    assert record["patient"]["name"] == "临床患者" and record["patient"]["phone"].startswith("138")
    assert {t["summary"] for t in record["timeline"]} >= {"既往史：糖尿病", "已发送：复诊提醒"}
    assert record["visits"][0]["amount"] == "880.00"
    assert "血糖偏高" in archive.read("visits.csv").decode("utf-8-sig")
    [event] = AuditEvent.objects.filter(action=AuditAction.SUBJECT_EXPORT)
    assert (event.user, event.object_id) == (admin_user, str(clinical_patient.pk))


def test_erasure_removes_identity_keeps_the_timeline_and_is_audited(
    api, client, admin_user, make_patient
):
    lead = make_patient(name="李小龙", phone="13811112222", notes="住在朝阳区")
    timeline.touch_record(
        patient=lead,
        kind=TouchKind.MESSAGE,
        summary="李小龙您好，欢迎关注",
        payload={"to": "李小龙", "phone": "+8613811112222"},
    )
    before = lead.touches.count()
    response = api(admin_user).post(
        f"/api/patients/{lead.pk}/erase/", {"reason": "患者来电要求删除"}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert response.json()["name"] == f"已删除患者#{lead.pk}"
    lead.refresh_from_db()
    assert (lead.phone_encrypted, lead.phone_hash, lead.phone_masked, lead.notes) == (
        "",
        "",
        "",
        "",
    )
    assert not lead.consent_to_contact
    texts = json.dumps(list(lead.touches.values("summary", "payload")), ensure_ascii=False)
    assert "李小龙" not in texts and "13811112222" not in texts
    assert lead.touches.count() == before + 1  # kept, plus the erasure's own entry
    assert f"已删除患者#{lead.pk}您好" in texts
    [event] = AuditEvent.objects.filter(action=AuditAction.ERASE_PATIENT)
    assert event.detail == {"reason": "患者来电要求删除"} and event.user == admin_user
    assert not Patient.objects.search("13811112222").exists()
    # The trigger let erasure through for that one patient only, and only for those columns.
    with pytest.raises(DatabaseError), transaction.atomic():
        Touch.objects.filter(patient=lead).update(summary="again")


def test_erasure_is_refused_while_the_medical_record_must_be_kept(
    api, client, admin_user, clinical_patient
):
    response = api(admin_user).post(
        f"/api/patients/{clinical_patient.pk}/erase/", {}, format="json"
    )
    assert response.status_code == 400
    until = (timezone.localdate() - timedelta(days=3)).replace(year=timezone.localdate().year + 15)
    message = response.json()["message"]
    assert until.isoformat() in message and "15" in message and "病历" in message
    assert Patient.objects.get(pk=clinical_patient.pk).name == "临床患者"
    [event] = AuditEvent.objects.filter(action=AuditAction.ERASE_REFUSED)
    assert event.detail["until"] == until.isoformat()
    client.force_login(admin_user)
    page = client.get(f"/patients/{clinical_patient.pk}/").content.decode()
    assert 'data-testid="erase-blocked"' in page and until.isoformat() in page


def test_erasure_from_the_patient_page(client, admin_user, make_patient):
    lead = make_patient(name="王二小")
    client.force_login(admin_user)
    unconfirmed = client.post(f"/patients/{lead.pk}/erase/", {"reason": "x"}, follow=True)
    assert "勾选" in unconfirmed.content.decode()
    assert Patient.objects.get(pk=lead.pk).name == "王二小"
    done = client.post(f"/patients/{lead.pk}/erase/", {"confirm": "1"}, follow=True)
    assert f"已删除患者#{lead.pk}" in done.content.decode()
    download = client.post(f"/patients/{lead.pk}/data-export/")
    assert download["Content-Type"] == "application/zip"


def test_an_old_record_past_retention_can_be_erased(api, admin_user, make_patient, doctor):
    old = make_patient(name="旧患者")
    services.visit_record(
        patient=old, visit_date=date(2008, 3, 1), kind=Visit.Kind.FIRST, doctor=doctor
    )
    assert (
        api(admin_user).post(f"/api/patients/{old.pk}/erase/", {}, format="json").status_code == 200
    )


# API tokens --------------------------------------------------------------------------------


def token_client(key):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def test_tokens_are_stored_hashed_shown_once_expire_and_rotate(
    client, admin_user, assistant, settings
):
    from crm.api_tokens import api_token_create

    member = assistant.memberships.get()
    key = api_token_create(membership=member)
    [stored] = AuthToken.objects.filter(user=assistant)
    assert key not in (stored.digest, stored.token_key) and len(stored.digest) == 128
    assert stored.expiry.date() == (timezone.now() + timedelta(days=90)).date()
    assert token_client(key).get("/api/tag-groups/").status_code == 200
    # The list page shows the prefix and the expiry, never the key.
    client.force_login(admin_user)
    listed = client.get("/settings/api-tokens/").content.decode()
    assert key not in listed and stored.token_key[:8] in listed
    # Rotation: the new key works, the old one no longer does.
    rotated = api_token_create(membership=member)
    assert token_client(rotated).get("/api/tag-groups/").status_code == 200
    assert token_client(key).get("/api/tag-groups/").status_code in (401, 403)
    # Expired: refused, and the row is gone.
    AuthToken.objects.filter(user=assistant).update(expiry=timezone.now() - timedelta(seconds=1))
    assert token_client(rotated).get("/api/tag-groups/").status_code in (401, 403)
    assert not AuthToken.objects.filter(user=assistant).exists()


def test_the_token_command_prints_a_working_key_once(assistant, capsys):
    call_command("api_token_create", assistant.username)
    out = capsys.readouterr().out
    assert out.startswith("Generated token ") and out.split()[5] == assistant.username
    key = out.split()[2]
    assert token_client(key).get("/api/tag-groups/").status_code == 200
    assert not AuthToken.objects.filter(digest=key).exists()


# Key rotation ------------------------------------------------------------------------------

OLD_KEY = "Y2FyZWxvb3AtZGV2LW9ubHktZmllbGQta2V5LTAwMDA="
NEW_KEY = "bmV3LWNhcmVsb29wLWZpZWxkLWtleS0wMDAwMDAwMDA="


@pytest.fixture
def fresh_keys(settings):
    yield settings
    crypto.keys_changed()  # the next use reads the restored settings


def test_rotating_keys_keeps_search_and_dedupe_working(
    fresh_keys, clinic, make_patient, wecom_account
):
    settings = fresh_keys
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    settings.FIELD_HASH_KEY = "old-hash-key"
    crypto.keys_changed()
    patient = make_patient(name="轮换患者", phone="13655556666")
    wecom_account.secret_encrypted = crypto.encrypt("corp-secret")
    wecom_account.save()
    old_hash = Patient.objects.get(pk=patient.pk).phone_hash
    # Deploy the new keys first, the old ones after them.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    settings.FIELD_HASH_KEY = "new-hash-key,old-hash-key"
    crypto.keys_changed()
    assert list(Patient.objects.search("13655556666")) == [patient]  # before the command too
    with pytest.raises(Exception, match="手机号"):
        make_patient(phone="13655556666")  # dedupe across the rotation
    out = io.StringIO()
    call_command("rotate_field_keys", stdout=out)
    assert "patients.Patient: " in out.getvalue()
    # Then retire the old keys: everything still reads, search and dedupe still work.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    settings.FIELD_HASH_KEY = "new-hash-key"
    crypto.keys_changed()
    rotated = Patient.objects.get(pk=patient.pk)
    assert rotated.phone_hash != old_hash and rotated.phone == "+8613655556666"
    assert list(Patient.objects.search("136 5555 6666")) == [patient]
    wecom_account.refresh_from_db()
    assert wecom_account.secret == "corp-secret"
    with pytest.raises(Exception, match="手机号"):
        make_patient(phone="13655556666")


# The two small fixes ------------------------------------------------------------------------


def test_a_clinic_admins_membership_form_lists_no_other_clinics_usernames(
    client, admin_user, outsider, clinic
):
    from django.contrib.auth import get_user_model

    get_user_model().objects.create_user("newcomer-without-clinic")
    client.force_login(admin_user)
    form = client.get("/admin/crm/membership/add/")
    assert form.status_code == 200
    text = form.content.decode()
    assert "newcomer-without-clinic" in text and "a-nurse" in text
    assert outsider.username not in text
