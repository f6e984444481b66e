"""In the browser (Debian's Chromium): operations land on their home, open an overdue post
from it, are told in Chinese what is wrong, publish it and come back to updated counts; from
the calendar they open a post's edit page and delete it."""

from datetime import timedelta

import pytest
from django.utils import timezone

from content.articles import article_create, article_set_status
from content.campaigns import campaign_save, campaign_schedule
from doctors import services
from doctors.models import Post, PostFormat, PostStatus
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def calendar(clinic, staff):
    services.doctor_profiles_sync(clinic=clinic)
    profile = clinic.doctor_profiles.get(user=staff["doctor"])
    today = timezone.localdate()
    end = today + timedelta(days=6 - today.weekday())
    posts = {}
    for platform, name in (("douyin", "王医生聊甲状腺"), ("xiaohongshu", "王医生的小红书")):
        account = services.account_save(doctor=profile, platform=platform, name=name)
        for key, topic, status, day in (
            ("published", "术后第一周吃什么", PostStatus.PUBLISHED, today),
            ("overdue", "一位患者的复查故事", PostStatus.SHOT, today - timedelta(days=3)),
            ("due", "本周直播答疑", PostStatus.IDEA, end),
        ):
            posts[f"{platform}-{key}"] = services.post_save(
                clinic=clinic,
                account=account,
                topic=topic,
                format=PostFormat.SHORT_VIDEO,
                status=status,
                publish_date=day,
            )
    article_create(clinic=clinic, title="结节会不会变成癌？", body="中药可以根治结节。")
    review = article_create(clinic=clinic, title="复查前要准备什么？", body="带上报告。")
    article_set_status(article=review, status="in_review")
    campaign_schedule(
        campaign=campaign_save(clinic=clinic, name="术后一个月复查提醒", body="您好，请记得复查。"),
        send_at=timezone.now() + timedelta(days=1),
    )
    return posts


def figure(page, testid):
    return page.get_by_test_id(testid).inner_text().split()[0]


def test_operations_home_leads_to_the_post_and_back(page, staff, calendar):
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    assert figure(page, "overdue-total") == "2"
    assert figure(page, "due-total") == "2" and figure(page, "published-total") == "2"
    assert figure(page, "campaigns-total") == "1" and figure(page, "articles-total") == "2"
    assert figure(page, "onboarding-total") == "1"
    assert "触犯红线" in page.get_by_test_id("articles").inner_text()
    assert "尚未开始发送" in page.get_by_test_id("campaigns").inner_text()
    assert "未建入驻记录" in page.get_by_test_id("onboarding").inner_text()
    screenshot(page, "operations-home")

    overdue = calendar["douyin-overdue"]
    page.locator(f"[data-testid=week-post][data-post='{overdue.pk}']").click()
    page.wait_for_url(f"**/doctors/calendar/{overdue.pk}/?next=/operations/")
    assert page.input_value("#id_topic") == "一位患者的复查故事"
    assert page.input_value("#id_publish_date") == overdue.publish_date.isoformat()
    page.select_option("#id_status", "published")
    page.fill("#id_publish_date", "")
    page.get_by_test_id("save-post").click()
    page.wait_for_load_state()
    errors = page.get_by_test_id("field-error")
    # The one field template names the field the error is on.
    assert errors.get_attribute("data-field") == "publish_date"
    assert errors.inner_text() == "发布日期：已发布的内容需要发布日期。"
    assert Post.objects.get(pk=overdue.pk).status == PostStatus.SHOT
    screenshot(page, "post-edit-error")

    page.fill("#id_publish_date", timezone.localdate().isoformat())
    page.fill("#id_topic", "一位患者的复查故事（上）")
    page.get_by_test_id("save-post").click()
    page.wait_for_url("**/operations/")
    assert "已保存“一位患者的复查故事（上）”" in page.locator(".alert-success").inner_text()
    assert figure(page, "overdue-total") == "1" and figure(page, "published-total") == "3"
    screenshot(page, "operations-home-after-edit")


def test_from_the_calendar_a_post_is_edited_and_deleted(page, staff, calendar):
    due = calendar["xiaohongshu-due"]
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    page.goto("/doctors/calendar/")
    page.locator(f"tr[data-post='{due.pk}'] [data-testid=edit-post]").click()
    page.wait_for_url(f"**/doctors/calendar/{due.pk}/")
    assert page.input_value("#id_publish_date") == due.publish_date.isoformat()
    page.fill("#id_script", "保证治愈，无效退款")
    page.get_by_test_id("save-post").click()
    page.wait_for_load_state()
    assert "保证治愈" in page.get_by_test_id("field-error").first.inner_text()
    screenshot(page, "post-edit-redline")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_test_id("delete-post").click()
    page.wait_for_url("**/doctors/calendar/")
    assert "已删除“本周直播答疑”" in page.locator(".alert-success").inner_text()
    page.wait_for_selector("#posts tr")
    assert page.locator(f"tr[data-post='{due.pk}']").count() == 0
    assert not Post.objects.filter(pk=due.pk).exists()
