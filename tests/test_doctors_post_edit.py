"""Editing and deleting a post of the content calendar (/doctors/calendar/<id>/): through
post_save and post_delete, errors in Chinese on the form, the same people as may plan a post
(operations and admins every doctor's, a doctor their own), another clinic's post a 404."""

from datetime import timedelta

import pytest
from django.utils import timezone

from doctors import services
from doctors.models import Post, PostFormat, PostStatus
from tests.conftest import make_staff

pytestmark = pytest.mark.django_db


@pytest.fixture
def calendar(clinic, staff, other_clinic):
    services.doctor_profiles_sync(clinic=clinic)
    wang = clinic.doctor_profiles.get(user=staff["doctor"])
    li_user = make_staff(clinic, "doctor", "a-doctor2")
    services.doctor_profiles_sync(clinic=clinic)
    li = clinic.doctor_profiles.get(user=li_user)
    douyin = services.account_save(doctor=wang, platform="douyin", name="王医生抖音")
    redbook = services.account_save(doctor=wang, platform="xiaohongshu", name="王医生小红书")
    li_account = services.account_save(doctor=li, platform="douyin", name="李医生抖音")
    b_doctor = make_staff(other_clinic, "doctor", "b-doctor")
    services.doctor_profiles_sync(clinic=other_clinic)
    b_account = services.account_save(
        doctor=other_clinic.doctor_profiles.get(user=b_doctor), platform="douyin", name="乙院"
    )

    def make(account, topic="结节复查", status=PostStatus.IDEA, day=None):
        return services.post_save(
            clinic=account.clinic,
            account=account,
            topic=topic,
            format=PostFormat.SHORT_VIDEO,
            status=status,
            publish_date=day,
        )

    return {
        "douyin": douyin,
        "redbook": redbook,
        "li_account": li_account,
        "post": make(douyin),
        "li_post": make(li_account, topic="李医生的选题"),
        "b_post": make(b_account, topic="乙院的选题"),
    }


def form_data(post, **changes):
    data = {
        "account": post.account_id,
        "topic": post.topic,
        "format": post.format,
        "status": post.status,
        "publish_date": post.publish_date.isoformat() if post.publish_date else "",
        "disease_tag": post.disease_tag_id or "",
        "cost": post.cost if post.cost is not None else "",
        "script": post.script,
    }
    data.update(changes)
    return data


def test_operations_edit_every_field_of_a_post(client, staff, calendar):
    post = calendar["post"]
    client.force_login(staff["operations"])
    Post.objects.filter(pk=post.pk).update(publish_date="2026-11-05")
    page = client.get(f"/doctors/calendar/{post.pk}/")
    assert page.status_code == 200 and "编辑内容" in page.content.decode()
    # The date input shows the post's date (an ISO date, whatever the language).
    assert 'type="date" name="publish_date" value="2026-11-05"' in page.content.decode()
    day = timezone.localdate() + timedelta(days=2)
    response = client.post(
        f"/doctors/calendar/{post.pk}/",
        form_data(
            post,
            account=calendar["redbook"].pk,
            topic="术后复查时间表",
            format=PostFormat.CASE_STORY,
            status=PostStatus.SCRIPTED,
            publish_date=day.isoformat(),
            cost="150.50",
            script="术后一年内每三个月复查一次。",
        ),
    )
    assert response.status_code == 302 and response.url == "/doctors/calendar/"
    post.refresh_from_db()
    assert (post.account, post.topic, post.format, post.status, post.publish_date) == (
        calendar["redbook"],
        "术后复查时间表",
        PostFormat.CASE_STORY,
        PostStatus.SCRIPTED,
        day,
    )
    assert str(post.cost) == "150.50" and post.script.startswith("术后一年内")
    assert "已保存“术后复查时间表”" in client.get("/doctors/calendar/").content.decode()


def test_after_saving_it_goes_back_to_the_page_it_came_from_if_ours(client, staff, calendar):
    post = calendar["post"]
    client.force_login(staff["admin"])
    url = f"/doctors/calendar/{post.pk}/"
    back = client.post(url, form_data(post, topic="改一下", next="/operations/"))
    assert back.status_code == 302 and back.url == "/operations/"
    away = client.post(url, form_data(post, topic="再改", next="https://evil.example/"))
    assert away.status_code == 302 and away.url == "/doctors/calendar/"


