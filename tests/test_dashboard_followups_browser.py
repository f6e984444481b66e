"""The dashboard's follow-up card in the browser (Playwright on Debian's Chromium), in Chinese."""

from datetime import timedelta

import pytest
from django.utils import timezone

from crm.models import Role
from followups.models import Action, FollowUpTask
from tests.conftest import login, make_staff, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def task(patient, days_ago, *, late_hours=None):
    """A call due `days_ago` with a 9-hour window; done `late_hours` after it was due."""
    due = timezone.now() - timedelta(days=days_ago)
    done = None if late_hours is None else due + timedelta(hours=late_hours)
    return FollowUpTask.objects.create(
        clinic_id=patient.clinic_id,
        patient=patient,
        title="电话随访",
        action=Action.CALL,
        role="assistant",
        due_at=due,
        window_end=due + timedelta(hours=9),
        status="open" if done is None else "done",
        done_at=done,
    )


def test_doctor_reads_followup_timeliness_and_its_limits(page, doctor, clinic, make_patient):
    idle = make_staff(clinic, Role.DOCTOR, "idle-doctor")  # a doctor with no patients
    patient = make_patient(name="王秀英", assigned_doctor=doctor)
    task(patient, 20, late_hours=2)  # on time
    task(patient, 12, late_hours=4)  # on time
    task(patient, 5, late_hours=30)  # late
    task(patient, 3)  # not done
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    card = page.get_by_test_id("kpi-followups")
    page.wait_for_function("document.getElementById('kpi-followups-sub').textContent !== ''")
    assert card.inner_text() == "50.0%"  # 2 on time of 4 due
    assert (
        page.locator("#kpi-followups-sub").inner_text() == "已完成 3 / 到期 4\n延迟中位数 4.0 小时"
    )
    assert page.get_by_test_id("kpi-followups-note").is_hidden()
    page.get_by_text("定义").nth(5).click()
    assert page.get_by_text("在时间窗结束前完成的比例").is_visible()
    screenshot(page, "dashboard-followups")

    # A tag cannot narrow follow-up tasks: the card says so rather than pass for the tag's.
    page.select_option("#d-tag", label="失眠")
    page.get_by_role("button", name="应用").click()
    page.get_by_test_id("kpi-followups-note").filter(has_text="不按标签/渠道筛选").wait_for()
    assert card.inner_text() == "50.0%"
    screenshot(page, "dashboard-followups-tag")

    # A doctor with no patients: nothing was due, no share.
    page.select_option("#d-tag", value="")
    page.select_option("#d-doctor", value=str(idle.pk))
    page.get_by_role("button", name="应用").click()
    page.wait_for_function("document.getElementById('kpi-followups').textContent === '—'")
    assert page.locator("#kpi-followups-sub").inner_text() == "此期间没有到期的随访"
    assert page.get_by_test_id("kpi-followups-note").is_hidden()


def test_a_slow_earlier_answer_does_not_overwrite_the_newer_one(page, doctor, clinic, make_patient):
    """The doctor changes the filter while the first answers are still on their way: when those
    arrive late, the figures stay those of the doctor's latest choice."""
    idle = make_staff(clinic, Role.DOCTOR, "idle-doctor")  # a doctor with no patients
    patient = make_patient(name="王秀英", assigned_doctor=doctor)
    task(patient, 20, late_hours=2)
    task(patient, 3)
    held = []

    def hold_first_answers(route):
        if len(held) < 2 and "doctor=" not in route.request.url:
            held.append(route)  # answered later, below
        else:
            route.continue_()

    page.route("**/api/dashboard/?*", hold_first_answers)
    page.route("**/api/followup-figures/?*", hold_first_answers)
    login(page, doctor.username)
    page.wait_for_url("**/dashboard/")
    page.wait_for_function("document.querySelectorAll('#d-doctor option').length > 1")
    page.select_option("#d-doctor", value=str(idle.pk))  # a doctor with no patients
    page.get_by_role("button", name="应用").click()
    page.wait_for_function("document.getElementById('kpi-followups').textContent === '—'")
    assert len(held) == 2
    for route in held:
        route.continue_()
    page.wait_for_timeout(1000)  # let the held answers arrive and be (not) drawn
    assert page.get_by_test_id("kpi-followups").inner_text() == "—"
    assert page.locator("#kpi-followups-sub").inner_text() == "此期间没有到期的随访"
