"""Mass messages (群发): a segment, a preview of who is reached and who is excluded and why,
a schedule, and sending through the outbox — each patient at most once per campaign.

WeCom sends a mass message as a task of one staff member (add_msg_template: one sender, up
to 10,000 customers, one text) that the member confirms in their client. So a campaign is
one customer message per sender (per 10,000 of their patients), not one per patient, and
its text is the same for everyone: only {诊所} may be used in it, and {链接} when it carries
an article. That link is one per sender's task (content.articles: tracked links): its reads
are counted on the campaign, never per patient. Its state is 等待员工确认 until WeCom
reports every task sent (or expired); each patient's result comes from WeCom.
"""

from datetime import datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
)
from django.utils import timezone
from django.utils.translation import gettext as _

from content.articles import (
    LINK_VARIABLE,
    campaign_reads,
    text_with_link,
    tracked_link_create,
    tracked_url,
)
from content.models import (
    ArticleLinkSource,
    ArticleStatus,
    Campaign,
    CampaignRecipient,
    CampaignStatus,
    ExclusionReason,
)
from content.segments import segment_clean, segment_patients
from content.templating import template_variables
from wechat import audience as audience_rule
from wechat.composer import composer_for, text_check, text_normalise
from wechat.models import (
    Delivery,
    DeliveryChannel,
    DeliveryRecipient,
    RecipientStatus,
)
from wechat.redline import content_settings_for
from wechat.services import MASS_MAX_RECIPIENTS, delivery_enqueue

# A WeCom mass message has one text for all of a sender's customers: nothing personal.
CAMPAIGN_VARIABLES = ("诊所",)
# With an article: its tracked link, one per sender's task.
ARTICLE_VARIABLES = ("诊所", "链接")
PERSONAL_VARIABLES = ("姓名", "医生", "复诊日期")
BATCH = 500


def campaign_key(campaign_id: int, sender: str, chunk: int = 0) -> str:
    """One customer message per sender and 10,000 of their patients."""
    return f"campaign:{campaign_id}:{sender}:{chunk}"


def _local_day_start(at: datetime) -> datetime:
    local = timezone.localtime(at)
    return timezone.make_aware(datetime.combine(local.date(), time.min))


def annotate_audience(
    queryset,
    *,
    clinic,
    body: str,
    at=None,
    campaign_id: int | None = None,
    fallback_sender: str = "",
):
    """The audience rule (wechat.audience) for a campaign: marketing, with the clinic's
    daily and weekly caps; `sender` and `exclusion` on each patient."""
    settings = content_settings_for(clinic=clinic)
    return audience_rule.annotate_audience(
        queryset,
        purpose=audience_rule.Purpose.MARKETING,
        at=at,
        fallback_sender=fallback_sender,
        needs_doctor="医生" in template_variables(body),
        daily_cap=settings.per_customer_daily_cap,
        weekly_cap=settings.per_customer_weekly_cap,
        exclude_key_prefix=f"campaign:{campaign_id}:" if campaign_id is not None else "",
    )


def campaign_preview(*, clinic, segment: dict, body: str = "", at=None) -> dict:
    """How many patients the segment has, how many would be messaged, and how many are
    excluded for each reason — counted by the database, not in Python."""
    segment = segment_clean(segment)
    audience = annotate_audience(
        segment_patients(clinic=clinic, segment=segment).order_by(),
        clinic=clinic,
        body=body,
        at=at,
    )
    counts = dict(
        audience.values("exclusion").annotate(n=Count("pk")).values_list("exclusion", "n")
    )
    included = counts.pop("", 0)
    reasons = [
        {"reason": reason.value, "label": str(reason.label), "count": counts[reason.value]}
        for reason in ExclusionReason
        if counts.get(reason.value)
    ]
    return {
        "total": included + sum(counts.values()),
        "included": included,
        "excluded": sum(counts.values()),
        "reasons": reasons,
    }


# Writing and scheduling ----------------------------------------------------------------


