"""The pages: workbench, patient page, dashboard. Each lays out the screen; the data comes
from the API (tested in test_workbench_api.py). Outsiders get 404 or their own empty clinic."""

import pytest

from tests.conftest import tag

pytestmark = pytest.mark.django_db


def test_workbench_keeps_filters_from_the_url(client, assistant, clinic):
    client.force_login(assistant)
    sugar = tag(clinic, "糖尿病")
    page = client.get(f"/workbench/?q=1234&stage=booked&tag={sugar.pk}&tag_match=all")
    text = page.content.decode()
    assert page.status_code == 200
    # The search is never written back into the page from a URL (workbench.js moves an old
    # bookmark's q into sessionStorage).
    assert 'value="1234"' not in text
    assert '<option value="booked" selected>' in text
    assert f'value="{sugar.pk}" id="f-tag-{sugar.pk}" data-name="糖尿病" checked' in text
    assert '<option value="all" selected>' in text
    assert "助理工作台" in text and "导入患者" in text


def test_patient_page_for_members_404_for_outsiders(client, assistant, outsider, make_patient):
    patient = make_patient(name="王五", phone="13800135555", tags=[])
    client.force_login(assistant)
    text = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "王五" in text and "138****5555" in text
    assert 'id="reveal"' not in text and "仅医生和管理员可查看完整号码" in text
    client.force_login(outsider)
    assert client.get(f"/patients/{patient.pk}/").status_code == 404


def test_doctor_sees_the_reveal_button_and_stage_history(client, doctor, make_patient):
    patient = make_patient(name="赵六")
    client.force_login(doctor)
    text = client.get(f"/patients/{patient.pk}/").content.decode()
    assert 'id="reveal"' in text
    assert "引流" in text  # the created transition in the stage history


def test_patient_page_query_count_is_bounded(client, assistant, make_patient, clinic):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from patients import services

    patient = make_patient(tags=[tag(clinic, "失眠")])
    client.force_login(assistant)
    with CaptureQueriesContext(connection) as few:
        client.get(f"/patients/{patient.pk}/")
    for day in range(1, 21):
        services.visit_record(
            patient=patient, visit_date=patient.created_at.date().replace(day=1), kind="revisit"
        )
        services.patient_set_stage(patient=patient, stage="booked" if day % 2 else "arrived")
    with CaptureQueriesContext(connection) as many:
        client.get(f"/patients/{patient.pk}/")
    assert 0 < len(many) == len(few)


def test_dashboard_page(client, doctor, outsider):
    client.force_login(doctor)
    text = client.get("/dashboard/?start=2026-01-01").content.decode()
    assert "留存看板" in text and "复诊率" in text and "定义" in text
    assert 'value="2026-01-01"' in text
    assert "vendor/echarts/echarts.min.js" in text
    client.force_login(outsider)
    text = client.get("/dashboard/").content.decode()
    assert "乙诊所" in text and "甲诊所" not in text


def test_pages_need_a_login(client, make_patient):
    patient = make_patient()
    for url in ("/workbench/", "/dashboard/", f"/patients/{patient.pk}/", "/patients/import/"):
        response = client.get(url)
        assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_outsider_workbench_is_their_own_clinic(client, outsider, make_patient):
    make_patient(name="本院患者")
    client.force_login(outsider)
    text = client.get("/workbench/").content.decode()
    assert "乙诊所" in text and "甲诊所" not in text and "本院患者" not in text
