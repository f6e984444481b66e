"""Reads for the operations home (/operations/): what an operations person works on in the
morning, from the doctors app (calendar, onboarding) and the content app (campaigns, articles).

A fixed number of queries whatever the clinic's size: counts are aggregated in the database,
lists are capped, doctors' names come in one query, and drafts are checked against the red
lines with the phrases read once.

- This week is Monday to Sunday of `today`. Per doctor: published = published posts dated this
  week; due = posts not yet published dated today to Sunday; overdue = posts not yet published
  dated before today (any week: a forgotten post stays overdue until it is published, moved or
  deleted). Posts without a date are ideas, not on the calendar.
- Campaigns: scheduled, sending, awaiting the staff's confirmation in WeCom, and sent in the
  last 7 days, each with its recipient rows so far (processed), those messaged, and what WeCom
  reports per patient: delivered, on the way (not yet handed over, or awaiting confirmation)
  and not delivered (not a contact, daily limit, not confirmed, failed).
- Articles: drafts and articles in review; blocked = their title or text hits a red line, so
  they cannot be published until it is rewritten.
- Onboarding: doctors not yet verified (licence photo, registry check unless an army hospital)
  or trained (product, services, settlement), and doctors without an onboarding record.
"""

from dataclasses import dataclass, field
from datetime import date, timedelta

from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from content.models import Article, ArticleStatus, Campaign, CampaignStatus
from crm.models import Clinic, Membership
from doctors.models import DoctorProfile, Post, PostStatus
from wechat.models import DeliveryRecipient, RecipientStatus
from wechat.redline import redline_checker

POST_ROWS = 100
ARTICLE_ROWS = 50
CAMPAIGN_DAYS = 7
NOT_DELIVERED = [
    RecipientStatus.NOT_CONTACT,
    RecipientStatus.DAILY_LIMIT,
    RecipientStatus.UNCONFIRMED,
    RecipientStatus.FAILED,
]


@dataclass
class DoctorWeek:
    profile: DoctorProfile
    name: str
    published: int = 0
    due: int = 0
    overdue: int = 0
    posts: list = field(default_factory=list)


@dataclass
class OperationsHome:
    week_start: date
    week_end: date
    doctors: list[DoctorWeek]
    campaigns: list[Campaign]
    articles: list[Article]
    articles_total: int
    blocked_articles: int
    onboarding: list[dict]

    @property
    def published(self) -> int:
        return sum(row.published for row in self.doctors)

    @property
    def due(self) -> int:
        return sum(row.due for row in self.doctors)

    @property
    def overdue(self) -> int:
        return sum(row.overdue for row in self.doctors)


def doctor_names(*, clinic: Clinic, profiles) -> dict[int, str]:
    """Each profile's display name, in one query (selectors.doctor_name asks per profile)."""
    names = {
        m.user_id: m.name
        for m in Membership.objects.filter(
            clinic=clinic, user_id__in=[p.user_id for p in profiles]
        ).select_related("user")
    }
    return {p.pk: names.get(p.user_id) or str(p.user) for p in profiles}


def _week(*, clinic: Clinic, profiles: list[DoctorProfile], today: date, names: dict):
    start = today - timedelta(days=today.weekday())
    end = start + timedelta(days=6)
    rows = {p.pk: DoctorWeek(profile=p, name=names[p.pk]) for p in profiles}
    posts = Post.objects.filter(clinic=clinic, account__doctor_id__in=list(rows))
    open_ = ~Q(status=PostStatus.PUBLISHED)
    published = Q(status=PostStatus.PUBLISHED, publish_date__range=(start, end))
    due = open_ & Q(publish_date__range=(today, end))
    overdue = open_ & Q(publish_date__lt=today)
    counts = (
        posts.values("account__doctor")
        .annotate(
            published=Count("pk", filter=published),
            due=Count("pk", filter=due),
            overdue=Count("pk", filter=overdue),
        )
        .order_by()
    )
    for count in counts:
        row = rows[count["account__doctor"]]
        row.published, row.due, row.overdue = count["published"], count["due"], count["overdue"]
    # This week's posts, then the latest overdue ones, each capped on its own: posts never
    # published stay overdue for good and must not crowd this week's out of the page.
    this_week = posts.filter(published | due).order_by("publish_date", "id")[:POST_ROWS]
    late = posts.filter(overdue).order_by("-publish_date", "-id")[:POST_ROWS]
    listed = sorted(
        [*this_week.select_related("account"), *late.select_related("account")],
        key=lambda post: (post.publish_date, post.pk),
    )
    for post in listed:
        post.overdue = post.status != PostStatus.PUBLISHED and post.publish_date < today
        rows[post.account.doctor_id].posts.append(post)
    return start, end, list(rows.values())