def _check_body(*, clinic, body: str, article=None) -> str:
    body = text_normalise((body or "").strip())
    personal = [name for name in template_variables(body) if name in PERSONAL_VARIABLES]
    if personal:
        raise ValidationError(
            {
                "body": [
                    _(
                        "A mass message has the same text for all customers of a staff member "
                        "in WeCom, so %(names)s cannot be used in it. Remove it, or send a "
                        "single message to the patient instead."
                    )
                    % {"names": "、".join(f"{{{n}}}" for n in personal)}
                ]
            }
        )
    if article is None and "链接" in template_variables(body):
        raise ValidationError({"article": [_("{链接} is the article's link: choose an article.")]})
    if article is not None and article.status != ArticleStatus.PUBLISHED:
        raise ValidationError({"article": [_("The article is not published (any more).")]})
    if article is None:
        # The composer's check at save: known variables, no red line, WeCom's length.
        return text_check(clinic=clinic, text=body, allowed=CAMPAIGN_VARIABLES)
    # With the link where it will be: the length counts a real link, not the placeholder.
    text_check(
        clinic=clinic,
        text=text_with_link(body).replace(LINK_VARIABLE, tracked_url("x" * 32)),
        allowed=CAMPAIGN_VARIABLES,
    )
    return text_check(clinic=clinic, text=body, allowed=ARTICLE_VARIABLES)


@transaction.atomic
def campaign_save(
    *,
    clinic,
    name: str,
    body: str,
    segment: dict | None = None,
    by=None,
    campaign=None,
    article=None,
) -> Campaign:
    """Create or edit a draft. The text passes the red-line check before it is saved;
    `article` (a published article of the clinic, or None) is the one {链接} links to."""
    if campaign is not None and campaign.status != CampaignStatus.DRAFT:
        raise ValidationError(_("Only a draft campaign can be changed."))
    if not (name or "").strip():
        raise ValidationError({"name": [_("Give the campaign a name.")]})
    if article is not None and article.clinic_id != clinic.pk:
        raise ValidationError({"article": [_("The article is not of this clinic.")]})
    body = _check_body(clinic=clinic, body=body, article=article)
    campaign = campaign or Campaign(clinic=clinic, created_by=by)
    campaign.name, campaign.body, campaign.segment = name.strip(), body, segment_clean(segment)
    campaign.article = article
    campaign.save()
    return campaign


@transaction.atomic
def campaign_schedule(*, campaign: Campaign, send_at=None, by=None) -> Campaign:
    """Schedule a draft for `send_at` (now when empty). The beat scan starts it when due; a
    send for now also wakes a worker after commit."""
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status != CampaignStatus.DRAFT:
        raise ValidationError(_("This campaign has already been scheduled or sent."))
    _check_body(clinic=campaign.clinic, body=campaign.body, article=campaign.article)
    now = timezone.now()
    send_at = max(send_at or now, now)
    settings = content_settings_for(clinic=campaign.clinic)
    if settings.campaigns_per_day_cap:
        day = _local_day_start(send_at)
        same_day = Campaign.objects.filter(
            clinic=campaign.clinic,
            status__in=[CampaignStatus.SCHEDULED, CampaignStatus.SENDING, CampaignStatus.SENT],
            send_at__gte=day,
            send_at__lt=day + timedelta(days=1),
        ).count()
        if same_day >= settings.campaigns_per_day_cap:
            raise ValidationError(
                {
                    "send_at": [
                        _("The clinic sends at most %(n)s campaigns a day; choose another day.")
                        % {"n": settings.campaigns_per_day_cap}
                    ]
                }
            )
    campaign.status, campaign.send_at = CampaignStatus.SCHEDULED, send_at
    campaign.save(update_fields=["status", "send_at"])
    if send_at <= now:
        from content.tasks import campaign_start_task

        transaction.on_commit(lambda: campaign_start_task.delay(campaign.pk), robust=True)
    return campaign


@transaction.atomic
def campaign_cancel(*, campaign: Campaign, by=None) -> Campaign:
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if campaign.status not in (CampaignStatus.DRAFT, CampaignStatus.SCHEDULED):
        raise ValidationError(_("A campaign that has started cannot be canceled."))
    campaign.status = CampaignStatus.CANCELED
    campaign.save(update_fields=["status"])
    return campaign


# Sending -------------------------------------------------------------------------------


