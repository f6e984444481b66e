"""Tracked article links: a single message, a care-plan step and a campaign carry an article;
the composer puts a token link on our site in the text; opening it shows the article (no
script, no personal data) and counts the read: once on the patient's timeline for a
patient's link, on the campaign (not per patient) for a campaign's link."""

import re
import secrets
from datetime import date, datetime, timedelta
from urllib.parse import urlparse
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from content.articles import article_create, article_set_status, tracked_link_read
from content.campaigns import campaign_results, campaign_save, campaign_schedule, campaign_start
from content.messages import patient_message_send
from content.models import ArticleLink, ArticleStatus, ArticleView
from content.templates_service import message_template_save
from crm.models import Membership
from followups import services as followups
from followups.models import Action
from patients.choices import TouchKind
from tests.followups_factories import step
from wechat.models import ContentSettings, Delivery

pytestmark = pytest.mark.django_db
SHANGHAI = ZoneInfo("Asia/Shanghai")
LINK_RE = re.compile(r"https?://[^\s]+/r/l/[A-Za-z0-9_-]+/")


@pytest.fixture
def article(clinic, doctor):
    article = article_create(clinic=clinic, title="糖尿病饮食指南", body="# 饮食\n\n少食多餐。")
    return article_set_status(article=article, status=ArticleStatus.PUBLISHED, by=doctor)


@pytest.fixture
def patient(make_patient, staff):
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="wx-assistant")
    return make_patient(
        name="周芳", external_userid="wmZHOU", assigned_assistant=staff["assistant"]
    )


@pytest.fixture
def template(clinic):
    return message_template_save(clinic=clinic, name="科普", body="{姓名}您好，推荐阅读：{链接}")


def link_in(text: str) -> str:
    [link] = LINK_RE.findall(text)
    return urlparse(link).path


def send_with_article(patient, template, article, **kw):
    delivery, _created = patient_message_send(
        patient=patient, template=template, token=secrets.token_urlsafe(18), article=article, **kw
    )
    return delivery


def reads(patient):
    return patient.touches.filter(payload__event="article_read")


def test_a_single_message_carries_the_patients_link_and_the_first_read_lands_once(
    client, staff, patient, template, article
):
    delivery = send_with_article(patient, template, article)
    assert delivery.body.startswith("周芳您好，推荐阅读：http")
    path = link_in(delivery.body)
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert len(token) >= 32
    link = ArticleLink.objects.get()
    assert (link.patient, link.source, link.opens) == (patient, "message", 0)
    assert token not in link.token_hash and len(link.token_hash) == 64  # only its hash
    assert delivery.payload["article_link_id"] == link.pk

    # A link preview (HEAD) is not a read.
    assert client.head(path).status_code == 200
    assert not reads(patient).exists()
    page = client.get(path)
    html = page.content.decode()
    assert page.status_code == 200 and "糖尿病饮食指南" in html and "少食多餐" in html
    assert "<script" not in html and "周芳" not in html and "wmZHOU" not in html
    # Opened three times: one timeline entry, three opens counted.
    client.get(path)
    client.get(path)
    [touch] = reads(patient)
    assert touch.kind == TouchKind.MESSAGE and "糖尿病饮食指南" in touch.summary
    assert touch.payload["article_link_id"] == link.pk
    link.refresh_from_db()
    assert link.opens == 3 and link.first_opened_at <= link.last_opened_at
    assert ArticleView.objects.get(patient=patient, article=article).opens == 3
    # A staff member checking the link from the timeline is not the patient reading it.
    client.force_login(staff["assistant"])
    assert client.get(path).status_code == 200
    link.refresh_from_db()
    assert link.opens == 3 and reads(patient).count() == 1


def test_the_text_gets_the_link_appended_when_it_has_no_placeholder(clinic, patient, article):
    plain = message_template_save(clinic=clinic, name="问候", body="{姓名}您好。")
    body = send_with_article(patient, plain, article).body
    assert body.startswith("周芳您好。\nhttp") and "/r/l/" in body
    assert body.endswith("/\n\n急症请立即就医或拨打120。")
    # The page's edited preview already ends with the notice: the link goes before it, once.
    ContentSettings.objects.filter(clinic=clinic).update(per_customer_daily_cap=0)
    body = send_with_article(
        patient, plain, article, text="周芳您好。\n\n急症请立即就医或拨打120。"
    ).body
    assert body.startswith("周芳您好。\nhttp") and body.count("120") == 1
    assert body.endswith("/\n\n急症请立即就医或拨打120。")


def test_expired_unknown_and_unpublished_links_answer_a_clear_chinese_page(
    client, patient, template, article, doctor
):
    path = link_in(send_with_article(patient, template, article).body)
    ArticleLink.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    expired = client.get(path)
    assert expired.status_code == 410 and "链接已过期" in expired.content.decode()
    assert not reads(patient).exists()
    for bad in ["/r/l/nope/", "/r/l/" + "x" * 150 + "/", path[:-3] + "zz/"]:
        answer = client.get(bad)
        assert answer.status_code == 404 and "链接无效" in answer.content.decode()
    ArticleLink.objects.update(expires_at=timezone.now() + timedelta(days=1))
    article_set_status(article=article, status=ArticleStatus.DRAFT, by=doctor)
    gone = client.get(path)
    assert gone.status_code == 404 and "文章" in gone.content.decode()
    assert not reads(patient).exists()


