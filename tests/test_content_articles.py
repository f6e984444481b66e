"""Articles: review and publishing, the red-line check, safe Markdown, public and tracked links."""

from html.parser import HTMLParser

import pytest
from django.core.exceptions import ValidationError

from content.articles import (
    article_create,
    article_link,
    article_set_status,
    article_update,
    markdown_to_safe_html,
)
from content.models import ArticleStatus, ArticleView
from tests.conftest import tag

pytestmark = pytest.mark.django_db

XSS_BODIES = [
    "<script>alert('xss')</script>正文",
    '<img src=x onerror="alert(1)">',
    '<a href="javascript:alert(1)">点我</a>',
    "[点我](javascript:alert(1))",
    "[点我](JaVaScRiPt:alert(1))",
    "![图](javascript:alert(1))",
    '<iframe src="https://evil.example/"></iframe>',
    '<svg onload="alert(1)"></svg>',
    "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    '<a href="#" onclick="alert(1)">x</a>',
]


def publish(article, by):
    return article_set_status(article=article, status=ArticleStatus.PUBLISHED, by=by)


def test_article_goes_through_review_to_published(clinic, assistant, doctor):
    article = article_create(
        clinic=clinic,
        title="甲状腺结节术后饮食",
        body="# 饮食\n\n少食多餐。",
        author=assistant,
        tags=[tag(clinic, "甲状腺结节")],
    )
    assert article.status == ArticleStatus.DRAFT
    article_set_status(article=article, status=ArticleStatus.IN_REVIEW, by=assistant)
    with pytest.raises(ValidationError):  # an assistant writes; a doctor publishes
        publish(article, assistant)
    article = publish(article, doctor)
    assert article.status == ArticleStatus.PUBLISHED and article.published_at
    assert [t.name for t in article.disease_tags.all()] == ["甲状腺结节"]


def test_publishing_is_blocked_by_a_red_line_phrase_and_says_why(clinic, doctor):
    article = article_create(clinic=clinic, title="颈椎病", body="三个疗程，永不复发！")
    with pytest.raises(ValidationError) as error:
        publish(article, doctor)
    assert "永不复发" in str(error.value) and "医疗广告管理办法" in str(error.value)
    article.refresh_from_db()
    assert article.status == ArticleStatus.DRAFT
    article_update(article=article, body="三个疗程后请复查。")
    assert publish(article, doctor).status == ArticleStatus.PUBLISHED


def test_a_published_article_cannot_be_edited_into_a_red_line(clinic, doctor):
    article = publish(article_create(clinic=clinic, title="t", body="b"), doctor)
    with pytest.raises(ValidationError):
        article_update(article=article, body="包治百病")
    article.refresh_from_db()
    assert article.body == "b"


def test_other_clinics_tags_are_refused(clinic, other_clinic):
    with pytest.raises(ValidationError):
        article_create(clinic=clinic, title="t", body="b", tags=[tag(other_clinic, "糖尿病")])


class ActiveContent(HTMLParser):
    """Collects what a browser would run: script-capable elements, event-handler
    attributes and script or data URLs (text that merely mentions them is harmless)."""

    DANGEROUS_TAGS = {"script", "iframe", "svg", "object", "embed", "style", "form", "math"}

    def __init__(self):
        super().__init__()
        self.found = []

    def handle_starttag(self, tag, attrs):
        if tag in self.DANGEROUS_TAGS:
            self.found.append(tag)
        for name, value in attrs:
            url = "".join((value or "").split()).lower()
            if name.startswith("on") or url.startswith(("javascript:", "vbscript:", "data:")):
                self.found.append(f"{tag} {name}={value}")


def active_content(html):
    parser = ActiveContent()
    parser.feed(html)
    return parser.found


@pytest.mark.parametrize("body", XSS_BODIES)
def test_markdown_cannot_inject_script(body):
    assert active_content(markdown_to_safe_html(body)) == []


def test_the_checker_itself_sees_active_content():
    assert active_content('<p><img src=x onerror="a()"><a href=" javascript:x">y</a></p>') == [
        "img onerror=a()",
        "a href= javascript:x",
    ]


def test_markdown_keeps_ordinary_formatting():
    html = markdown_to_safe_html("## 饮食\n\n**少食多餐**，[指南](https://example.org/a)")
    assert "<h2>饮食</h2>" in html and "<strong>少食多餐</strong>" in html
    assert 'href="https://example.org/a"' in html and 'rel="noopener noreferrer nofollow"' in html


def test_public_page_shows_a_published_article_without_login(client, clinic, doctor):
    article = publish(article_create(clinic=clinic, title="失眠怎么办", body="规律作息。"), doctor)
    link = article_link(article=article)
    response = client.get(link.split("8000", 1)[1] if "8000" in link else link)
    assert response.status_code == 200
    assert "失眠怎么办" in response.content.decode() and "规律作息" in response.content.decode()


def _path(link):
    from urllib.parse import urlparse

    return urlparse(link).path


def test_stored_xss_payload_is_inert_on_the_public_page(client, clinic, doctor):
    article = article_create(clinic=clinic, title="<script>alert(1)</script>标题",
                                      body="\n\n".join(XSS_BODIES))  # fmt: skip
    publish(article, doctor)
    html = client.get(_path(article_link(article=article))).content.decode()
    body = html.split('data-testid="article-body">', 1)[1].split("</div>", 1)[0]
    assert active_content(body) == []
    assert "&lt;script&gt;alert(1)&lt;/script&gt;标题" in html
    assert "<script" not in html.lower()  # the page itself loads no script at all


def test_draft_and_tampered_links_get_a_clear_page(client, clinic, doctor):
    article = article_create(clinic=clinic, title="草稿", body="b")
    response = client.get(_path(article_link(article=article)))
    assert response.status_code == 404 and "不存在或已下线" in response.content.decode()
    publish(article, doctor)
    link = _path(article_link(article=article))
    tampered = link[:-3] + ("A" if link[-3] != "A" else "B") + link[-2:]
    response = client.get(tampered)
    assert response.status_code == 404 and "不存在或已下线" in response.content.decode()
    assert client.get("/r/a/not-a-token/").status_code == 404


def test_tracked_link_counts_each_patient_once_and_every_open(client, clinic, doctor, make_patient):
    article = publish(article_create(clinic=clinic, title="t", body="b"), doctor)
    first, second = make_patient(name="甲"), make_patient(name="乙")
    for patient, opens in ((first, 3), (second, 1)):
        link = _path(article_link(article=article, patient=patient))
        for _ in range(opens):
            assert client.get(link).status_code == 200
    assert client.get(_path(article_link(article=article))).status_code == 200
    views = dict(ArticleView.objects.values_list("patient__name", "opens"))
    assert views == {"甲": 3, "乙": 1}
    from content.selectors import article_stats

    stats = article_stats(clinic=clinic).get(pk=article.pk)
    assert (stats.readers, stats.opens) == (2, 4)


def test_tracked_link_for_another_clinics_patient_is_refused(clinic, doctor, make_patient,
                                                            other_clinic):  # fmt: skip
    article = article_create(clinic=clinic, title="t", body="b")
    stranger = make_patient(target_clinic=other_clinic)
    with pytest.raises(ValidationError):
        article_link(article=article, patient=stranger)


def test_markdown_tables_render_and_stay_safe():
    html = markdown_to_safe_html(
        "| 时间 | 建议 |\n| --- | --- |\n| 第 1 天 | <b onclick=x>流质</b> |"
    )
    assert "<table>" in html and "<td>第 1 天</td>" in html
    assert active_content(html) == []
