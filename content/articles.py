"""The health-education library (科普): writing, review, publishing, public links, readers.

Tracked links (`tracked_link_create`): a message that carries an article (a single message,
a care-plan step, a campaign) gets a link with a random token of its own, stored hashed,
valid TRACKED_LINK_TTL. Opening it (`tracked_link_open`, `tracked_link_read`) shows the
article and counts the read: per patient for a single message or a care-plan step, whose
first read goes on the patient's timeline once (later opens are counted on the link and in
ArticleView, not written again); per campaign and sender for a campaign, whose WeCom task
has one text for all of the sender's customers, so its reads are counted, never per patient.
"""

import enum
import hashlib
import secrets
from datetime import timedelta

import nh3
from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from markdown_it import MarkdownIt

from content.models import Article, ArticleLink, ArticleLinkSource, ArticleStatus, ArticleView
from patients.choices import TouchChannel, TouchKind
from patients.timeline import touch_record, worded
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


# Tracked links --------------------------------------------------------------------------

# How long a tracked link opens its article: long enough to read a care message again later.
TRACKED_LINK_TTL = timedelta(days=90)
# What {链接} stands for until the link is made (the composer measures the text with it).
LINK_VARIABLE = "{链接}"


class LinkState(enum.Enum):
    OK = "ok"
    INVALID = "invalid"
    EXPIRED = "expired"
    UNPUBLISHED = "unpublished"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def tracked_url(token: str) -> str:
    return settings.SITE_URL.rstrip("/") + reverse("content:article_tracked", args=[token])


def article_publishable_clean(*, clinic, article_id) -> Article | None:
    """The published article of `clinic` a message is to carry, by id (None: no article), or
    ValidationError in the user's language."""
    if article_id in (None, ""):
        return None
    try:
        pk = int(article_id)
    except (TypeError, ValueError):
        pk = None
    article = (
        Article.objects.filter(clinic=clinic, pk=pk, status=ArticleStatus.PUBLISHED).first()
        if pk and 0 < pk < 2**63
        else None
    )
    if article is None:
        raise ValidationError({"article": [_("Choose one of this clinic's published articles.")]})
    return article


def text_with_link(text: str, *, notice: str = "") -> str:
    """The text that carries the link: {链接} where the writer put it, else at the end, before
    the clinic's emergency `notice` when the text already ends with it (an edited preview)."""
    text = (text or "").strip()
    if LINK_VARIABLE in text:
        return text
    notice = (notice or "").strip()
    if notice and text.endswith(notice) and text != notice:
        return f"{text[: -len(notice)].rstrip()}\n{LINK_VARIABLE}\n\n{notice}"
    return f"{text}\n{LINK_VARIABLE}"


def tracked_link_create(
    *, article: Article, source: str, patient=None, campaign=None, sender: str = ""
) -> tuple[ArticleLink, str]:
    """A new tracked link (row, absolute URL) to a published article: for `patient` (a single
    message, a care-plan step) or for `campaign` and `sender` (one WeCom task). The token is
    only in the URL returned; the row keeps its SHA-256."""
    if article.status != ArticleStatus.PUBLISHED:
        raise ValidationError({"article": [_("The article is not published (any more).")]})
    owner = patient if patient is not None else campaign
    if owner is None or owner.clinic_id != article.clinic_id:
        raise ValidationError({"article": [_("The article is not of this clinic.")]})
    token = secrets.token_urlsafe(24)
    now = timezone.now()
    link = ArticleLink.objects.create(
        clinic_id=article.clinic_id,
        article=article,
        source=source,
        patient=patient,
        campaign=campaign,
        sender=sender if campaign is not None else "",
        token_hash=_token_hash(token),
        created_at=now,
        expires_at=now + TRACKED_LINK_TTL,
    )
    return link, tracked_url(token)


def tracked_link_open(token: str) -> tuple[ArticleLink | None, LinkState]:
    """The link a token opens and whether its article may be shown."""
    if not token or len(token) > 100:
        return None, LinkState.INVALID
    link = (
        ArticleLink.objects.select_related("article__clinic", "patient")
        .filter(token_hash=_token_hash(token))
        .first()
    )
    if link is None:
        return None, LinkState.INVALID
    if timezone.now() >= link.expires_at:
        return link, LinkState.EXPIRED
    if link.article.status != ArticleStatus.PUBLISHED:
        return link, LinkState.UNPUBLISHED
    return link, LinkState.OK


