"""In the browser (Debian's Chromium), as the assistant: book a revisit on the patient's page,
the reminder leaves the day before through the outbox to the fake WeCom, and on the day the
arrival is marked on /appointments/ (visit, stage 到馆); another patient is marked a no-show
and the call to book again is in the queue. A past time is refused in Chinese."""

from datetime import timedelta

import pytest

from content.templates_service import message_template_save
from followups import clock, services
from followups.appointment_models import Appointment, AppointmentStatus
from followups.models import FollowUpTask
from patients.choices import Stage
from patients.models import Visit
from tests.conftest import login, screenshot
from wechat.models import Delivery
from wechat.tasks import delivery_send_task

pytestmark = pytest.mark.django_db(transaction=True)


def test_book_remind_and_mark_arrived(
    page, staff, make_patient, wecom_account, wecom_staff, fake_wecom
):
    patient = make_patient(
        name="周芳",
        external_userid="wmZHOUFANG",
        assigned_assistant=staff["assistant"],
        assigned_doctor=staff["doctor"],
    )
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    form = page.get_by_test_id("appointment-form")

    # A time in the past: refused in Chinese, nothing booked.
    yesterday = clock.local_today() - timedelta(days=1)
    form.locator("#r-start").fill(f"{yesterday.isoformat()}T10:00")
    form.get_by_role("button", name="预约").click()
    error = form.get_by_test_id("appointment-error")
    error.wait_for(state="visible")
    assert "不能预约过去的时间" in error.inner_text()
    screenshot(page, "appointment-refused-past")
    assert not Appointment.objects.exists()

    tomorrow = clock.local_today() + timedelta(days=1)
    form.locator("#r-start").fill(f"{tomorrow.isoformat()}T09:30")
    form.locator("#r-kind").select_option(label="复查")
    form.locator("#r-note").fill("带上次的化验单")
    with page.expect_navigation():
        form.get_by_role("button", name="预约").click()
    page.get_by_test_id("patient-appointment").first.wait_for()
    assert page.get_by_test_id("patient-stage").inner_text() == "预约"
    listed = page.get_by_test_id("patient-appointment").first.inner_text()
    assert f"{tomorrow.isoformat()} 09:30" in listed and "复查" in listed
    [appointment] = Appointment.objects.filter(patient=patient)
    assert appointment.doctor == staff["doctor"] and appointment.notes == "带上次的化验单"
    screenshot(page, "appointment-booked-patient-page")

    # A message template with {复诊日期}: previewed with the appointment's day, no date chosen.
    message_template_save(
        clinic=patient.clinic, name="复诊提醒", body="{姓名}，请于{复诊日期}复诊。"
    )
    page.reload()
    page.get_by_test_id("message-template").select_option(label="复诊提醒")
    page.wait_for_function(
        "document.getElementById('m-text').value.startsWith("
        f"'周芳，请于{tomorrow:%Y年%m月%d日}复诊。')"
    )
    screenshot(page, "appointment-revisit-date-in-message")

    # The day before, the due scan puts the reminder in the outbox; the worker sends it once.
    noon = clock.at(clock.local_today(), clock.hhmm("12:00"))
    assert services.due_scan(now=noon)["appointment_reminders"] == 1
    assert services.due_scan(now=noon + timedelta(minutes=1))["appointment_reminders"] == 0
    [delivery] = Delivery.objects.filter(idempotency_key=f"appointment:{appointment.pk}:reminder")
    assert delivery_send_task(delivery.pk) == "sent"
    assert delivery_send_task(delivery.pk) == "not-due"
    [message] = fake_wecom.customer_messages
    assert "09:30" in message["content"] and message["content"].endswith("拨打120。")
    page.reload()
    page.wait_for_selector("#timeline li:has-text('预约提醒已进入发送队列')")
    screenshot(page, "appointment-reminder-on-timeline")

    # The day comes (the appointment is moved to today: the test cannot wait a day).
    Appointment.objects.filter(pk=appointment.pk).update(
        start=appointment.start - timedelta(days=1)
    )
    page.goto("/appointments/")
    row = page.get_by_test_id(f"appointment-{appointment.pk}")
    assert "周芳" in row.inner_text() and "已预约" in row.inner_text()
    screenshot(page, "appointments-today")
    row.get_by_role("button", name="到诊").click()
    page.wait_for_selector("text=已到诊：周芳")
    row = page.get_by_test_id(f"appointment-{appointment.pk}")
    assert row.get_by_test_id("status").inner_text() == "已到诊"
    screenshot(page, "appointments-arrived")
    appointment.refresh_from_db()
    assert appointment.status == AppointmentStatus.ARRIVED
    assert Visit.objects.filter(patient=patient, visit_date=clock.local_today()).count() == 1
    row.get_by_role("link", name="周芳").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    assert page.get_by_test_id("patient-stage").inner_text() == "到馆"
    screenshot(page, "appointment-arrived-patient-page")


def test_mark_a_no_show_and_find_the_call_in_the_queue(page, staff, make_patient):
    patient = make_patient(name="王强", assigned_assistant=staff["assistant"])
    start = clock.at(clock.local_today() - timedelta(days=1), clock.hhmm("10:00"))
    appointment = services.appointment_book(
        patient=patient, doctor=staff["doctor"], start=start, now=start - timedelta(days=3)
    )
    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto("/appointments/")
    assert page.get_by_test_id(f"appointment-{appointment.pk}").count() == 0  # yesterday
    page.get_by_test_id("day-previous").click()
    row = page.get_by_test_id(f"appointment-{appointment.pk}")
    row.wait_for()
    row.get_by_role("button", name="爽约").click()
    page.wait_for_selector("text=已记录爽约")
    row = page.get_by_test_id(f"appointment-{appointment.pk}")
    assert row.get_by_test_id("status").inner_text() == "爽约"
    screenshot(page, "appointments-no-show")
    [task] = FollowUpTask.objects.filter(patient=patient)
    page.goto("/followups/queue/")
    queued = page.get_by_test_id(f"task-{task.pk}")
    assert "王强" in queued.inner_text() and "爽约" in queued.inner_text()
    screenshot(page, "appointment-no-show-queue")
    patient.refresh_from_db()
    assert patient.stage == Stage.BOOKED  # a no-show leaves the stage; the call books again


def test_the_dashboard_shows_the_no_show_rate_with_its_definition(page, staff, make_patient):
    def past(name, days):
        start = clock.at(clock.local_today() - timedelta(days=days), clock.hhmm("10:00"))
        return services.appointment_book(
            patient=make_patient(name=name),
            doctor=staff["doctor"],
            start=start,
            now=start - timedelta(days=3),
        )

    services.appointment_no_show(appointment=past("甲", 3))
    services.appointment_arrive(appointment=past("乙", 3))
    services.appointment_arrive(appointment=past("丙", 2))
    services.appointment_cancel(appointment=past("丁", 2), reason="改期")  # left out
    login(page, staff["doctor"].username)
    page.wait_for_url("**/dashboard/")
    page.wait_for_function("document.getElementById('kpi-noshow-sub').textContent !== ''")
    assert page.get_by_test_id("kpi-noshow").inner_text() == "33.3%"
    assert page.locator("#kpi-noshow-sub").inner_text() == "到期预约 3 个，爽约 1 个"
    page.locator("#noshow-card summary").click()
    assert page.get_by_text("被标记为爽约的比例").is_visible()
    screenshot(page, "dashboard-no-show-rate")
