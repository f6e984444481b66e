"""The operations home (/operations/): this week's posts per doctor, campaigns on their way,
drafts and the red lines that block them, unfinished onboarding; each item links to where it is
worked. Clinic-scoped, for operations and admins, in a fixed number of queries."""

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from content.articles import article_create, article_set_status
from content.campaigns import campaign_cancel, campaign_save, campaign_schedule, campaign_start
from content.models import Campaign
from crm.models import Membership
from doctors import services
from doctors.models import PostFormat, PostStatus
from tests.conftest import make_staff
from wechat.models import Delivery, DeliveryRecipient, DeliveryStatus

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"0" * 32


def week_of(today):
    start = today - timedelta(days=today.weekday())
    return start, start + timedelta(days=6)


def post(account, topic, status, day):
    return services.post_save(
        clinic=account.clinic,
        account=account,
        topic=topic,
        format=PostFormat.SHORT_VIDEO,
        status=status,
        publish_date=day,
    )


def doctor_with_account(clinic, user, name):
    services.doctor_profiles_sync(clinic=clinic)
    profile = clinic.doctor_profiles.get(user=user)
    return profile, services.account_save(doctor=profile, platform="douyin", name=name)


@pytest.fixture
def world(clinic, staff, other_clinic, make_patient, settings, tmp_path):
    """Clinic A: two doctors with this week's posts, campaigns, drafts and onboarding in each
    state; clinic B: one of everything, which A must never see."""
    settings.MEDIA_ROOT = tmp_path
    today = timezone.localdate()
    start, end = week_of(today)
    wang, wang_account = doctor_with_account(clinic, staff["doctor"], "王医生聊甲状腺")
    li_user = make_staff(clinic, "doctor", "a-doctor2")
    li, li_account = doctor_with_account(clinic, li_user, "李医生说结节")
    make_staff(clinic, "doctor", "a-doctor3")  # no profile yet: the page makes it
    posts = {
        "published": post(wang_account, "本周已发布", PostStatus.PUBLISHED, today),
        "due": post(wang_account, "今天要发", PostStatus.SCRIPTED, today),
        "overdue": post(wang_account, "上周忘了发", PostStatus.SHOT, today - timedelta(days=8)),
        "li_due": post(li_account, "周日直播", PostStatus.IDEA, end),
        "last_week": post(li_account, "上周已发布", PostStatus.PUBLISHED, start - timedelta(1)),
        "next_week": post(li_account, "下周选题", PostStatus.IDEA, end + timedelta(days=1)),
        "undated": post(li_account, "没定日期的想法", PostStatus.IDEA, None),
    }
    # Onboarding: Wang complete, Li verified (army hospital) but trained on the product only.
    services.onboarding_save(
        profile=wang,
        recruitment_source="conference",
        licence_file=SimpleUploadedFile("licence.png", PNG),
        registry_checked_by="赵运营",
        registry_checked_on=today,
        trained_product=True,
        trained_services=True,
        trained_settlement=True,
    )
    services.onboarding_save(
        profile=li, recruitment_source="colleague", army_hospital=True, trained_product=True
    )
    # Campaigns: one scheduled, one sent yesterday with deliveries, and three not shown.
    Membership.objects.filter(user=staff["doctor"]).update(wecom_userid="yisheng-wang")
    for n in range(3):
        make_patient(
            name=f"患者{n}",
            external_userid=f"wm{n}",
            assigned_doctor=staff["doctor"],
            consent_to_contact=n != 2,
        )
    scheduled = campaign_schedule(
        campaign=campaign_save(clinic=clinic, name="明天的复查提醒", body="{诊所}您好"),
        send_at=timezone.now() + timedelta(days=1),
    )
    sent = campaign_schedule(
        campaign=campaign_save(clinic=clinic, name="昨天的群发", body="{诊所}您好")
    )
    assert campaign_start(campaign_id=sent.pk) == "queued"
    # One task for both (one sender); WeCom reports one delivered, one not a contact.
    first, second = sent.recipients.filter(included=True).order_by("pk")
    Delivery.objects.filter(pk=first.delivery_id).update(
        status=DeliveryStatus.SENT, sent_at=timezone.now()
    )
    DeliveryRecipient.objects.filter(patient=first.patient).update(status="delivered")
    DeliveryRecipient.objects.filter(patient=second.patient).update(status="not_contact")
    old = campaign_schedule(
        campaign=campaign_save(clinic=clinic, name="上个月的群发", body="{诊所}您好")
    )
    campaign_start(campaign_id=old.pk)
    Campaign.objects.filter(pk=old.pk).update(
        status="sent", finished_at=timezone.now() - timedelta(days=8)
    )
    campaign_save(clinic=clinic, name="还在写的群发", body="草稿")
    canceled = campaign_save(clinic=clinic, name="取消的群发", body="取消")
    campaign_cancel(campaign=canceled)
    # Articles: a clean draft, a draft a red line blocks, one in review, one published.
    clean = article_create(clinic=clinic, title="复查前准备", body="带上报告。")
    blocked = article_create(clinic=clinic, title="结节调理", body="可以根治结节。")
    review = article_create(clinic=clinic, title="术后饮食", body="清淡为主。")
    article_set_status(article=review, status="in_review")
    published = article_create(clinic=clinic, title="已发布的科普", body="科普。")
    article_set_status(article=published, status="published")
    # Clinic B.
    b_doctor = make_staff(other_clinic, "doctor", "b-doctor")
    _b_profile, b_account = doctor_with_account(other_clinic, b_doctor, "乙院医生号")
    post(b_account, "乙院逾期内容", PostStatus.IDEA, today - timedelta(days=1))
    campaign_schedule(
        campaign=campaign_save(clinic=other_clinic, name="乙院群发", body="您好"),
        send_at=timezone.now() + timedelta(days=1),
    )
    article_create(clinic=other_clinic, title="乙院草稿", body="草稿")
    return {
        "wang": wang,
        "li": li,
        "posts": posts,
        "campaigns": {"scheduled": scheduled, "sent": sent, "old": old},
        "articles": {"clean": clean, "blocked": blocked, "review": review},
    }