def _campaigns(*, clinic: Clinic, now) -> list[Campaign]:
    live = Q(status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.AWAITING])
    recent = Q(status=CampaignStatus.SENT, finished_at__gte=now - timedelta(days=CAMPAIGN_DAYS))
    rows = (
        Campaign.objects.filter(clinic=clinic)
        .filter(live | recent)
        .annotate(
            processed=Count("recipients"),
            messaged=Count("recipients", filter=Q(recipients__included=True)),
        )
        .order_by("send_at", "id")
    )
    rows = list(rows)
    # WeCom's results per patient: one query over the campaigns' tasks (a task is one
    # sender's customer message, so its results belong to its campaign).
    results = (
        DeliveryRecipient.objects.filter(
            delivery__payload__campaign_id__in=[row.pk for row in rows]
        )
        .values_list("delivery__payload__campaign_id", "status")
        .annotate(n=Count("pk"))
    )
    counts: dict[int, dict[str, int]] = {}
    for campaign_id, status, n in results:
        counts.setdefault(int(campaign_id), {})[status] = n
    for row in rows:
        mine = counts.get(row.pk, {})
        row.delivered = mine.get(RecipientStatus.DELIVERED, 0)
        row.undelivered = sum(mine.get(status, 0) for status in NOT_DELIVERED)
        row.on_the_way = row.messaged - row.delivered - row.undelivered
        row.percent = round(100 * row.delivered / row.messaged) if row.messaged else 0
    return rows


def _articles(*, clinic: Clinic) -> tuple[list[Article], int, int]:
    """The drafts and articles in review to show (blocked first: they need rewriting before
    anyone can publish them; then the latest), how many there are and how many are blocked.
    Every one is checked, so a blocked draft older than the shown ones still counts."""
    rows = list(
        Article.objects.filter(
            clinic=clinic, status__in=[ArticleStatus.DRAFT, ArticleStatus.IN_REVIEW]
        )
        .select_related("author")
        .order_by("-updated_at", "-id")
    )
    check = redline_checker(clinic=clinic)
    for row in rows:
        # The text article_set_status checks before publishing.
        row.hits = check(f"{row.title}\n{row.body}")
    rows.sort(key=lambda row: not row.hits)
    return rows[:ARTICLE_ROWS], len(rows), sum(1 for row in rows if row.hits)


def _onboarding(profiles: list[DoctorProfile], names: dict) -> list[dict]:
    rows = []
    for profile in profiles:
        onboarding = getattr(profile, "onboarding", None)
        if onboarding is None:
            missing = [_("no onboarding record")]
        else:
            missing = []
            if not onboarding.licence_file:
                missing.append(_("licence photo"))
            if not (onboarding.army_hospital or onboarding.registry_checked_on):
                missing.append(_("registry check"))
            for done, label in (
                (onboarding.trained_product, _("training: using CareLoop")),
                (onboarding.trained_services, _("training: services")),
                (onboarding.trained_settlement, _("training: settlement")),
            ):
                if not done:
                    missing.append(label)
        if missing:
            rows.append(
                {
                    "profile": profile,
                    "name": names[profile.pk],
                    "started_on": onboarding.started_on if onboarding else None,
                    "missing": missing,
                }
            )
    return rows


def operations_home(*, clinic: Clinic, today: date | None = None, now=None) -> OperationsHome:
    today = today or timezone.localdate()
    now = now or timezone.now()
    profiles = list(
        DoctorProfile.objects.filter(clinic=clinic).select_related("user", "onboarding")
    )
    names = doctor_names(clinic=clinic, profiles=profiles)
    profiles.sort(key=lambda p: (names[p.pk], p.pk))
    start, end, doctors = _week(clinic=clinic, profiles=profiles, today=today, names=names)
    articles, articles_total, blocked_articles = _articles(clinic=clinic)
    return OperationsHome(
        week_start=start,
        week_end=end,
        doctors=doctors,
        campaigns=_campaigns(clinic=clinic, now=now),
        articles=articles,
        articles_total=articles_total,
        blocked_articles=blocked_articles,
        onboarding=_onboarding(profiles, names),
    )
