"""The demo nurse in Debian's chromium: her checklist and the patient list show only the
patients of her wards. Screenshots go to test-artifacts/ for a person to look at."""

import pytest
from django.core.management import call_command

from crm.models import Role
from followups.models import FollowUpTask
from patients.models import Patient
from tests.conftest import login, make_staff, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_demo_nurse_sees_her_wards_only(page):
    call_command("seed_demo", patients=60)
    call_command("seed_demo_followups")
    hers = Patient.objects.filter(ward__nurses__user__username="nurse")
    assert 0 < hers.count() < Patient.objects.count()
    # The demo password is documented in the README.
    login(page, "nurse", "CareLoop-demo-1")
    page.wait_for_url("**/nurse/")
    screenshot(page, "wards-nurse-checklist")
    shown = page.locator("[data-testid^=item-]").count()
    items = FollowUpTask.objects.filter(action="checklist", patient__in=hers)
    assert shown > 0 and shown <= items.count()
    other = FollowUpTask.objects.filter(action="checklist").exclude(patient__in=hers).first()
    assert other is not None and not page.get_by_test_id(f"item-{other.pk}").count()
    assert page.get_by_role("link", name="看板").count() == 0

    page.goto("/workbench/")
    expected = str(hers.count())
    page.wait_for_function(f"document.getElementById('patient-count').textContent === '{expected}'")
    screenshot(page, "wards-nurse-workbench")
    stranger = Patient.objects.exclude(pk__in=hers).first()
    assert page.get_by_role("link", name=stranger.name, exact=True).count() == 0 or (
        Patient.objects.filter(name=stranger.name, pk__in=hers).exists()
    )


def test_nurse_without_a_ward_is_told_to_ask_an_admin(page, clinic, make_patient):
    make_staff(clinic, Role.NURSE, "new-nurse")
    make_patient(name="郑一")
    login(page, "new-nurse")
    page.wait_for_url("**/nurse/")
    assert "请联系诊所管理员" in page.get_by_test_id("no-ward").inner_text()
    page.goto("/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '0'")
    assert page.get_by_test_id("no-ward").is_visible()
    screenshot(page, "wards-nurse-without-ward")


def test_assistant_filters_the_workbench_by_ward(page, clinic, assistant, make_patient):
    from patients.models import Ward
    from patients.wards import ward_save

    east = ward_save(ward=Ward(clinic=clinic), name="东病区")
    ward_save(ward=Ward(clinic=clinic), name="西病区")
    make_patient(name="东一", ward=east)
    make_patient(name="西一")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.wait_for_function("document.getElementById('patient-count').textContent === '2'")
    page.get_by_label("病区").select_option(label="东病区")
    page.get_by_role("button", name="筛选").click()
    page.wait_for_function("document.getElementById('patient-count').textContent === '1'")
    assert f"ward={east.pk}" in page.url
    # The count can arrive before the rows are drawn: wait for the row, then check the other.
    page.get_by_role("link", name="东一").wait_for(state="visible")
    assert not page.get_by_role("link", name="西一").is_visible()
    screenshot(page, "wards-workbench-filter")