def test_invalid_edits_are_refused_in_chinese_and_change_nothing(client, staff, calendar):
    post = calendar["post"]
    client.force_login(staff["operations"])
    url = f"/doctors/calendar/{post.pk}/"
    no_date = client.post(url, form_data(post, status=PostStatus.PUBLISHED, publish_date=""))
    assert no_date.status_code == 200
    assert "已发布的内容需要发布日期。" in no_date.content.decode()
    red_line = client.post(url, form_data(post, script="我们可以根治甲状腺结节"))
    assert red_line.status_code == 200
    html = red_line.content.decode()
    assert "根治" in html and "违反《医疗广告管理办法》" in html
    negative = client.post(url, form_data(post, cost="-5"))
    assert negative.status_code == 200 and "成本不能为负数" in negative.content.decode()
    bad_date = client.post(url, form_data(post, publish_date="明天"))
    assert bad_date.status_code == 200 and "有效的日期" in bad_date.content.decode()
    no_topic = client.post(url, form_data(post, topic=""))
    assert no_topic.status_code == 200 and "该字段是必填项" in no_topic.content.decode()
    other_doctor_elsewhere = client.post(url, form_data(post, account=999999))
    assert other_doctor_elsewhere.status_code == 200
    assert "选择一个有效的选项" in other_doctor_elsewhere.content.decode()
    assert Post.objects.get(pk=post.pk).topic == "结节复查"
    assert Post.objects.get(pk=post.pk).status == PostStatus.IDEA


def test_another_clinics_post_is_a_404_to_see_change_or_delete(client, staff, calendar):
    b_post = calendar["b_post"]
    client.force_login(staff["operations"])
    assert client.get(f"/doctors/calendar/{b_post.pk}/").status_code == 404
    assert client.post(f"/doctors/calendar/{b_post.pk}/", form_data(b_post)).status_code == 404
    assert client.post(f"/doctors/calendar/{b_post.pk}/delete/").status_code == 404
    assert Post.objects.filter(pk=b_post.pk, topic="乙院的选题").exists()
    # Nor can an account of another clinic be chosen for a post of this one.
    post = calendar["post"]
    moved = client.post(f"/doctors/calendar/{post.pk}/", form_data(post, account=b_post.account_id))
    assert moved.status_code == 200 and Post.objects.get(pk=post.pk).account == post.account


def test_a_doctor_edits_their_own_posts_only(client, staff, calendar):
    post, li_post = calendar["post"], calendar["li_post"]
    client.force_login(staff["doctor"])
    assert client.get(f"/doctors/calendar/{li_post.pk}/").status_code == 404
    assert client.post(f"/doctors/calendar/{li_post.pk}/delete/").status_code == 404
    # Their own post, but not onto a colleague's account.
    url = f"/doctors/calendar/{post.pk}/"
    refused = client.post(url, form_data(post, account=calendar["li_account"].pk))
    assert refused.status_code == 200 and Post.objects.get(pk=post.pk).account == post.account
    saved = client.post(url, form_data(post, topic="我的新选题"))
    assert saved.status_code == 302 and Post.objects.get(pk=post.pk).topic == "我的新选题"


@pytest.mark.parametrize("role", ["assistant", "nurse"])
def test_roles_that_cannot_plan_posts_cannot_edit_them(client, staff, calendar, role):
    post = calendar["post"]
    client.force_login(staff[role])
    assert client.get(f"/doctors/calendar/{post.pk}/").status_code == 403
    assert client.post(f"/doctors/calendar/{post.pk}/delete/").status_code == 403
    assert Post.objects.filter(pk=post.pk).exists()


def test_deleting_a_post(client, staff, calendar, api):
    post, li_post = calendar["post"], calendar["li_post"]
    client.force_login(staff["operations"])
    response = client.post(f"/doctors/calendar/{post.pk}/delete/", {"next": "/operations/"})
    assert response.status_code == 302 and response.url == "/operations/"
    assert not Post.objects.filter(pk=post.pk).exists()
    # The API deletes through the same service.
    assert api(staff["operations"]).delete(f"/api/doctor-posts/{li_post.pk}/").status_code == 204
    assert not Post.objects.filter(pk=li_post.pk).exists()


def test_a_post_with_a_channel_code_stays_published_on_its_account_and_kept(
    client, staff, calendar, wecom_account, wecom_staff, api
):
    post = services.post_save(
        clinic=calendar["douyin"].clinic,
        account=calendar["douyin"],
        topic="有活码的内容",
        format=PostFormat.ARTICLE,
        status=PostStatus.PUBLISHED,
        publish_date=timezone.localdate(),
    )
    post = services.post_code_create(post=post)
    client.force_login(staff["operations"])
    url = f"/doctors/calendar/{post.pk}/"
    unpublished = client.post(url, form_data(post, status=PostStatus.SHOT))
    assert "已有渠道活码的内容须保持已发布状态。" in unpublished.content.decode()
    moved = client.post(url, form_data(post, account=calendar["redbook"].pk))
    assert "已有渠道活码的内容不能更换账号。" in moved.content.decode()
    api_moved = api(staff["operations"]).patch(
        f"/api/doctor-posts/{post.pk}/", {"account": calendar["redbook"].pk}
    )
    assert api_moved.status_code == 400 and "account" in api_moved.json()["errors"]
    kept = client.post(f"{url}delete/", follow=True)
    assert "已有渠道活码的内容要保留，用于统计数据。" in kept.content.decode()
    post.refresh_from_db()
    assert post.account == calendar["douyin"] and post.status == PostStatus.PUBLISHED
    # Its topic and date may still change.
    assert client.post(url, form_data(post, topic="改了标题")).status_code == 302
