"""The health-education library (科普): writing, review, publishing, public links, readers."""

import nh3
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from markdown_it import MarkdownIt

from content.models import Article, ArticleStatus, ArticleView
from wechat.redline import redline_check, redline_message

# CommonMark without raw HTML: `<script>` in a body is text. markdown-it also refuses
# javascript:, vbscript:, file: and data: (except images) link targets. nh3 (ammonia)
# then keeps only the tags and attributes below, whatever the renderer let through.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
_markdown.enable(["table", "strikethrough"])
ALLOWED_TAGS = {
    "p", "br", "hr", "h1", "h2", "h3", "h4", "h5", "h6", "strong", "em", "b", "i", "u", "s",
    "del", "blockquote", "ul", "ol", "li", "code", "pre", "a", "img",
    "table", "thead", "tbody", "tr", "th", "td",
}  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}
URL_SCHEMES = {"http", "https", "mailto", "tel"}

# Which status may follow which, and who may move an article there.
TRANSITIONS = {
    ArticleStatus.DRAFT: {ArticleStatus.IN_REVIEW, ArticleStatus.PUBLISHED},
    ArticleStatus.IN_REVIEW: {ArticleStatus.DRAFT, ArticleStatus.PUBLISHED},
    ArticleStatus.PUBLISHED: {ArticleStatus.DRAFT},
}

_LINK_SALT = "content.article.link"


def markdown_to_safe_html(text: str) -> str:
    html = _markdown.render(text or "")
    return nh3.clean(
        html,
        tags=ALLOWED_TAGS,
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=URL_SCHEMES,
        link_rel="noopener noreferrer nofollow",
    )


def _check_fields(*, clinic, title: str, body: str) -> tuple[str, str]:
    title, body = (title or "").strip(), (body or "").strip()
    errors = {}
    if not title:
        errors["title"] = [_("Enter a title.")]
    if not body:
        errors["body"] = [_("Write the article.")]
    if errors:
        raise ValidationError(errors)
    return title, body


def _set_tags(article: Article, tags) -> None:
    if tags is None:
        return
    tags = list(tags)
    if any(tag.clinic_id != article.clinic_id for tag in tags):
        raise ValidationError({"disease_tags": [_("A tag does not belong to this clinic.")]})
    article.disease_tags.set(tags)


@transaction.atomic
def article_create(*, clinic, title: str, body: str, author=None, tags=None) -> Article:
    title, body = _check_fields(clinic=clinic, title=title, body=body)
    article = Article.objects.create(clinic=clinic, title=title, body=body, author=author)
    _set_tags(article, tags)
    return article


@transaction.atomic
def article_update(*, article: Article, title=None, body=None, tags=None) -> Article:
    """Edit the text. A published article must still pass the red-line check."""
    title, body = _check_fields(
        clinic=article.clinic,
        title=article.title if title is None else title,
        body=article.body if body is None else body,
    )
    if article.status == ArticleStatus.PUBLISHED:
        _ensure_clean(article.clinic, title, body)
    article.title, article.body = title, body
    article.save()
    _set_tags(article, tags)
    return article


def _ensure_clean(clinic, title, body):
    hits = redline_check(clinic=clinic, text=f"{title}\n{body}")
    if hits:
        raise ValidationError({"body": [redline_message(hits)]})


@transaction.atomic
def article_set_status(*, article: Article, status: str, by=None) -> Article:
    """Move an article through draft → in review → published (or back to draft).
    Publishing needs a publisher's role and a text without red-line hits."""
    article = Article.objects.select_for_update().get(pk=article.pk)
    if status not in ArticleStatus.values:
        raise ValidationError({"status": [_("Unknown status.")]})
    if status == article.status:
        return article
    if status not in TRANSITIONS[article.status]:
        raise ValidationError(
            {
                "status": [
                    _("An article cannot go from “%(from)s” to “%(to)s”.")
                    % {"from": article.get_status_display(), "to": ArticleStatus(status).label}
                ]
            }
        )
    if status == ArticleStatus.PUBLISHED:
        membership = by.memberships.filter(clinic=article.clinic).first() if by else None
        if by is not None and (membership is None or not membership.can_publish_articles):
            raise ValidationError(
                {"status": [_("Only a doctor, an administrator or operations can publish.")]}
            )
        _ensure_clean(article.clinic, article.title, article.body)
        article.published_at = timezone.now()
    article.status = status
    article.save(update_fields=["status", "published_at", "updated_at"])
    return article


# Links ---------------------------------------------------------------------------------


def article_link(*, article: Article, patient=None) -> str:
    """The absolute public link; with `patient`, a tracked link that counts their reading."""
    data = {"a": article.pk}
    if patient is not None:
        if patient.clinic_id != article.clinic_id:
            raise ValidationError(_("The patient is not of this clinic."))
        data["p"] = patient.pk
    token = signing.dumps(data, salt=_LINK_SALT, compress=True)
    return settings.SITE_URL.rstrip("/") + reverse("content:article_public", args=[token])


def article_from_link(token: str) -> tuple[Article | None, int | None]:
    """The published article a link opens and the patient it tracks; (None, None) for a
    tampered link or an article that is not published (any more)."""
    try:
        data = signing.loads(token, salt=_LINK_SALT)
        article_id, patient_id = int(data["a"]), data.get("p")
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None, None
    article = (
        Article.objects.filter(pk=article_id, status=ArticleStatus.PUBLISHED)
        .select_related("clinic")
        .first()
    )
    return article, (int(patient_id) if patient_id is not None and article else None)


def article_view_record(*, article: Article, patient_id: int) -> ArticleView | None:
    """Count one open by a patient: one row per patient and article, `opens` counts every
    open. Unique readers are the rows; total opens the sum."""
    from patients.models import Patient

    if not Patient.objects.filter(pk=patient_id, clinic_id=article.clinic_id).exists():
        return None
    now = timezone.now()
    view, created = ArticleView.objects.get_or_create(
        article=article,
        patient_id=patient_id,
        defaults={"clinic_id": article.clinic_id, "first_viewed_at": now, "last_viewed_at": now},
    )
    if not created:
        ArticleView.objects.filter(pk=view.pk).update(opens=F("opens") + 1, last_viewed_at=now)
    return view