def tracked_link_read(*, link: ArticleLink, now=None) -> bool:
    """Count one open of `link`. The first open of a patient's link goes on their timeline
    (once per link, however often it is opened: a conditional UPDATE decides which request
    is the first) and counts them as a reader of the article. Returns whether it was the
    first open."""
    now = now or timezone.now()
    with transaction.atomic():
        first = bool(
            ArticleLink.objects.filter(pk=link.pk, first_opened_at__isnull=True).update(
                opens=1, first_opened_at=now, last_opened_at=now
            )
        )
        if not first:
            ArticleLink.objects.filter(pk=link.pk).update(opens=F("opens") + 1, last_opened_at=now)
        if link.patient_id is None:
            return first
        article_view_record(article=link.article, patient_id=link.patient_id)
        if first:
            with translation.override(settings.LANGUAGE_CODE):
                touch_record(
                    patient=link.patient,
                    kind=TouchKind.MESSAGE,
                    channel=TouchChannel.WECOM,
                    summary=worded(
                        gettext_noop("Read the article “%(title)s”"), title=link.article.title
                    ),
                    payload={
                        "event": "article_read",
                        "article_id": link.article_id,
                        "article_link_id": link.pk,
                        "source": link.source,
                    },
                    occurred_at=now,
                )
    return first


def campaign_reads(*, campaign) -> dict:
    """A campaign's reads: opens of its links (one per sender's WeCom task) and how many of
    those links were opened at all. Not per patient: one text went to all of a sender's
    customers."""
    links = ArticleLink.objects.filter(campaign=campaign, source=ArticleLinkSource.CAMPAIGN)
    figures = links.aggregate(
        opens=Coalesce(Sum("opens"), 0),
        links=Count("pk"),
        opened=Count("pk", filter=Q(first_opened_at__isnull=False)),
    )
    figures["by_sender"] = list(links.order_by("sender").values("sender", "opens"))
    return figures


def campaigns_with_reads(queryset):
    """campaign_reads' three figures as columns (`read_opens`, `read_links`, `read_opened`), so a
    list of campaigns reads them in its one query instead of two more per campaign."""
    links = (
        ArticleLink.objects.filter(campaign=OuterRef("pk"), source=ArticleLinkSource.CAMPAIGN)
        .order_by()
        .values("campaign")
    )

    def figure(rows, aggregate):
        column = Subquery(rows.annotate(n=aggregate).values("n"), output_field=IntegerField())
        return Coalesce(column, 0)

    return queryset.annotate(
        read_opens=figure(links, Sum("opens")),
        read_links=figure(links, Count("pk")),
        read_opened=figure(links.filter(first_opened_at__isnull=False), Count("pk")),
    )


# A care-plan step's article (followups.step_links, registered by content.apps).


def step_article_clean(clinic, value) -> int:
    try:
        return article_publishable_clean(clinic=clinic, article_id=value).pk
    except ValidationError:
        raise ValidationError(_("choose one of this clinic's published articles.")) from None


def step_article_choices(clinic) -> list[tuple[str, str]]:
    return [
        (str(a.pk), a.title)
        for a in Article.objects.filter(clinic=clinic, status=ArticleStatus.PUBLISHED).order_by(
            "title"
        )
    ]


def step_article_link(task, step: dict) -> str:
    """The due step's tracked link for its patient; ValidationError when the article is no
    longer published (the reminder is not sent, and says why)."""
    article = Article.objects.filter(
        clinic_id=task.patient.clinic_id, pk=step.get("article_id")
    ).first()
    if article is None or article.status != ArticleStatus.PUBLISHED:
        raise ValidationError({"article": [_("The step's article is missing or not published.")]})
    _link, url = tracked_link_create(
        article=article, source=ArticleLinkSource.CARE_STEP, patient=task.patient
    )
    return url