def test_red_lines_length_and_the_placeholder_still_apply_through_the_composer(
    clinic, patient, template, article
):
    with pytest.raises(ValidationError) as error:
        send_with_article(patient, template, article, text="包治百病 {链接}")
    assert "包治" in str(error.value)
    with pytest.raises(ValidationError) as error:
        send_with_article(patient, template, article, text="好" * 1320)
    assert "4000" in str(error.value)
    # {链接} without an article is refused, never sent literally.
    with pytest.raises(ValidationError):
        send_with_article(patient, template, None)
    # Nothing was left behind by the refused messages.
    assert not ArticleLink.objects.exists() and not Delivery.objects.exists()


def test_the_api_sends_an_article_and_refuses_a_draft_or_anothers(
    api, staff, patient, template, article, other_clinic
):
    client = api(staff["assistant"])
    url = f"/api/patients/{patient.pk}/message/"
    draft = article_create(clinic=patient.clinic, title="草稿", body="正文")
    theirs = article_create(clinic=other_clinic, title="乙院", body="正文")
    for bad in (draft.pk, theirs.pk, 2**62):
        answer = client.post(
            url, {"template": template.pk, "token": secrets.token_urlsafe(18), "article": bad},
            format="json",
        )  # fmt: skip
        assert answer.status_code == 400 and "已发布" in str(answer.json())
    answer = client.post(
        url, {"template": template.pk, "token": secrets.token_urlsafe(18), "article": article.pk},
        format="json",
    )  # fmt: skip
    assert answer.status_code == 201 and "/r/l/" in answer.json()["text"]


# Care-plan steps -----------------------------------------------------------------------


def article_step_task(clinic, patient, **kw):
    template = followups.template_create(
        clinic=clinic,
        name="科普随访",
        steps=[step("推送科普", 0, Action.MESSAGE, message="{姓名}您好，请阅读：{链接}", **kw)],
    )
    plan, _ = followups.plan_start(patient=patient, template=template, anchor_date=date(2026, 3, 1))
    return plan.tasks.get()


def test_a_care_plan_step_carries_the_patients_link(client, clinic, patient, article):
    task = article_step_task(clinic, patient, article_id=article.pk)
    assert task.plan.version.steps[0]["article_id"] == article.pk
    due = datetime(2026, 3, 1, 10, tzinfo=SHANGHAI)
    assert followups.patient_reminders_enqueue(now=due)["enqueued"] == 1
    delivery = Delivery.objects.get(idempotency_key=f"followup:{task.pk}:reminder")
    assert delivery.body.startswith("周芳您好，请阅读：http")
    link = ArticleLink.objects.get()
    assert (link.patient, link.source) == (patient, "care_step")
    client.get(link_in(delivery.body))
    client.get(link_in(delivery.body))
    assert reads(patient).count() == 1


def test_a_step_refuses_an_article_it_cannot_carry(clinic, other_clinic, patient, article):
    theirs = article_create(clinic=other_clinic, title="乙院", body="正文")
    for bad in (theirs.pk, "x"):
        with pytest.raises(ValidationError) as error:
            article_step_task(clinic, patient, article_id=bad)
        assert "已发布" in str(error.value)
    with pytest.raises(ValidationError):  # a phone call sends no text
        followups.template_create(
            clinic=clinic, name="电话", steps=[step("电话", 0, Action.CALL, article_id=article.pk)]
        )
    with pytest.raises(ValidationError):  # {链接} without an article
        followups.template_create(
            clinic=clinic,
            name="无文章",
            steps=[step("推送", 0, Action.MESSAGE, message="请阅读：{链接}")],
        )


def test_a_step_whose_article_was_unpublished_is_skipped_with_the_reason(
    clinic, patient, article, doctor
):
    article_step_task(clinic, patient, article_id=article.pk)
    article_set_status(article=article, status=ArticleStatus.DRAFT, by=doctor)
    due = datetime(2026, 3, 1, 10, tzinfo=SHANGHAI)
    assert followups.patient_reminders_enqueue(now=due)["skipped"] == 1
    assert not ArticleLink.objects.exists() and not Delivery.objects.exists()
    assert "文章" in patient.touches.get(payload__event="reminder_skipped").summary


# Campaigns -----------------------------------------------------------------------------