def campaigns_due_ids(*, now=None) -> list[int]:
    """Scheduled campaigns whose time has come, and campaigns interrupted while sending."""
    now = now or timezone.now()
    return list(
        Campaign.objects.filter(
            Q(status=CampaignStatus.SCHEDULED, send_at__lte=now) | Q(status=CampaignStatus.SENDING)
        ).values_list("pk", flat=True)
    )


def campaigns_settle(*, now=None) -> int:
    """Campaigns awaiting confirmation whose every patient has a final result from WeCom
    (delivered, not a contact, daily limit, not confirmed, failed) become sent."""
    now = now or timezone.now()
    # One semi-join per campaign: a recipient row whose WeCom task still has a patient pending.
    pending = DeliveryRecipient.objects.filter(
        delivery_id=OuterRef("delivery_id"), status=RecipientStatus.PENDING
    )
    waiting = CampaignRecipient.objects.filter(
        campaign_id=OuterRef("pk"), delivery__isnull=False
    ).filter(Exists(pending))
    return (
        Campaign.objects.filter(status=CampaignStatus.AWAITING)
        .exclude(Exists(waiting))
        .update(status=CampaignStatus.SENT, finished_at=now)
    )


def campaign_start(*, campaign_id: int, now=None) -> str:
    """Record who is messaged and who is excluded, a batch per transaction, then put one
    customer message per sender (and 10,000 patients) in the outbox. Safe to run again,
    and concurrently: the campaign row is locked per batch, each patient gets one
    CampaignRecipient row (unique), each sender's chunk one delivery (its key names it)."""
    now = now or timezone.now()
    while True:
        with transaction.atomic():
            campaign = (
                Campaign.objects.select_for_update(skip_locked=True)
                .select_related("clinic")
                .filter(pk=campaign_id)
                .first()
            )
            if campaign is None:
                return "busy"
            if campaign.status == CampaignStatus.SCHEDULED and campaign.send_at <= now:
                campaign.status, campaign.started_at = CampaignStatus.SENDING, now
                campaign.save(update_fields=["status", "started_at"])
            if campaign.status != CampaignStatus.SENDING:
                return "not-due"
            done = _record_batch(campaign, now)
            if done:
                _enqueue_tasks(campaign)
                _queued(campaign)
                return "queued"


def _record_batch(campaign: Campaign, now) -> bool:
    """The next patients of the segment without a recipient row; True when none are left."""
    clinic = campaign.clinic
    pending = segment_patients(clinic=clinic, segment=campaign.segment).exclude(
        pk__in=CampaignRecipient.objects.filter(campaign=campaign).values("patient_id")
    )
    audience = annotate_audience(
        pending.order_by("pk"), clinic=clinic, body=campaign.body, at=now, campaign_id=campaign.pk
    )[:BATCH]
    rows = list(audience.values_list("pk", "exclusion", "sender"))
    if not rows:
        return True
    CampaignRecipient.objects.bulk_create(
        [
            CampaignRecipient(
                clinic=clinic,
                campaign=campaign,
                patient_id=patient_id,
                included=not exclusion,
                reason=exclusion,
                sender="" if exclusion else sender,
            )
            for patient_id, exclusion, sender in rows
        ]
    )
    return False


def campaign_text(campaign: Campaign, patient, link: str = "") -> str:
    """The one text of a campaign's WeCom task ({诊所} filled, and {链接} with the sender's
    tracked link when it carries an article), with the 120 notice."""
    if campaign.article_id is None:
        return composer_for(campaign.clinic).compose(
            campaign.body, patient=patient, allowed=CAMPAIGN_VARIABLES
        )
    return composer_for(campaign.clinic).compose(
        text_with_link(campaign.body),
        patient=patient,
        extra={"链接": link},
        allowed=ARTICLE_VARIABLES,
    )


def _sender_text(campaign: Campaign, sender: str, patient) -> str:
    """The text of one sender's task: its own tracked link when the campaign has an article
    (one per sender: reads are counted per task, the same link for all its customers)."""
    if campaign.article_id is None:
        return campaign_text(campaign, patient)
    _link, url = tracked_link_create(
        article=campaign.article,
        source=ArticleLinkSource.CAMPAIGN,
        campaign=campaign,
        sender=sender,
    )
    return campaign_text(campaign, patient, url)


