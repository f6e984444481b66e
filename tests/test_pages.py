import pytest
import yaml
from django.conf import settings

from patients.models import Patient
from tests.conftest import recovery_code_for, second_factor_enrol

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "role,page",
    [
        ("admin", "/workbench/"),
        ("assistant", "/workbench/"),
        ("doctor", "/dashboard/"),
        ("nurse", "/nurse/"),
        ("operations", "/operations/"),
    ],
)
def test_login_lands_on_the_role_page(client, staff, role, page):
    response = client.post(
        "/accounts/login/", {"username": staff[role].username, "password": "test-pass-123"}
    )
    assert response.status_code == 302
    if role == "admin":  # admins enter their second factor first, then land on their page
        assert client.get(response.url).url == "/accounts/two-factor/?next=/"
        code = recovery_code_for(staff[role].username)
        response = client.post("/accounts/two-factor/", {"code": code, "next": "/"})
    home = client.get(response.url)
    assert home.status_code == 302 and home.url == page
    text = client.get(page).content.decode()
    assert staff[role].username in text and "甲诊所" in text


def test_login_page_speaks_chinese_and_english_on_request(client):
    assert "登录" in client.get("/accounts/login/").content.decode()
    english = client.get("/accounts/login/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Log in to CareLoop" in english


def test_wrong_password_gets_a_clear_error(client, assistant):
    response = client.post("/accounts/login/", {"username": assistant.username, "password": "nope"})
    assert response.status_code == 200
    assert "请输入一个正确的" in response.content.decode()


def test_anonymous_is_sent_to_login(client):
    response = client.get("/workbench/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_clinic_admin_sees_only_their_clinics_patients_in_django_admin(
    client, admin_user, make_patient, other_clinic
):
    mine = make_patient(name="本院患者")
    theirs = make_patient(name="外院患者", target_clinic=other_clinic)
    client.force_login(admin_user)
    listing = client.get("/admin/patients/patient/").content.decode()
    assert "本院患者" in listing and "外院患者" not in listing
    assert client.get(f"/admin/patients/patient/{mine.pk}/change/").status_code == 200
    assert client.get(f"/admin/patients/patient/{theirs.pk}/change/").status_code in (302, 404)
    assert Patient.objects.get(pk=theirs.pk).name == "外院患者"


def test_a_clinic_added_in_django_admin_starts_with_every_new_clinics_defaults(client, db):
    from django.contrib.auth import get_user_model

    from crm.models import Clinic
    from patients.models import TagGroup
    from wechat.models import ContentSettings

    root = get_user_model().objects.create_superuser("root", "root@example.cn", "pw-Root-2026!")
    second_factor_enrol(root)
    client.force_login(root)
    response = client.post("/admin/crm/clinic/add/", {"name": "新分院", "slug": "xin-fenyuan"})
    assert response.status_code == 302 and "/admin/crm/clinic/" in response.url
    clinic = Clinic.objects.get(slug="xin-fenyuan")
    groups = set(TagGroup.objects.filter(clinic=clinic).values_list("name", flat=True))
    assert groups == {"病种", "手术", "严重程度", "来源"}
    assert ContentSettings.objects.filter(clinic=clinic).count() == 1


def test_non_admin_staff_cannot_use_django_admin(client, assistant):
    client.force_login(assistant)
    response = client.get("/admin/patients/patient/")
    assert response.status_code == 302


def test_admin_creates_a_patient_through_the_service(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/patients/patient/add/",
        {"name": "后台新建", "source": "walk_in", "consent_to_contact": "on", "notes": ""},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    patient = Patient.objects.get(name="后台新建")
    assert patient.clinic == admin_user.memberships.get().clinic
    assert patient.touches.count() == 1


def test_docker_compose_names_every_service():
    with open(settings.BASE_DIR / "docker-compose.yml") as f:
        compose = yaml.safe_load(f)
    # One worker service per queue (crm/settings.py's CELERY_QUEUE_NAMES), each serving it alone.
    workers = {f"worker-{queue}" for queue in settings.CELERY_QUEUE_NAMES}
    assert set(compose["services"]) == {"web", "beat", "postgres", "redis"} | workers
    for queue in settings.CELERY_QUEUE_NAMES:
        command = compose["services"][f"worker-{queue}"]["command"]
        assert f"-Q {queue}" in command, command
    for name, service in compose["services"].items():
        assert "healthcheck" in service, name
