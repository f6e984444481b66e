"""Surveys end to end in the browser (Playwright on Debian's Chromium), in Chinese: the doctor
invites a patient from the survey page, the patient opens the tracked link and answers, and
the doctor's dashboard 满意度 changes."""

import pytest

from content.models import SurveyInvitation
from content.surveys import survey_save
from crm.models import Membership
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def satisfaction(page):
    page.goto("/dashboard/")
    page.wait_for_function("document.getElementById('kpi-satisfaction').textContent !== '…'")
    return (
        page.get_by_test_id("kpi-satisfaction").inner_text(),
        page.locator("#kpi-satisfaction-sub").inner_text(),
    )


def test_invited_patient_answers_and_the_dashboard_satisfaction_fills(
    page, browser, live_server, settings, clinic, doctor, make_patient
):
    settings.SITE_URL = live_server.url
    Membership.objects.filter(user=doctor).update(wecom_userid="wx-doctor")
    survey = survey_save(
        clinic=clinic, title="就诊满意度", question="您对本次就诊满意吗？", scale=10
    )
    patient = make_patient(name="王秀英", external_userid="wm-wang", assigned_doctor=doctor)
    lisi = make_patient(name="李四")  # no WeCom: refused with the reason

    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    assert satisfaction(page)[0] == "—"

    page.goto("/content/surveys/")
    page.select_option("#id_survey", value=str(survey.pk))
    # The picker searches the server (each option: name · masked phone).
    page.get_by_test_id("patients-search").fill("王秀英")
    page.select_option("#id_patients", value=str(patient.pk))
    page.get_by_test_id("patients-search").fill("李四")
    page.locator(f"#id_patients option[value='{lisi.pk}']").wait_for(state="attached")
    page.select_option("#id_patients", value=[str(patient.pk), str(lisi.pk)])
    page.get_by_role("button", name="发送邀请").click()
    result = page.locator("#invite-result")
    result.wait_for()
    text = result.inner_text()
    assert "已发送 1 份邀请" in text and "未添加企业微信: 1" in text
    screenshot(page, "survey-invitations-sent")

    # The patient's message carries the tracked link; the patient opens it (no login).
    body = SurveyInvitation.objects.get(patient=patient).delivery.body
    link = next(word for word in body.replace("：", " ").split() if "/r/s/" in word)
    assert link.startswith(live_server.url)
    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        patient_page = phone.new_page()
        patient_page.goto(link)
        assert patient_page.get_by_test_id("survey-title").inner_text() == "就诊满意度"
        score_q, comment_q = survey.questions.order_by("position")
        patient_page.locator(f"label[for=q{score_q.pk}-9]").click()
        patient_page.fill(f"#q{comment_q.pk}", "医生很耐心")
        screenshot(patient_page, "survey-patient-answering")
        patient_page.get_by_role("button", name="提交").click()
        patient_page.wait_for_load_state()
        screenshot(patient_page, "survey-patient-thanks")
    finally:
        phone.close()
    assert SurveyInvitation.objects.get(patient=patient).score == 9
    assert patient.touches.filter(payload__event="answered").count() == 1

    score, sub = satisfaction(page)
    assert score == "4.50 / 5"  # 9 of 10, halved
    assert "回复率 100.0%" in sub
    screenshot(page, "survey-dashboard-satisfaction")
