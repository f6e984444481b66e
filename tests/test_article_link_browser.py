"""In the browser (Debian's Chromium): an assistant sends a message with an article from the
patient page; the patient opens the link the fake WeCom received, on a phone, without any
login; the read then shows on the patient's timeline, once however often it is opened."""

import re
from pathlib import Path
from urllib.parse import urlparse

import pytest

from content.articles import article_create, article_set_status
from content.templates_service import message_template_save
from tests.conftest import login, screenshot
from wechat.models import Delivery
from wechat.tasks import delivery_send_task

pytestmark = pytest.mark.django_db(transaction=True)
SHOTS = Path("/tmp/l-shots")


def keep(page, name):
    screenshot(page, name)
    SHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def test_the_patient_opens_the_link_from_wecom_and_the_read_lands_on_the_timeline(
    page, browser, live_server, staff, make_patient, wecom_account, wecom_staff, fake_wecom
):
    patient = make_patient(
        name="周芳", external_userid="wmZHOUFANG", assigned_assistant=staff["assistant"]
    )
    message_template_save(clinic=patient.clinic, name="科普推荐", body="{姓名}您好，推荐您阅读：")
    article = article_create(
        clinic=patient.clinic, title="糖尿病饮食指南", body="# 饮食\n\n**少食多餐**，控制主食。"
    )
    article_set_status(article=article, status="published", by=staff["doctor"])

    login(page, staff["assistant"].username)
    page.wait_for_url("**/workbench/")
    page.goto(f"/patients/{patient.pk}/")
    form = page.get_by_test_id("message-form")
    form.get_by_test_id("message-template").select_option(label="科普推荐")
    page.wait_for_function("document.getElementById('m-text').value.startsWith('周芳您好')")
    form.get_by_test_id("message-article").select_option(label="糖尿病饮食指南")
    keep(page, "article-link-compose")
    form.get_by_test_id("message-send").click()
    page.wait_for_function(
        "document.querySelector('[data-testid=message-outcome]').textContent.includes('已加入发送队列')"
    )
    [delivery] = Delivery.objects.filter(patient=patient)
    fake_wecom.add_contact(userid="wx-assistant", external_userid="wmZHOUFANG")
    assert delivery_send_task(delivery.pk) == "sent"  # the worker's part, in-process

    # What WeCom received: the text with our tracked link.
    [message] = fake_wecom.customer_messages
    assert message["external_userid"] == ["wmZHOUFANG"]
    [link] = re.findall(r"https?://\S+/r/l/[A-Za-z0-9_-]+/", message["content"])
    # The link before the emergency notice the preview already ended with, not after it.
    assert message["content"].startswith("周芳您好，推荐您阅读：\nhttp")
    assert message["content"].endswith("/\n\n急症请立即就医或拨打120。")

    # The patient, on a phone, no session: the article, nothing personal, no script.
    phone_context = browser.new_context(
        base_url=live_server.url, locale="zh-CN", viewport={"width": 375, "height": 812},
        is_mobile=True,
    )  # fmt: skip
    phone = phone_context.new_page()
    phone.goto(urlparse(link).path)
    assert phone.get_by_test_id("article-title").inner_text() == "糖尿病饮食指南"
    assert "少食多餐" in phone.get_by_test_id("article-body").inner_text()
    assert phone.locator("script").count() == 0
    html = phone.content()
    assert "周芳" not in html and "wmZHOUFANG" not in html
    keep(phone, "article-link-phone")
    phone.reload()  # a second open: counted, not a second timeline entry
    phone.goto("/r/l/not-a-token/")
    assert "链接无效" in phone.content()
    keep(phone, "article-link-invalid")
    phone_context.close()

    page.reload()
    page.wait_for_selector("#timeline >> text=阅读了文章《糖尿病饮食指南》", timeout=20_000)
    assert page.locator("#timeline >> text=阅读了文章《糖尿病饮食指南》").count() == 1
    keep(page, "article-link-timeline")
    assert patient.touches.filter(payload__event="article_read").count() == 1
