"""Demo content for a clinic: articles (published, a draft a red line blocks, one in review),
a message template, a survey, a scheduled and a draft campaign."""

from datetime import datetime, time, timedelta

from django.utils import timezone

from content.articles import article_create, article_set_status
from content.campaigns import campaign_save, campaign_schedule
from content.models import Article
from content.surveys import survey_save
from content.templates_service import message_template_save
from wechat.redline import content_settings_for

ARTICLE = """## 甲状腺结节术后怎么吃？

术后 1～2 周以清淡、易消化的食物为主，少量多餐。

- 多喝温水，避免过烫、辛辣的食物
- 遵医嘱补充钙剂，出现手脚麻木请及时联系我们
- 按时复查甲状腺功能

> 本文为健康科普，不能代替医生面诊。
"""


DRAFT = """## 结节会不会变成癌？

大多数甲状腺结节是良性的。我们的中药调理可以根治结节，永不复发。
"""
IN_REVIEW = """## 复查前要准备什么？

带上上次的超声报告和化验单，复查当天可以正常吃早饭。
"""


def seed_clinic(*, clinic, author) -> None:
    """Idempotent enough for demos: skips a clinic that already has articles."""
    if Article.objects.filter(clinic=clinic).exists():
        return
    content_settings_for(clinic=clinic)
    article = article_create(
        clinic=clinic, title="甲状腺结节术后饮食指南", body=ARTICLE, author=author
    )
    article_set_status(article=article, status="published", by=author)
    message_template_save(
        clinic=clinic,
        name="复查提醒",
        by=author,
        body="{姓名}您好，{医生}提醒您于{复诊日期}来{诊所}复查，如需改约请回复本消息。",
    )
    survey_save(clinic=clinic, title="就诊满意度", question="您对本次就诊体验满意吗？", scale=5)
    # Two drafts for the operations home: one a red line blocks, one waiting for review.
    article_create(clinic=clinic, title="结节会不会变成癌？", body=DRAFT, author=author)
    review = article_create(
        clinic=clinic, title="复查前要准备什么？", body=IN_REVIEW, author=author
    )
    article_set_status(article=review, status="in_review", by=author)
    # One campaign scheduled for tomorrow morning (the beat sends it then), one draft.
    scheduled = campaign_save(
        clinic=clinic,
        name="术后一个月复查提醒",
        by=author,
        body="您好，术后一个月请记得来{诊所}复查，可回复本消息预约时间。",
        segment={"stage": ["after_visit"]},
    )
    tomorrow = timezone.localdate() + timedelta(days=1)
    campaign_schedule(
        campaign=scheduled,
        send_at=timezone.make_aware(datetime.combine(tomorrow, time(10, 0))),
        by=author,
    )
    campaign_save(
        clinic=clinic,
        name="肺结节患者复查季",
        by=author,
        body="您好，肺结节患者建议每 6～12 个月复查一次胸部 CT，可回复本消息预约。",
        segment={"stage": ["maintained"]},
    )