def test_operations_see_this_weeks_posts_per_doctor_with_links(client, staff, world):
    client.force_login(staff["operations"])
    response = client.get("/operations/")
    assert response.status_code == 200
    home = response.context["home"]
    rows = {row.profile.pk: row for row in home.doctors}
    wang, li = rows[world["wang"].pk], rows[world["li"].pk]
    assert (wang.published, wang.due, wang.overdue) == (1, 1, 1)
    assert (li.published, li.due, li.overdue) == (0, 1, 0)
    assert (home.published, home.due, home.overdue) == (1, 2, 1)
    assert len(rows) == 3  # the third doctor, without a profile before, has a row of zeros
    posts = world["posts"]
    # By date, then as planned: the overdue one first.
    expected = [posts["overdue"].pk, posts["published"].pk, posts["due"].pk]
    assert [p.pk for p in wang.posts] == expected
    assert [p.pk for p in li.posts] == [posts["li_due"].pk]
    html = response.content.decode()
    for key in ("published", "due", "overdue", "li_due"):
        assert f'href="/doctors/calendar/{posts[key].pk}/?next=/operations/"' in html
    for key in ("last_week", "next_week", "undated"):
        assert f"/doctors/calendar/{posts[key].pk}/" not in html
    assert f'href="/doctors/{world["wang"].pk}/"' in html
    assert 'data-testid="overdue-total">1<' in html and "本周内容日历" in html


def test_old_overdue_posts_do_not_crowd_this_weeks_out(client, staff, world, monkeypatch):
    """Unpublished posts stay overdue for good; past the list's cap they must not hide this
    week's posts, which are listed on their own cap."""
    from doctors import selectors_home

    monkeypatch.setattr(selectors_home, "POST_ROWS", 2)
    account = world["posts"]["overdue"].account
    for weeks in (3, 4, 5):
        post(
            account,
            f"{weeks}周前的选题",
            PostStatus.IDEA,
            timezone.localdate() - timedelta(weeks=weeks),
        )
    client.force_login(staff["operations"])
    home = client.get("/operations/").context["home"]
    listed = [p.pk for row in home.doctors for p in row.posts]
    posts = world["posts"]
    for key in ("published", "due", "overdue"):
        assert posts[key].pk in listed
    assert len(listed) == 4  # this week's two (the cap) and the two latest overdue
    assert home.overdue == 4  # and every overdue post is counted


def test_campaigns_scheduled_and_recently_sent_with_progress(client, staff, world):
    client.force_login(staff["operations"])
    response = client.get("/operations/")
    campaigns = {c.pk: c for c in response.context["home"].campaigns}
    scheduled, sent = world["campaigns"]["scheduled"], world["campaigns"]["sent"]
    assert set(campaigns) == {scheduled.pk, sent.pk}
    assert campaigns[scheduled.pk].processed == 0
    row = campaigns[sent.pk]
    # Three patients processed: two messaged (one delivered, one given up), one excluded.
    assert (row.processed, row.messaged, row.delivered) == (3, 2, 1)
    assert (row.on_the_way, row.undelivered, row.percent) == (0, 1, 50)
    html = response.content.decode()
    assert f'href="/content/campaigns/{sent.pk}/"' in html
    assert f'href="/content/campaigns/{scheduled.pk}/"' in html
    assert "已处理 3 位患者 · 发送 2 条 · 送达 1 条" in html and "1 条未送达" in html
    assert "尚未开始发送。" in html
    for absent in ("上个月的群发", "还在写的群发", "取消的群发", "乙院群发"):
        assert absent not in html