def test_a_campaigns_link_is_one_per_senders_task_and_its_reads_are_counted_not_per_patient(
    client, api, clinic, staff, make_patient, article
):
    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="zhuli-li")
    Membership.objects.filter(user=staff["doctor"]).update(wecom_userid="yisheng-wang")
    first = make_patient(name="甲", external_userid="wmA", assigned_assistant=staff["assistant"])
    make_patient(name="乙", external_userid="wmB", assigned_assistant=staff["assistant"])
    make_patient(name="丙", external_userid="wmC", assigned_doctor=staff["doctor"])
    campaign = campaign_save(clinic=clinic, name="科普推送", body="{诊所}推荐阅读", article=article)
    campaign_schedule(campaign=campaign)
    assert campaign_start(campaign_id=campaign.pk) == "queued"
    tasks = {d.sender: d for d in Delivery.objects.filter(idempotency_key__startswith="campaign:")}
    assert set(tasks) == {"zhuli-li", "yisheng-wang"}
    assert tasks["zhuli-li"].body.startswith("甲诊所推荐阅读\nhttp")
    links = {link.sender: link for link in ArticleLink.objects.all()}
    assert set(links) == {"zhuli-li", "yisheng-wang"}
    assert all(link.source == "campaign" and link.patient is None for link in links.values())
    assert link_in(tasks["zhuli-li"].body) != link_in(tasks["yisheng-wang"].body)

    client.get(link_in(tasks["zhuli-li"].body))
    client.get(link_in(tasks["zhuli-li"].body))
    assert campaign_results(campaign=campaign)["reads"] | {"by_sender": None} == {
        "opens": 2, "links": 2, "opened": 1, "by_sender": None,
    }  # fmt: skip
    assert not first.touches.filter(payload__event="article_read").exists()
    assert not ArticleView.objects.exists()  # nobody known: not a patient's read
    answer = api(staff["operations"]).get(f"/api/campaigns/{campaign.pk}/")
    assert answer.json()["article"] == article.pk
    assert answer.json()["reads"] == {"opens": 2, "links": 2, "opened": 1}
    listed = api(staff["operations"]).get("/api/campaigns/").json()["results"]
    assert [row["reads"] for row in listed if row["id"] == campaign.pk] == [
        {"opens": 2, "links": 2, "opened": 1}
    ]
    page = client.get(f"/content/campaigns/{campaign.pk}/")
    assert page.status_code == 302  # staff only
    client.force_login(staff["operations"])
    html = client.get(f"/content/campaigns/{campaign.pk}/").content.decode()
    assert 'data-testid="reads-opens">2<' in html and "不按患者" in html


def test_a_campaign_needs_a_published_article_for_its_link(clinic, doctor, article):
    with pytest.raises(ValidationError) as error:
        campaign_save(clinic=clinic, name="x", body="{诊所}推荐阅读 {链接}")
    assert "文章" in str(error.value)
    draft = article_create(clinic=clinic, title="草稿", body="正文")
    with pytest.raises(ValidationError):
        campaign_save(clinic=clinic, name="x", body="推荐阅读", article=draft)
    campaign = campaign_save(clinic=clinic, name="x", body="推荐阅读", article=article)
    # Unpublished before it goes: the text is refused at send, no link made.
    article_set_status(article=article, status=ArticleStatus.DRAFT, by=doctor)
    with pytest.raises(ValidationError):
        campaign_schedule(campaign=campaign)
    assert not ArticleLink.objects.exists()


def test_two_first_reads_at_once_write_one_timeline_entry(patient, template, article):
    """Two requests that both loaded the link before either counted it: the conditional
    UPDATE lets one of them be the first."""
    send_with_article(patient, template, article)
    stale = [ArticleLink.objects.get(), ArticleLink.objects.get()]
    assert [tracked_link_read(link=link) for link in stale] == [True, False]
    assert reads(patient).count() == 1
    assert ArticleLink.objects.get().opens == 2


def test_the_template_editor_picks_the_article_of_a_step(client, admin_user, clinic, article):
    client.force_login(admin_user)
    template = followups.template_create(
        clinic=clinic, name="科普", steps=[step("电话", 1, Action.CALL)]
    )
    url = f"/followups/templates/{template.pk}/"
    page = client.get(url).content.decode()
    assert "附带的文章" in page and "糖尿病饮食指南" in page
    data = {
        "name": "科普", "trigger": "manual", "anchor": "trigger", "is_active": "on",
        "steps-TOTAL_FORMS": "1", "steps-INITIAL_FORMS": "0",
        "steps-0-title": "推送科普", "steps-0-offset_days": "3", "steps-0-action": "message",
        "steps-0-role": "assistant", "steps-0-message": "{姓名}您好，请阅读：{链接}",
        "steps-0-article_id": str(article.pk),
        "steps-0-window_start": "09:00", "steps-0-window_end": "18:00",
    }  # fmt: skip
    assert client.post(url, data).status_code == 302
    template.refresh_from_db()
    saved = template.current_version.steps[0]
    assert (saved["article_id"], saved["message"]) == (article.pk, "{姓名}您好，请阅读：{链接}")
    # The editor shows the saved article again.
    assert f'<option value="{article.pk}" selected>' in client.get(url).content.decode()
    data["steps-0-article_id"] = "999999"  # not offered, so not accepted; nothing saved
    assert client.post(url, data).status_code == 200
    template.refresh_from_db()
    assert template.current_version.number == 2
