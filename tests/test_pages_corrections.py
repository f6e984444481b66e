"""Corrections seen in use: labels, the workbench title per role, 403 and 404 pages in the user's
language with the navigation (DEBUG off, as in production)."""

import pytest
from django.conf import settings
from django.utils import translation


@pytest.fixture(autouse=True)
def _default_language_after():
    """A request in English leaves English active in this thread: back to the default."""
    yield
    translation.activate(settings.LANGUAGE_CODE)


def test_api_token_button_says_create(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/settings/api-tokens/").content.decode()
    assert ">创建</button>" in page and "创建时间</button>" not in page


def test_funnel_legend_says_arrived(client, admin_user):
    client.force_login(admin_user)
    response = client.get("/dashboard/")
    assert response.context["script_config"]["labels"]["reached"] == "到达"
    assert '"reached": "\\u5230\\u8fbe"' in response.content.decode()


def test_time_window_labels(client, admin_user):
    client.force_login(admin_user)
    page = client.get("/followups/templates/new/").content.decode()
    assert "开始时间" in page and "结束时间" in page and "开始日期" not in page


@pytest.mark.parametrize(
    "role, title",
    [
        ("admin", "患者总览"),
        ("assistant", "助理工作台"),
        ("nurse", "我的病区患者"),
        ("doctor", "诊所患者"),
        ("operations", "诊所患者"),
    ],
)
def test_workbench_title_fits_the_role(client, staff, role, title):
    client.force_login(staff[role])
    page = client.get("/workbench/").content.decode()
    assert f'data-testid="page-title">{title}</h1>' in page
    assert f"<title>{title} · CareLoop</title>" in page


def test_403_page_in_chinese_with_the_navigation(client, settings, doctor):
    settings.DEBUG = False
    client.force_login(doctor)
    response = client.get("/settings/staff/")
    page = response.content.decode()
    assert response.status_code == 403
    assert "您无权打开此页面" in page
    assert 'id="cl-nav"' in page and "随访" in page  # the navigation, in Chinese


def test_403_page_in_english(client, settings, doctor):
    settings.DEBUG = False
    client.force_login(doctor)
    page = client.get("/settings/staff/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "You cannot open this page" in page and "Follow-ups" in page


def test_404_page_in_the_users_language_with_the_navigation(client, settings, assistant):
    settings.DEBUG = False
    client.force_login(assistant)
    response = client.get("/patients/999999/")
    assert response.status_code == 404
    page = response.content.decode()
    assert "页面不存在" in page and 'id="cl-nav"' in page and "退出" in page
    english = client.get("/no-such-page/", HTTP_ACCEPT_LANGUAGE="en")
    assert english.status_code == 404 and "This page does not exist" in english.content.decode()


def test_404_for_a_visitor_signed_out(client, settings):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404 and "页面不存在" in response.content.decode()


def test_api_404_keeps_the_json_shape(api, assistant):
    response = api(assistant).get("/api/patients/999999/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"