def test_drafts_in_review_and_those_a_red_line_blocks(client, staff, world):
    client.force_login(staff["operations"])
    response = client.get("/operations/")
    home = response.context["home"]
    articles = world["articles"]
    # Blocked first, then the newest.
    assert [a.pk for a in home.articles] == [
        articles["blocked"].pk,
        articles["review"].pk,
        articles["clean"].pk,
    ]
    assert [hit.phrase for hit in home.articles[0].hits] == ["根治"]
    assert home.blocked_articles == 1
    html = response.content.decode()
    for article in articles.values():
        assert f'href="/content/articles/{article.pk}/"' in html
    assert "触犯红线，无法发布" in html and "“根治”" in html
    assert "已发布的科普" not in html and "乙院草稿" not in html


def test_counts_cover_drafts_beyond_those_shown(client, staff, world, monkeypatch):
    """Only the first rows are listed, but the card counts every draft and every blocked one,
    and blocked drafts are listed first."""
    from doctors import selectors_home

    monkeypatch.setattr(selectors_home, "ARTICLE_ROWS", 2)
    client.force_login(staff["operations"])
    response = client.get("/operations/")
    home = response.context["home"]
    articles = world["articles"]
    assert [a.pk for a in home.articles] == [articles["blocked"].pk, articles["review"].pk]
    assert (home.articles_total, home.blocked_articles) == (3, 1)
    assert 'data-testid="articles-total">3 <span' in response.content.decode()


def test_doctors_whose_onboarding_is_incomplete(client, staff, world):
    client.force_login(staff["operations"])
    response = client.get("/operations/")
    rows = {row["profile"].pk: row for row in response.context["home"].onboarding}
    assert world["wang"].pk not in rows  # verified and trained
    li = rows[world["li"].pk]
    assert [str(m) for m in li["missing"]] == ["执业证照片", "培训：服务内容", "培训：结算"]
    third = staff["doctor"].memberships.get().clinic.doctor_profiles.get(user__username="a-doctor3")
    assert [str(m) for m in rows[third.pk]["missing"]] == ["未建入驻记录"]
    html = response.content.decode()
    assert 'href="/doctors/onboarding/"' in html and "a-doctor2" in html


def test_another_clinics_operations_see_none_of_clinic_a(client, world, other_clinic):
    b_ops = make_staff(other_clinic, "operations", "b-ops")
    client.force_login(b_ops)
    response = client.get("/operations/")
    home = response.context["home"]
    assert [row.name for row in home.doctors] == ["b-doctor"]
    assert home.overdue == 1 and [c.name for c in home.campaigns] == ["乙院群发"]
    html = response.content.decode()
    for text in ("上周忘了发", "王医生聊甲状腺", "a-doctor2", "昨天的群发", "结节调理"):
        assert text not in html


@pytest.mark.parametrize("role,status", [("admin", 200), ("operations", 200)])
def test_operations_and_admins_open_it(client, staff, role, status):
    client.force_login(staff[role])
    assert client.get("/operations/").status_code == status


@pytest.mark.parametrize("role", ["doctor", "assistant", "nurse"])
def test_other_roles_are_refused_as_on_the_onboarding_page(client, staff, role):
    client.force_login(staff[role])
    assert client.get("/operations/").status_code == 403
    assert client.get("/doctors/onboarding/").status_code == 403


def test_anonymous_is_sent_to_login(client):
    response = client.get("/operations/")
    assert response.status_code == 302 and response.url.startswith("/accounts/login/")


def test_the_nav_links_the_page_for_operations_and_admins_only(client, staff):
    for role, shown in (("operations", True), ("admin", True), ("assistant", False)):
        client.force_login(staff[role])
        html = client.get("/workbench/").content.decode()
        assert ('href="/operations/"' in html) is shown, role


def test_the_number_of_queries_does_not_grow_with_the_clinic(client, staff, world, clinic):
    client.force_login(staff["operations"])
    client.get("/operations/")  # first visit: profiles made, content settings seeded
    with CaptureQueriesContext(connection) as few:
        assert client.get("/operations/").status_code == 200
    today = timezone.localdate()
    for n in range(4):
        user = make_staff(clinic, "doctor", f"a-more{n}")
        _profile, account = doctor_with_account(clinic, user, f"更多医生{n}")
        for day in range(-3, 3):
            post(account, f"选题{n}{day}", PostStatus.IDEA, today + timedelta(days=day))
        article_create(clinic=clinic, title=f"草稿{n}", body="包治百病" if n else "科普")
        campaign_schedule(
            campaign=campaign_save(clinic=clinic, name=f"群发{n}", body="您好"),
            send_at=timezone.now() + timedelta(days=2 + n),
        )
    client.get("/operations/")
    with CaptureQueriesContext(connection) as many:
        response = client.get("/operations/")
    assert len(response.context["home"].doctors) == 7
    # Session, user, membership, then the page's reads (doctors, names, post counts, this
    # week's posts, overdue posts, campaigns and their WeCom results, drafts, red lines): 12
    # either way. The page makes no profile (a staff change does) nor the content settings.
    assert len(many) == len(few) == 12, [q["sql"] for q in many.captured_queries]
