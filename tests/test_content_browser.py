"""The patient-facing pages on a phone (375×812) in Debian's Chromium: they render without
horizontal scrolling, load nothing from outside CareLoop, and work; screenshots are kept in
test-artifacts/ for a person to look at."""

from urllib.parse import urlparse

import pytest

from content.articles import article_create, article_link, article_set_status
from content.models import SurveyInvitation
from content.surveys import survey_invite, survey_save
from content.templates_service import message_template_save
from tests.conftest import login, screenshot

pytestmark = pytest.mark.django_db(transaction=True)

ARTICLE = """## 术后一周怎么吃

甲状腺手术后，饮食以**清淡、易消化**为主：

1. 术后当天可少量饮水，无呛咳后进流质；
2. 第二天起半流质，如粥、面条、蒸蛋；
3. 一周内避免辛辣、过烫的食物。

> 出现声音嘶哑、手脚发麻，请及时联系医生。

| 时间 | 建议 |
| --- | --- |
| 第 1 天 | 温凉流质 |

更多内容见[甲状腺术后康复指南](https://example.org/guide)。

<script>alert("xss")</script> <img src=x onerror=alert(1)> [点我](javascript:alert(1))
"""


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        base_url=live_server.url,
        locale="zh-CN",
        viewport={"width": 375, "height": 812},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
    )
    page = context.new_page()
    page.outside = []
    page.dialogs = []
    host = urlparse(live_server.url).netloc
    page.on(
        "request",
        lambda r: (
            page.outside.append(r.url)
            if urlparse(r.url).scheme in ("http", "https") and urlparse(r.url).netloc != host
            else None
        ),
    )
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    context.close()


def fits_the_screen(page):
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def path(link):
    return urlparse(link).path


def test_article_page_on_a_phone(phone, clinic, doctor, make_patient):
    article = article_create(clinic=clinic, title="甲状腺术后饮食指南", body=ARTICLE)
    article_set_status(article=article, status="published", by=doctor)
    patient = make_patient(name="孙八")
    phone.goto(path(article_link(article=article, patient=patient)))
    assert phone.get_by_test_id("article-title").inner_text() == "甲状腺术后饮食指南"
    body = phone.get_by_test_id("article-body")
    assert "清淡、易消化" in body.inner_text()
    assert body.locator("script, iframe, [onerror]").count() == 0
    assert "急症请立即就医或拨打120" in phone.content()
    assert fits_the_screen(phone)
    phone.wait_for_timeout(300)
    assert phone.dialogs == [] and phone.outside == []
    screenshot(phone, "article-375")
    assert article.views.get().opens == 1


def test_survey_page_on_a_phone_answered_once(phone, clinic, make_patient):
    survey = survey_save(
        clinic=clinic, title="就诊满意度", question="您对本次就诊的整体体验满意吗？", scale=5
    )
    invitation = survey_invite(survey=survey, patient=make_patient(name="周九"))
    phone.goto(path(invitation.link))
    assert fits_the_screen(phone)
    screenshot(phone, "survey-375")
    phone.click("text=提交")  # no score yet: a clear error, nothing saved
    assert "请选择一个分数" in phone.content()
    score_q, comment_q = survey.questions.order_by("position")
    phone.click(f"label[for=q{score_q.pk}-4]")
    phone.fill(f"#q{comment_q.pk}", "护士很细心，候诊时间有点长。")
    phone.click("text=提交")
    phone.wait_for_selector("text=感谢您的评价")
    assert "4 / 5" in phone.get_by_test_id("answer").inner_text()
    assert fits_the_screen(phone)
    screenshot(phone, "survey-375-thanks")
    phone.goto(path(invitation.link))
    assert "感谢您的评价" in phone.content()
    assert SurveyInvitation.objects.get(pk=invitation.pk).score == 4
    assert phone.outside == []


def test_ten_point_survey_and_a_bad_link_on_a_phone(phone, clinic, make_patient):
    survey = survey_save(
        clinic=clinic, title="推荐意愿", question="您有多大可能向亲友推荐我们？", scale=10
    )
    invitation = survey_invite(survey=survey, patient=make_patient())
    phone.goto(path(invitation.link))
    score_q = survey.questions.get(kind="score")
    assert phone.locator(f"input[name=q{score_q.pk}]").count() == 11
    assert fits_the_screen(phone)
    screenshot(phone, "survey-375-ten")
    response = phone.goto("/r/s/tampered-token/")
    assert response.status == 404 and "链接无效" in phone.content()
    assert fits_the_screen(phone)
    screenshot(phone, "survey-375-invalid")


def test_template_preview_with_a_real_patient_in_the_browser(page, clinic, assistant, make_patient):
    make_patient(name="吴十")
    message_template_save(
        clinic=clinic, name="复查提醒", body="{姓名}您好，请于{复诊日期}来{诊所}复查。"
    )
    login(page, assistant.username)
    page.wait_for_url("**/workbench/")
    page.goto("/content/templates/")
    page.click("button[data-preview]")
    preview = page.locator(".cl-preview")
    preview.wait_for(state="visible")
    assert "{复诊日期}" in preview.inner_text()  # missing: the error names the variable
    page.fill("#preview-date", "2026-12-03")
    page.click("button[data-preview]")
    page.wait_for_function(
        "document.querySelector('.cl-preview').textContent.startsWith('吴十您好')"
    )
    assert "2026年12月03日" in preview.inner_text()
    assert "急症请立即就医或拨打120" in preview.inner_text()
    screenshot(page, "templates-preview")


def test_operations_builds_a_campaign_and_sees_who_it_reaches(page, clinic, staff, make_patient):
    from crm.models import Membership

    Membership.objects.filter(user=staff["assistant"]).update(wecom_userid="zhuli-li")
    make_patient(name="可发送", external_userid="wm1", assigned_assistant=staff["assistant"])
    make_patient(name="未同意", external_userid="wm2", consent_to_contact=False)
    make_patient(name="未加微信")
    login(page, staff["operations"].username)
    page.wait_for_url("**/operations/")
    page.click("text=内容")
    page.click(".nav-pills >> text=群发")
    page.fill("#id_name", "冬季养生讲座")
    page.fill("#id_body", "您好，{诊所}本周六举办冬季养生讲座。")
    page.select_option("#id_stage", ["lead"])
    page.click("text=保存并查看触达人数")
    page.wait_for_selector("[data-testid=total]")
    assert page.get_by_test_id("total").inner_text() == "3"
    assert page.get_by_test_id("included").inner_text() == "1"
    reasons = page.get_by_test_id("reasons").inner_text()
    assert "未同意接收消息: 1" in reasons and "未添加企业微信: 1" in reasons
    screenshot(page, "campaign-preview")
    page.click("[data-testid=send]")
    page.wait_for_selector("text=群发已排期")
    assert page.get_by_test_id("campaign-status").inner_text() in ("已排期", "发送中", "已发送")
