"""In the browser (Debian's Chromium): operations plans a post, publishes it, makes its channel
code, a simulated patient scans it through the fake WeCom, and the doctor's funnel shows them.
Also a scan pushed by the fake over real HTTP, attributed to the post, without a browser."""

import pytest
from django.utils import timezone

from doctors import services
from doctors.models import Post, PostFormat, PostStatus
from patients.choices import Source
from patients.models import Patient
from tests.conftest import CORP_ID, login, process_pending, screenshot
from wechat.models import ContactArrival

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def demo_fake(live_server, callback_account, fake_wecom, settings):
    settings.SITE_URL = live_server.url
    settings.WECOM_FAKE_CONTROL_URL = settings.WECOM_API_BASE_URL.replace("/cgi-bin/", "/_fake/")
    return fake_wecom


@pytest.fixture
def doctor_account(clinic, wecom_staff):
    services.doctor_profiles_sync(clinic=clinic)
    profile = clinic.doctor_profiles.get(user=wecom_staff["doctor"].user)
    return services.account_save(doctor=profile, platform="xiaohongshu", name="王医生聊甲状腺")


def test_a_post_code_scanned_in_the_fake_is_the_posts_patient_and_counted(
    clinic, demo_fake, doctor_account, live_server, staff, api
):
    post = services.post_save(
        clinic=clinic,
        account=doctor_account,
        topic="结节复查",
        format=PostFormat.ARTICLE,
        status=PostStatus.PUBLISHED,
        publish_date=timezone.localdate(),
    )
    post = services.post_code_create(post=post)
    demo_fake.register_app(
        corp_id=CORP_ID,
        callback_url=live_server.url + "/wechat/callback/a/",
        token="cb-token-a",
        aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
    )
    result = demo_fake.push_add(CORP_ID, userid="wx-doctor", state=post.channel_code.state)
    assert result["status"] == 200 and process_pending() == ["processed"]
    patient = Patient.objects.get(external_userid=result["external_userid"])
    assert patient.source == Source.DOCTOR_IP and patient.assigned_doctor == staff["doctor"]
    arrival = ContactArrival.objects.get(patient=patient)
    assert arrival.channel_code.post == post
    funnel = api(staff["doctor"]).get("/api/doctor-funnel/").json()
    assert funnel["posts"][0]["id"] == post.pk and funnel["posts"][0]["added"] == 1
    assert funnel["platforms"][0]["platform"] == "xiaohongshu"
    assert funnel["platforms"][0]["added"] == funnel["doctors"][0]["added"] == 1


def test_operations_adds_publishes_codes_a_post_and_the_doctor_sees_the_patient(
    page, demo_fake, doctor_account, staff
):
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    page.get_by_role("link", name="医生IP").click()
    page.wait_for_url("**/doctors/")
    page.get_by_role("link", name="内容日历").click()
    page.wait_for_url("**/doctors/calendar/")
    page.wait_for_selector("#post-account option", state="attached")
    page.fill("#post-topic", "甲状腺结节术后复查")
    page.select_option("#post-format", "case_story")
    page.fill("#post-script", "我们可以根治结节")
    page.get_by_test_id("add-post").click()
    problems = page.get_by_test_id("post-problems")
    problems.wait_for(state="visible")
    assert "根治" in problems.inner_text()
    screenshot(page, "doctors-calendar-redline")
    page.fill("#post-script", "术后一年内每三个月复查一次。内容仅供科普。")
    page.fill("#post-cost", "200")
    page.get_by_test_id("add-post").click()
    page.get_by_test_id("publish").click()
    page.get_by_test_id("make-code").click()
    page.get_by_test_id("simulate").wait_for()
    post = Post.objects.get()
    assert post.status == PostStatus.PUBLISHED and post.channel_code.kind == "p"
    assert page.get_by_test_id("code-state").inner_text() == post.channel_code.state
    screenshot(page, "doctors-calendar-code")
    page.get_by_test_id("simulate").click()
    page.wait_for_url("**/doctors/calendar/?scanned=*")
    assert [push["status"] for push in demo_fake.pushes] == [200]
    process_pending()  # the worker's part, in-process
    patient = Patient.objects.get(external_userid__startswith="wm")
    assert patient.wecom_arrivals.get().channel_code.post == post

    page.get_by_role("button", name="退出").click()
    login(page, staff["doctor"].username)
    page.goto("/doctors/")
    page.get_by_role("link", name="漏斗").first.click()
    page.wait_for_url("**/funnel/")
    page.wait_for_function(
        "document.querySelector('[data-testid=added]')?.textContent === '1'", timeout=10_000
    )
    assert page.get_by_test_id("cost_per_patient").inner_text() == "200.00"
    assert "甲状腺结节术后复查" in page.get_by_test_id("post-figures").inner_text()
    screenshot(page, "doctors-funnel")


def test_profile_accounts_csv_import_and_onboarding_pages(
    page, staff, doctor_account, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    profile = doctor_account.doctor
    page.goto(f"/doctors/{profile.pk}/")
    page.fill("#id_strengths", "甲状腺结节、术后康复")
    page.fill("#id_tags", "甲状腺，耐心")
    page.get_by_role("button", name="保存定位").click()
    page.wait_for_url(f"**/doctors/{profile.pk}/")
    assert "v1" in page.get_by_test_id("versions").inner_text()
    page.wait_for_selector("#accounts tr")
    csv_file = tmp_path / "followers.csv"
    csv_file.write_text("日期,粉丝数\n2026-11-01,100\n2026-11-02,很多\n", encoding="utf-8")
    page.set_input_files("#import-form input[type=file]", str(csv_file))
    page.get_by_role("button", name="导入 CSV").click()
    problems = page.locator("#account-problems")
    problems.wait_for(state="visible")
    assert "第 3 行" in problems.inner_text() and "很多" in problems.inner_text()
    assert not doctor_account.counts.exists()  # one bad row imports nothing
    screenshot(page, "doctors-profile-import-error")

    page.get_by_role("link", name="医生入驻").click()
    page.wait_for_url("**/doctors/onboarding/")
    page.select_option("#ob-source", "colleague")
    photo = tmp_path / "执业证.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + b"0" * 32)
    page.set_input_files("#ob-licence", str(photo))
    page.fill("input[name=registry_checked_by]", "赵运营")
    page.fill("input[name=registry_checked_on]", "2026-11-20")
    page.get_by_role("button", name="保存").click()
    page.wait_for_selector("#onboardings tr")
    assert "同行推荐" in page.locator("#onboardings").inner_text()
    assert profile.onboarding.verified
    screenshot(page, "doctors-onboarding")
