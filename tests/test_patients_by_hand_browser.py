"""In the browser (Debian's Chromium): the assistant adds a walk-in patient, is told a known
number belongs to someone, corrects a phone number, and merges a duplicate; a double click
makes one patient (and one calendar post). Screenshots go to test-artifacts/."""

import pytest

from crm.models import AuditAction, AuditEvent
from patients.models import Patient
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


def test_assistant_adds_refuses_a_duplicate_edits_the_phone_and_merges(
    page, assistant, doctor, clinic, make_patient
):
    existing = make_patient(name="刘晓梅", phone="13912348000")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.get_by_test_id("new-patient").click()
    page.wait_for_url("**/patients/new/")
    page.get_by_label("姓名").fill("周立新")
    page.get_by_label("手机号").fill("139 0000 1234")
    page.get_by_label("性别").select_option("male")
    page.get_by_label("出生日期").fill("1968-04-02")
    page.get_by_label("床号").fill("12")
    page.get_by_label("医生", exact=True).select_option(str(doctor.pk))
    page.get_by_label("医生助理").select_option(str(assistant.pk))
    notes = page.get_by_label("备注")
    notes.fill("对青霉素过敏\n家属：女儿")
    assert page.locator('[data-counter-for="id_notes"]').inner_text() == "12 / 1000"
    screenshot(page, "patient-new-form")
    page.get_by_test_id("save-patient").click()
    page.wait_for_selector("[data-testid=patient-name]")
    patient = Patient.objects.get(name="周立新")
    assert page.url.endswith(f"/patients/{patient.pk}/")
    assert page.get_by_test_id("ward-bed").inner_text().endswith("床号 12")
    screenshot(page, "patient-new-landed")

    # The same number again: nothing created, a link to who has it.
    page.goto("/patients/new/")
    page.get_by_label("姓名").fill("刘小梅")
    page.get_by_label("手机号").fill("13912348000")
    page.get_by_test_id("save-patient").click()
    page.wait_for_selector("[data-testid=duplicate-link]")
    error = page.locator('[data-field="phone"]').inner_text()
    assert "手机号" in error and "本诊所已有患者使用该手机号" in error
    screenshot(page, "patient-new-duplicate")
    assert Patient.objects.filter(clinic=clinic).count() == 2
    page.get_by_test_id("duplicate-link").click()
    page.wait_for_url(f"**/patients/{existing.pk}/")

    # Correct the new patient's number: audited, on the timeline, masked.
    page.goto(f"/patients/{patient.pk}/")
    page.get_by_test_id("edit-profile").click()
    page.wait_for_url(f"**/patients/{patient.pk}/edit/")
    page.get_by_label("手机号").fill("12")
    page.get_by_test_id("save-patient").click()
    page.wait_for_selector('[data-field="phone"]')
    assert "有效" in page.locator('[data-field="phone"]').inner_text()
    screenshot(page, "patient-edit-bad-phone")
    page.get_by_label("手机号").fill("13955552222")
    page.get_by_test_id("save-patient").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    assert page.get_by_test_id("phone").inner_text() == "139****2222"
    patient.refresh_from_db()
    assert str(patient.birth_date) == "1968-04-02" and patient.bed_number == "12"
    assert patient.touches.filter(summary__startswith="更新档案").count() == 0
    page.locator("#timeline li", has_text="手机号已修改：139****1234 → 139****2222").wait_for()
    assert AuditEvent.objects.filter(action=AuditAction.PHONE_CHANGE).count() == 1
    screenshot(page, "patient-phone-changed")

    # The same person came in from WeCom too: merge that record into this one.
    duplicate = make_patient(name="周立新", phone="", external_userid="wm-zhou")
    page.get_by_test_id("merge-records").click()
    page.wait_for_url(f"**/patients/{patient.pk}/merge/")
    page.get_by_label("查找另一份档案").fill("周立新")
    page.get_by_role("button", name="搜索").click()
    page.get_by_test_id("merge-candidates").get_by_role("link", name="预览").click()
    page.wait_for_selector("[data-testid=merge-preview]")
    assert "企业微信外部联系人 ID" in page.get_by_test_id("merge-preview").inner_text()
    screenshot(page, "patient-merge-preview")
    page.get_by_test_id("merge-confirm").click()
    page.wait_for_url(f"**/patients/{patient.pk}/")
    page.locator("#timeline li", has_text=f"已将重复档案 #{duplicate.pk}").wait_for()
    screenshot(page, "patient-merged")
    duplicate.refresh_from_db()
    assert duplicate.merged_into_id == patient.pk
    page.goto(f"/patients/{duplicate.pk}/")
    page.wait_for_url(f"**/patients/{patient.pk}/")


