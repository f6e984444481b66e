"""A multi-question survey end to end in the browser (Playwright on Debian's Chromium), in
Chinese: a care plan's survey step sends the tracked link through the outbox to the fake WeCom;
the link is taken from what the fake WeCom received; the patient opens it on a phone, is told
in Chinese what is missing, answers every question; the doctor's 满意度 changes, and the
survey's results and the patient's timeline show the answer with the visit it asks about."""

from datetime import time

import pytest

from content.models import SurveyInvitation
from content.surveys import survey_save
from crm.models import Membership
from followups import clock, services
from followups.models import Action
from patients.services import visit_record
from tests.conftest import login, screenshot
from tests.followups_factories import step
from wechat import services as outbox
from wechat.models import Delivery

pytestmark = pytest.mark.django_db(transaction=True)


def satisfaction(page):
    page.goto("/dashboard/")
    page.wait_for_function("document.getElementById('kpi-satisfaction').textContent !== '…'")
    return page.get_by_test_id("kpi-satisfaction").inner_text()


def test_care_plan_survey_reaches_the_patient_through_the_fake_wecom_and_fills_satisfaction(
    page,
    browser,
    live_server,
    settings,
    clinic,
    doctor,
    assistant,
    make_patient,
    wecom_account,
    fake_wecom,
):
    settings.SITE_URL = live_server.url
    Membership.objects.filter(user=assistant).update(wecom_userid="wx-assistant")
    survey = survey_save(
        clinic=clinic,
        title="门诊体验调查",
        scale=10,
        questions=[
            {"kind": "single", "text": "您是第几次来本院？", "choices": ["第一次", "复诊"]},
            {"kind": "score", "text": "医生把病情解释清楚了吗？", "counts": True},
            {
                "kind": "multiple",
                "text": "哪些方面让您满意？",
                "choices": ["环境", "等候时间", "医生"],
            },
            {"kind": "score", "text": "候诊时间是否合适？", "counts": True},
            {"kind": "text", "text": "还有什么建议？", "required": False},
        ],
    )
    patient = make_patient(
        name="王秀英",
        external_userid="wm-wang",
        assigned_assistant=assistant,
        assigned_doctor=doctor,
    )
    today = clock.local_today()
    visit = visit_record(patient=patient, visit_date=today, kind="revisit", doctor=doctor)
    template = services.template_create(
        clinic=clinic,
        name="诊后满意度",
        steps=[
            step(
                "诊后满意度调查",
                0,
                Action.SURVEY,
                survey_id=survey.pk,
                message="{姓名}您好，请评价本次就诊：{链接}",
            )
        ],
    )
    plan, _ = services.plan_start(patient=patient, template=template, anchor_date=today)
    task = plan.tasks.get()

    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    assert satisfaction(page) == "—"

    # The step is due: its reminder carries the tracked link and leaves through the outbox.
    assert services.patient_reminders_enqueue(now=clock.at(today, time(10)))["enqueued"] == 1
    delivery = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder")
    assert outbox.delivery_send(delivery.pk) == "sent"
    received = fake_wecom.customer_messages[-1]
    assert received["external_userid"] == ["wm-wang"]
    link = next(w for w in received["content"].replace("：", " ").split() if "/r/s/" in w)
    assert link.startswith(live_server.url)
    invitation = SurveyInvitation.objects.get(patient=patient)
    assert invitation.visit == visit

    phone = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    try:
        patient_page = phone.new_page()
        patient_page.goto(link)
        assert patient_page.get_by_test_id("survey-title").inner_text() == "门诊体验调查"
        for n in range(1, 6):
            assert patient_page.get_by_test_id(f"question-{n}").is_visible()
        # Submitting with nothing chosen: each required question says what it needs.
        patient_page.get_by_role("button", name="提交").click()
        patient_page.wait_for_load_state()
        assert "请检查下面标出的答案" in patient_page.get_by_test_id("survey-errors").inner_text()
        assert patient_page.get_by_test_id("error-1").inner_text() == "请选择一个答案。"
        assert patient_page.get_by_test_id("error-3").inner_text() == "请至少选择一个答案。"
        assert patient_page.get_by_test_id("error-2").inner_text() == "请选择一个分数。"
        assert not patient_page.get_by_test_id("error-5").count()
        screenshot(patient_page, "survey-questions-required")

        q = list(survey.questions.order_by("position"))
        patient_page.get_by_label("复诊").check()
        patient_page.locator(f"label[for=q{q[1].pk}-9]").click()
        patient_page.get_by_label("环境").check()
        patient_page.get_by_label("医生", exact=True).check()
        patient_page.locator(f"label[for=q{q[3].pk}-8]").click()
        patient_page.fill(f"#q{q[4].pk}", "挂号再快一点就好了")
        screenshot(patient_page, "survey-questions-answering")
        patient_page.get_by_role("button", name="提交").click()
        patient_page.wait_for_load_state()
        assert "感谢您的评价" in patient_page.content()
        assert "8.5 / 10" in patient_page.get_by_test_id("answer").inner_text()
        screenshot(patient_page, "survey-questions-thanks")
    finally:
        phone.close()

    invitation.refresh_from_db()
    assert float(invitation.score) == 8.5 and invitation.answers.count() == 5
    answered = patient.touches.get(payload__event="answered")
    assert answered.payload["score"] == 8.5 and answered.payload["visit_id"] == visit.pk

    assert satisfaction(page) == "4.25 / 5"  # 8.5 of 10, halved
    screenshot(page, "survey-questions-dashboard")

    page.goto(f"/content/surveys/{survey.pk}/")
    assert page.get_by_test_id("survey-mean").inner_text() == "8.50 / 10"
    about = page.get_by_test_id("answer-about").first.inner_text()
    assert about == f"{today.isoformat()} 的就诊"
    assert "挂号再快一点就好了" in page.get_by_test_id("text-answer").first.inner_text()
    screenshot(page, "survey-questions-results")

    page.goto(f"/patients/{patient.pk}/")
    timeline = page.locator("body")
    timeline.get_by_text("满意度调查已回答：8.5/10").first.wait_for()
    assert f"{today.isoformat()} 的就诊" in timeline.inner_text()
    screenshot(page, "survey-questions-timeline")
