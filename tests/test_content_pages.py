"""Staff pages for content: scoped to the clinic (outsiders 404), roles, errors in place."""

import pytest

from content.articles import article_create
from content.campaigns import campaign_save
from content.models import Article, ArticleStatus, Campaign, CampaignStatus
from crm.models import Membership
from tests.conftest import second_factor_enrol, tag
from wechat.models import RedLinePhrase
from wechat.redline import content_settings_for

pytestmark = pytest.mark.django_db


def test_pages_open_for_members_in_chinese(client, assistant):
    client.force_login(assistant)
    for url, text in (
        ("/content/", "科普文章"),
        ("/content/templates/", "消息模板"),
        ("/content/campaigns/", "群发"),
        ("/content/surveys/", "满意度调查"),
        ("/content/red-lines/", "包治"),
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        assert text in response.content.decode(), url


def test_outsider_gets_404_for_another_clinics_objects(client, outsider, clinic):
    article = article_create(clinic=clinic, title="t", body="b")
    campaign = campaign_save(clinic=clinic, name="c", body="b")
    content_settings_for(clinic=clinic)
    phrase = RedLinePhrase.objects.filter(clinic=clinic).first()
    Membership.objects.filter(user=outsider).update(role="admin")
    second_factor_enrol(outsider)  # an admin has a second factor
    client.force_login(outsider)
    assert client.get(f"/content/articles/{article.pk}/").status_code == 404
    assert (
        client.post(f"/content/articles/{article.pk}/", {"status": "published"}).status_code == 404
    )
    assert client.get(f"/content/campaigns/{campaign.pk}/").status_code == 404
    assert client.post(f"/content/campaigns/{campaign.pk}/", {"send": "1"}).status_code == 404
    assert client.post(f"/content/red-lines/{phrase.pk}/toggle/").status_code == 404
    assert Article.objects.get(pk=article.pk).status == ArticleStatus.DRAFT
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.DRAFT
    assert RedLinePhrase.objects.get(pk=phrase.pk).is_active
    assert "t" not in [a.title for a in client.get("/content/").context["articles"]]


def test_anonymous_is_sent_to_login(client):
    response = client.get("/content/")
    assert response.status_code == 302 and "/accounts/login/" in response.url


def test_write_publish_blocked_then_fixed(client, clinic, assistant, doctor):
    client.force_login(assistant)
    response = client.post(
        "/content/",
        {
            "title": "颈椎病",
            "body": "祖传秘方，保证治愈",
            "disease_tags": [tag(clinic, "颈椎病").pk],
        },
    )
    article = Article.objects.get(title="颈椎病")
    assert response.status_code == 302 and response.url == f"/content/articles/{article.pk}/"
    client.force_login(doctor)
    blocked = client.post(response.url, {"status": "published"})
    text = blocked.content.decode()
    assert blocked.status_code == 200 and "祖传秘方" in text and "保证治愈" in text
    assert "违规用语" in text
    client.post(response.url, {"save": "1", "title": "颈椎病", "body": "注意坐姿，适度运动。"})
    assert client.post(response.url, {"status": "published"}).status_code == 302
    page = client.get(response.url).content.decode()
    assert "已发布" in page and "/r/a/" in page


def test_campaign_page_shows_counts_and_reasons_then_sends(
    client, clinic, staff, make_patient, django_capture_on_commit_callbacks
):
    make_patient(name="不同意", consent_to_contact=False)
    make_patient(name="无微信")
    client.force_login(staff["operations"])
    response = client.post(
        "/content/campaigns/", {"name": "讲座", "body": "{诊所}周六讲座", "stage": ["lead"]}
    )
    campaign = Campaign.objects.get(name="讲座")
    assert campaign.segment == {"stage": ["lead"]}
    page = client.get(response.url).content.decode()
    assert "未同意接收消息: 1" in page and "未添加企业微信: 1" in page
    red = client.post("/content/campaigns/", {"name": "x", "body": "包治百病"})
    assert red.status_code == 200 and "包治" in red.content.decode()
    with django_capture_on_commit_callbacks():
        sent = client.post(response.url, {"send": "1", "send_at": ""})
    assert sent.status_code == 302
    assert Campaign.objects.get(pk=campaign.pk).status == CampaignStatus.SCHEDULED


def test_nurse_sees_campaigns_but_cannot_create(client, nurse):
    client.force_login(nurse)
    client.post("/content/campaigns/", {"name": "x", "body": "b"})
    assert not Campaign.objects.exists()


def test_red_lines_page_toggle_for_admins_only(client, clinic, admin_user, assistant):
    content_settings_for(clinic=clinic)
    phrase = RedLinePhrase.objects.get(clinic=clinic, phrase="根治")
    client.force_login(assistant)
    assert client.post(f"/content/red-lines/{phrase.pk}/toggle/").status_code == 403
    client.force_login(admin_user)
    assert client.post(f"/content/red-lines/{phrase.pk}/toggle/").status_code == 302
    assert RedLinePhrase.objects.get(pk=phrase.pk).is_active is False
    client.post("/content/red-lines/", {"phrase": "神药", "reason": "夸大疗效"})
    assert RedLinePhrase.objects.filter(clinic=clinic, phrase="神药").exists()


def test_admin_changes_the_sending_rules_others_cannot(client, clinic, admin_user, doctor):
    from wechat.models import ContentSettings

    client.force_login(doctor)
    assert client.get("/content/settings/").status_code == 403
    client.force_login(admin_user)
    assert "急症请立即就医或拨打120" in client.get("/content/settings/").content.decode()
    data = {
        "emergency_notice": "急症请立即就医或拨打120。",
        "per_customer_daily_cap": "2",
        "per_customer_weekly_cap": "0",
        "campaigns_per_day_cap": "5",
    }
    assert client.post("/content/settings/", data).status_code == 302
    row = ContentSettings.objects.get(clinic=clinic)
    assert (row.emergency_notice_enabled, row.per_customer_daily_cap) == (False, 2)
    assert (row.per_customer_weekly_cap, row.campaigns_per_day_cap) == (0, 5)
    empty = client.post("/content/settings/", {**data, "emergency_notice": "  "})
    assert empty.status_code == 200 and ContentSettings.objects.get(clinic=clinic).emergency_notice
