"""In the browser (Debian's Chromium): on the patient page an assistant picks a template, sees
it as the patient will read it, is refused a red-line phrase, sends the edited text once (a
double click included), and the message appears on the timeline once the outbox has sent it."""

import pytest

from content.templates_service import message_template_save
from patients.choices import Stage, TouchKind
from tests.conftest import login, screenshot
from wechat.models import Delivery
from wechat.services import customer_results_poll
from wechat.tasks import delivery_send_task

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def template(clinic):
    return message_template_save(
        clinic=clinic, name="复查提醒", body="{姓名}您好，{医生}提醒您按时复查。"
    )


def test_send_a_message_from_a_template_on_the_patient_page(
    page, staff, make_patient, template, wecom_account, wecom_staff, fake_wecom
):
    patient = make_patient(
        name="周芳",
        external_userid="wmZHOUFANG",
        assigned_assistant=staff["assistant"],
        assigned_doctor=staff["doctor"],
    )
    message_template_save(
        clinic=patient.clinic, name="预约确认", body="{姓名}，请于{复诊日期}复诊。"
    )
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    form = page.get_by_test_id("message-form")
    # A template with {复诊日期} asks for the date first, then shows the preview with it.
    form.get_by_test_id("message-template").select_option(label="预约确认")
    # No appointment booked: the preview is refused and the template stays in the box to edit.
    page.wait_for_function(
        "document.getElementById('m-text').value === '{姓名}，请于{复诊日期}复诊。'"
    )
    assert "复诊日期" in form.get_by_test_id("message-outcome").inner_text()
    form.locator("#m-revisit").fill("2026-12-03")
    page.wait_for_function(
        "document.getElementById('m-text').value.startsWith('周芳，请于2026年12月03日复诊。')"
    )
    assert form.get_by_test_id("message-outcome").is_hidden()
    screenshot(page, "patient-message-revisit-date")
    form.get_by_test_id("message-template").select_option(label="复查提醒")
    text = form.get_by_test_id("message-text")
    page.wait_for_function(
        "document.getElementById('m-text').value.startsWith('周芳您好，a-doctor提醒您按时复查。')"
    )
    assert "急症请立即就医或拨打120。" in text.input_value()
    assert "a-assistant" in form.get_by_test_id("message-sender").inner_text()
    screenshot(page, "patient-message-preview")

    # A red-line phrase in the edited text: refused with the phrase and why, nothing queued.
    text.fill("周芳您好，本院包治失眠。")
    form.get_by_test_id("message-send").click()
    outcome = form.get_by_test_id("message-outcome")
    page.wait_for_function(
        "document.querySelector('[data-testid=message-outcome]').textContent.includes('包治')"
    )
    assert "医疗广告管理办法" in outcome.inner_text()
    assert "alert-danger" in outcome.get_attribute("class")
    screenshot(page, "patient-message-refused")
    assert not Delivery.objects.exists()

    text.fill("周芳您好，您的复查报告已出，一切正常。")
    form.get_by_test_id("message-send").dblclick()
    page.wait_for_function(
        "document.querySelector('[data-testid=message-outcome]').textContent.includes('已加入发送队列')"
    )
    assert "a-assistant" in outcome.inner_text()
    [delivery] = Delivery.objects.filter(patient=patient)
    assert delivery.body.startswith("周芳您好，您的复查报告已出，一切正常。")

    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmZHOUFANG")
    assert delivery_send_task(delivery.pk) == "sent"  # the worker's part, in-process
    page.wait_for_selector("#timeline [data-kind=message]", timeout=20_000)
    entry = page.locator("#timeline [data-kind=message]").first.inner_text()
    assert "已交给企业微信" in entry and "您的复查报告已出" in entry
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmZHOUFANG"]
    assert message["content"].startswith("周芳您好，您的复查报告已出，一切正常。")
    # The assistant confirms it in WeCom; the results poll brings WeCom's answer.
    fake_wecom.confirm(userid="wx-assistant")
    assert customer_results_poll()["final"] == 1
    page.reload()
    page.wait_for_selector("#timeline >> text=企业微信群发结果：已送达", timeout=20_000)
    screenshot(page, "patient-message-on-timeline")
    assert patient.touches.filter(kind=TouchKind.MESSAGE).count() == 2


def test_a_churned_patient_is_shown_as_not_reachable_and_a_nurse_cannot_send(
    page, staff, make_patient, template, wecom_staff, nurse_ward
):
    churned = make_patient(
        name="吴磊",
        external_userid="wmWULEI",
        stage=Stage.CHURNED,
        assigned_assistant=staff["assistant"],
        ward=nurse_ward,
    )
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{churned.pk}/")
    blocked = page.get_by_test_id("message-blocked")
    blocked.wait_for()
    assert blocked.inner_text() == "该患者现在不能接收消息：流失"
    assert page.get_by_test_id("message-send").is_disabled()
    screenshot(page, "patient-message-blocked")

    page.context.clear_cookies()
    login(page, staff["nurse"].username)
    page.wait_for_url("**/nurse/")
    page.goto(f"/patients/{churned.pk}/")
    note = page.locator('#message-form [data-part="not-allowed"]')
    note.wait_for()
    assert "只有管理员、运营、医生和助理可以给患者发送消息" in note.inner_text()
    assert page.get_by_test_id("message-send").is_hidden()


def test_a_late_preview_does_not_replace_the_chosen_templates(
    page, staff, make_patient, template, wecom_account, wecom_staff
):
    """The assistant picks one template, then another before the first preview came back:
    when the first arrives late, the box keeps the second template's text."""
    patient = make_patient(
        name="周芳", external_userid="wmZHOUFANG", assigned_assistant=staff["assistant"]
    )
    other = message_template_save(
        clinic=patient.clinic, name="满意度回访", body="{姓名}您好，感谢您的信任。"
    )
    held = []

    def hold_the_first(route):
        if not held and f"/message-templates/{template.pk}/preview/" in route.request.url:
            held.append(route)  # answered below, after the second template's preview
        else:
            route.continue_()

    page.route("**/api/message-templates/*/preview/", hold_the_first)
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    select = page.get_by_test_id("message-template")
    select.select_option(label="复查提醒")
    page.wait_for_function("document.getElementById('m-text').value === ''")
    select.select_option(label=other.name)
    page.wait_for_function("document.getElementById('m-text').value.startsWith('周芳您好，感谢')")
    assert len(held) == 1
    held[0].continue_()
    page.wait_for_timeout(1000)  # the held answer arrives and must not be drawn
    assert page.locator("#m-text").input_value().startswith("周芳您好，感谢您的信任。")