def test_a_double_click_on_create_makes_one_patient(page, assistant, clinic):
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/patients/new/")
    page.get_by_label("姓名").fill("双击测试")
    page.get_by_test_id("save-patient").dblclick()
    page.wait_for_selector("[data-testid=patient-name]")
    assert Patient.objects.filter(clinic=clinic, name="双击测试").count() == 1


def test_a_second_click_after_the_first_sends_nothing(page, assistant, clinic):
    """The first submission is sent (into a frame, so this page stays to be clicked again):
    the button is disabled and further clicks and submits send no request
    (static/js/submit-once.js)."""
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/patients/new/")
    page.get_by_label("姓名").fill("再点一次")
    page.evaluate(
        """() => {
        const frame = document.createElement("iframe");
        frame.name = "sink";
        document.body.append(frame);
        document.querySelector("[data-testid=patient-form]").target = "sink";
    }"""
    )
    posts = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    button = page.get_by_test_id("save-patient")
    with page.expect_response(lambda r: r.request.method == "POST"):
        button.click()
    page.wait_for_function(
        "document.querySelector('[data-testid=save-patient]').disabled", polling=50
    )
    button.click(force=True)
    page.evaluate("document.querySelector('[data-testid=patient-form]').requestSubmit()")
    assert len([url for url in posts if url.endswith("/patients/new/")]) == 1
    assert Patient.objects.filter(clinic=clinic, name="再点一次").count() == 1


def test_the_note_counter_and_the_same_stage_message(page, assistant, make_patient):
    patient = make_patient(name="王建国")
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    note = page.locator("#n-summary")
    note.fill("字" * 451)
    assert page.locator('[data-counter-for="n-summary"]').inner_text() == "451 / 450"
    page.get_by_role("button", name="添加备注").click()
    error = page.locator('#note-form [data-field="summary"]')
    error.wait_for()
    assert "备注最多 450 个字" in error.inner_text()
    assert note.input_value() == "字" * 451  # nothing lost
    screenshot(page, "patient-note-too-long")
    page.locator("#stage-form button[type=submit]").click()
    stage_error = page.locator('#stage-form [data-field="stage"]')
    stage_error.wait_for()
    assert "未作更改" in stage_error.inner_text()
    screenshot(page, "patient-same-stage")


def test_a_double_click_on_the_calendar_adds_one_post(page, clinic, staff):
    from doctors import services as doctor_services
    from doctors.models import Post

    doctor_services.doctor_profiles_sync(clinic=clinic)
    profile = clinic.doctor_profiles.get(user=staff["doctor"])
    doctor_services.account_save(doctor=profile, platform="xiaohongshu", name="王医生聊甲状腺")
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    page.goto("/doctors/calendar/")
    page.wait_for_selector("#post-account option", state="attached")
    page.fill("#post-topic", "双击只加一篇")
    page.get_by_test_id("add-post").dblclick()
    page.locator("#posts tr", has_text="双击只加一篇").first.wait_for()
    page.wait_for_function("!document.querySelector('[data-testid=add-post]').disabled")
    assert Post.objects.filter(clinic=clinic, topic="双击只加一篇").count() == 1
    assert page.locator("#posts tr", has_text="双击只加一篇").count() == 1