def _enqueue_tasks(campaign: Campaign) -> None:
    """One customer message per sender and chunk of 10,000 of the messaged patients."""
    clinic = campaign.clinic
    rows = list(
        campaign.recipients.filter(included=True, delivery__isnull=True)
        .select_related("patient__clinic")
        .order_by("sender", "patient_id")
    )
    if not rows:
        return
    by_sender: dict[str, list] = {}
    for row in rows:
        by_sender.setdefault(row.sender, []).append(row)
    texts = {}
    try:  # the composer again at send: a red line added since the campaign was saved
        with transaction.atomic():  # and the links made for a refused text undone
            for sender, mine in by_sender.items():
                texts[sender] = _sender_text(campaign, sender, mine[0].patient)
    except ValidationError:
        campaign.recipients.filter(pk__in=[row.pk for row in rows]).update(
            included=False, reason=audience_rule.Exclusion.TEXT_REFUSED, sender=""
        )
        return
    for sender, mine in by_sender.items():
        for chunk, first in enumerate(range(0, len(mine), MASS_MAX_RECIPIENTS)):
            part = mine[first : first + MASS_MAX_RECIPIENTS]
            delivery, _created = delivery_enqueue(
                clinic=clinic,
                key=campaign_key(campaign.pk, sender, chunk),
                channel=DeliveryChannel.CUSTOMER_MESSAGE,
                recipient="",
                sender=sender,
                body=texts[sender],
                customers=[(row.patient_id, row.patient.external_userid) for row in part],
                payload={
                    "campaign_id": campaign.pk,
                    "notice": _("campaign “%(name)s”") % {"name": campaign.name},
                },
            )
            CampaignRecipient.objects.filter(pk__in=[row.pk for row in part]).update(
                delivery=delivery
            )


def _queued(campaign: Campaign) -> None:
    counts = dict(
        campaign.recipients.values_list("included")
        .annotate(n=Count("pk"))
        .values_list("included", "n")
    )
    included = counts.get(True, 0)
    # Nobody to message: nothing to confirm, the campaign is done.
    campaign.status = CampaignStatus.AWAITING if included else CampaignStatus.SENT
    campaign.finished_at = None if included else timezone.now()
    campaign.included_count, campaign.excluded_count = included, counts.get(False, 0)
    campaign.save(update_fields=["status", "finished_at", "included_count", "excluded_count"])


def campaign_results(*, campaign: Campaign) -> dict:
    """Messaged and excluded per reason, from the recipient rows; the WeCom tasks (one per
    sender and chunk) and each messaged patient's result as WeCom reports it."""
    reasons = dict(
        campaign.recipients.filter(included=False)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .values_list("reason", "n")
    )
    included = campaign.recipients.filter(included=True)
    tasks = Delivery.objects.filter(pk__in=included.values("delivery_id"))
    outcomes = dict(tasks.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    counts = dict(
        DeliveryRecipient.objects.filter(delivery__in=tasks)
        .values_list("status")
        .annotate(n=Count("pk"))
        .values_list("status", "n")
    )
    # Left out by the outbox's check when the task was sent (wechat.sending).
    at_send = dict(
        DeliveryRecipient.objects.filter(delivery__in=tasks, status=RecipientStatus.EXCLUDED)
        .values_list("reason")
        .annotate(n=Count("pk"))
        .values_list("reason", "n")
    )
    return {
        "included": included.count(),
        "excluded": sum(reasons.values()),
        "reasons": [
            {"reason": r.value, "label": str(r.label), "count": reasons[r.value]}
            for r in ExclusionReason
            if reasons.get(r.value)
        ],
        "excluded_at_send": [
            {"reason": r.value, "label": str(r.label), "count": at_send[r.value]}
            for r in ExclusionReason
            if at_send.get(r.value)
        ],
        "tasks": sum(outcomes.values()),
        # One tracked link per sender's task: reads counted, not per patient.
        "reads": campaign_reads(campaign=campaign) if campaign.article_id else None,
        "deliveries": outcomes,
        "results": [
            {"status": s.value, "label": str(s.label), "count": counts.get(s.value, 0)}
            for s in RecipientStatus
        ],
    }
