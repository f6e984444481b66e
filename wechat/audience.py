"""Who may receive a customer message now, for which purpose, and from which staff member.

The one rule every sender asks (campaigns, single messages, survey invitations, re-exam and
appointment reminders, care-plan steps) and the outbox asks again when it claims the row:

1. contact lost: the patient had WeCom contacts with the clinic's staff and none is left
   (del_follow_user / del_external_contact, wechat.contacts.contact_leave);
2. no consent to care messages (Patient.consent_to_contact): nothing at all is sent;
3. marketing only: no consent to marketing (Patient.consent_marketing);
4. churned; 5. no WeCom contact; 6. no staff member to send from who is still a contact;
7. a text with {医生} and no doctor; 8. when the caller passes them: the caps.

Purposes: a campaign is marketing; reminders, care-plan steps, survey invitations,
appointment reminders, single messages from the patient page and welcomes are care.

Caps (the clinic's daily and weekly per-patient caps, content's settings) count and block
the messages a staff member chooses to send, which WeCom meters as mass messages: campaigns
and single messages from the patient page (outbox payload "capped": true, and campaign keys
of rows written before the flag). Automatic care messages the patient needs (re-exam and
appointment reminders, care-plan steps, survey invitations) neither count nor are blocked,
so a same-day re-exam reminder never stops a hand-sent message, nor the other way round.

Caregivers (家属, patients.Caregiver) receive the care reminders the patient chose for them
through this rule as well (`caregiver_exclusion`, `caregiver_verdicts`): the patient's own
consent to care messages and churn decide first (a patient who opted out gets nothing sent
to anyone on their behalf), then the caregiver's consent to that kind of reminder
(Caregiver.reminders), then the caregiver's WeCom contact. A caregiver's outbox row carries
payload["caregiver_id"] and is asked again at send (`delivery_exclusion`).

Set-based: `annotate_audience` annotates a queryset of any size (campaigns of thousands)
with `sender` and `exclusion`; `audience_check` is the same query for one patient.
"""

from datetime import datetime, time, timedelta

from django.db import models
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    IntegerField,
    OuterRef,
    Q,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from crm.models import Membership
from patients.choices import Stage
from patients.models import Caregiver, Patient
from wechat.models import (
    ContactArrival,
    Delivery,
    DeliveryChannel,
    DeliveryRecipient,
    DeliveryStatus,
    RecipientStatus,
)


class Purpose(models.TextChoices):
    CARE = "care", _("Care")
    MARKETING = "marketing", _("Marketing")


class Exclusion(models.TextChoices):
    CONTACT_LOST = "contact_lost", _("Deleted the clinic's WeCom contact")
    NO_CONSENT = "no_consent", _("No consent to be contacted")
    NO_MARKETING_CONSENT = "no_marketing", _("No consent to marketing messages")
    CHURNED = "churned", _("Churned")
    NO_WECOM = "no_wecom", _("No WeCom contact")
    NO_SENDER = "no_sender", _("No staff WeCom account to send from")
    NO_DOCTOR = "no_doctor", _("No doctor for {医生}")
    DAILY_CAP = "daily_cap", _("Already received a mass message today")
    WEEKLY_CAP = "weekly_cap", _("Over the weekly mass-message cap")
    CAREGIVER_NO_CONSENT = (
        "caregiver_no_consent",
        _("The caregiver was not chosen for this reminder"),
    )
    TEXT_REFUSED = "text_refused", _("The text was refused when sent (a red line, a missing value)")


# Deliveries that count against the caps: on their way or sent.
LIVE_STATUSES = [
    DeliveryStatus.PENDING,
    DeliveryStatus.SENDING,
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
]
# A customer WeCom reported as not reached does not count against their cap.
NOT_REACHED = [
    RecipientStatus.NOT_CONTACT,
    RecipientStatus.DAILY_LIMIT,
    RecipientStatus.UNCONFIRMED,
    RecipientStatus.FAILED,
    RecipientStatus.EXCLUDED,
]


def delivery_purpose(delivery: Delivery) -> str:
    if (delivery.payload or {}).get("purpose") == Purpose.MARKETING or (
        delivery.idempotency_key.startswith("campaign:")
    ):
        return Purpose.MARKETING
    return Purpose.CARE


def _staff_wecom_userid(field: str):
    return Subquery(
        Membership.objects.filter(user_id=OuterRef(field), clinic_id=OuterRef("clinic_id"))
        .exclude(wecom_userid="")
        .values("wecom_userid")[:1]
    )


def _arrivals():
    return ContactArrival.objects.filter(clinic_id=OuterRef("clinic_id"), patient_id=OuterRef("pk"))


def _lost(userid):
    """The patient's contact with this staff member is known to be gone."""
    return Exists(_arrivals().filter(staff_userid=userid, still_contact=False))


def _local_day_start(at: datetime) -> datetime:
    local = timezone.localtime(at)
    return timezone.make_aware(datetime.combine(local.date(), time.min))


# At send time only what has left (or is leaving) counts: two tasks both still waiting in
# the outbox were each counted against the other's patients when they were enqueued.
LEFT_STATUSES = [DeliveryStatus.SENDING, DeliveryStatus.SENT]


def _capped_since(since, until, exclude_key_prefix: str, statuses=LIVE_STATUSES):
    """The patient's capped customer messages in [since, until): their recipient rows, as a
    campaign's WeCom task carries many patients in one delivery. A customer WeCom reported
    as not reached does not count."""
    rows = (
        DeliveryRecipient.objects.filter(
            patient_id=OuterRef("pk"),
            delivery__channel=DeliveryChannel.CUSTOMER_MESSAGE,
            delivery__status__in=statuses,
        )
        .filter(
            Q(delivery__payload__capped=True) | Q(delivery__idempotency_key__startswith="campaign:")
        )
        .exclude(status__in=NOT_REACHED)
        .annotate(at=Coalesce("delivery__sent_at", "delivery__next_attempt_at"))
        .filter(at__gte=since, at__lt=until)
    )
    if exclude_key_prefix:
        rows = rows.exclude(delivery__idempotency_key__startswith=exclude_key_prefix)
    return Coalesce(
        Subquery(
            rows.order_by().values("patient_id").annotate(n=Count("pk")).values("n")[:1],
            output_field=IntegerField(),
        ),
        0,
    )


def annotate_audience(
    queryset,
    *,
    purpose: str,
    at=None,
    fallback_sender: str = "",
    needs_doctor: bool = False,
    daily_cap: int = 0,
    weekly_cap: int = 0,
    exclude_key_prefix: str = "",
    at_send: bool = False,
):
    """Each patient with `sender` (the assistant's WeCom userid, else the doctor's, else
    `fallback_sender`, each only while still a contact of the patient; else any staff member
    still a contact) and `exclusion` (the first reason that applies, "" when it may go).
    `daily_cap`/`weekly_cap` (0: none) for the senders that are capped (campaigns, single
    messages); `exclude_key_prefix` leaves out the caller's own rows (a campaign resumed
    after a crash does not count itself); `at_send`: the caps count only messages that have
    left (LEFT_STATUSES)."""
    if purpose not in Purpose.values:
        raise ValueError(f"Unknown purpose {purpose!r}")
    current = _arrivals().filter(still_contact=True)
    queryset = queryset.annotate(
        assistant_uid=_staff_wecom_userid("assigned_assistant_id"),
        doctor_uid=_staff_wecom_userid("assigned_doctor_id"),
    ).annotate(
        sender=Case(
            When(
                Q(assistant_uid__isnull=False) & ~_lost(OuterRef("assistant_uid")),
                then=F("assistant_uid"),
            ),
            When(
                Q(doctor_uid__isnull=False) & ~_lost(OuterRef("doctor_uid")), then=F("doctor_uid")
            ),
            *(
                [When(~_lost(fallback_sender), then=Value(fallback_sender))]
                if fallback_sender
                else []
            ),
            default=Coalesce(
                Subquery(current.order_by("-arrived_at").values("staff_userid")[:1]), Value("")
            ),
            output_field=CharField(),
        ),
    )
    rules = [
        When(Exists(_arrivals()) & ~Exists(current), then=Value(Exclusion.CONTACT_LOST.value)),
        When(consent_to_contact=False, then=Value(Exclusion.NO_CONSENT.value)),
    ]
    if purpose == Purpose.MARKETING:
        rules.append(
            When(consent_marketing=False, then=Value(Exclusion.NO_MARKETING_CONSENT.value))
        )
    rules += [
        When(stage=Stage.CHURNED, then=Value(Exclusion.CHURNED.value)),
        When(external_userid="", then=Value(Exclusion.NO_WECOM.value)),
        When(sender="", then=Value(Exclusion.NO_SENDER.value)),
    ]
    if needs_doctor:
        rules.append(When(assigned_doctor__isnull=True, then=Value(Exclusion.NO_DOCTOR.value)))
    if daily_cap or weekly_cap:
        statuses = LEFT_STATUSES if at_send else LIVE_STATUSES
        at = at or timezone.now()
        day_start = _local_day_start(at)
        if daily_cap:
            queryset = queryset.annotate(
                today_count=_capped_since(
                    day_start, day_start + timedelta(days=1), exclude_key_prefix, statuses
                )
            )
            rules.append(When(today_count__gte=daily_cap, then=Value(Exclusion.DAILY_CAP.value)))
        if weekly_cap:
            queryset = queryset.annotate(
                week_count=_capped_since(
                    at - timedelta(days=7), at + timedelta(days=1), exclude_key_prefix, statuses
                )
            )
            rules.append(When(week_count__gte=weekly_cap, then=Value(Exclusion.WEEKLY_CAP.value)))
    return queryset.annotate(exclusion=Case(*rules, default=Value(""), output_field=CharField()))


def audience_check(*, patient: Patient, purpose: str, **options) -> tuple[str, str]:
    """(sender, exclusion) for one patient now: annotate_audience's query for one row."""
    return (
        annotate_audience(Patient.objects.filter(pk=patient.pk), purpose=purpose, **options)
        .values_list("sender", "exclusion")
        .get()
    )


def exclusion_label(reason: str) -> str:
    return str(Exclusion(reason).label)


# At send time -------------------------------------------------------------------------


def contacts_of(patient_ids) -> dict[int, dict[str, bool]]:
    """{patient id: {staff userid: still a contact}} for a block of rows, in one query."""
    found: dict[int, dict[str, bool]] = {}
    ids = {pk for pk in patient_ids if pk is not None}
    if not ids:
        return found
    for patient_id, userid, still in ContactArrival.objects.filter(patient_id__in=ids).values_list(
        "patient_id", "staff_userid", "still_contact"
    ):
        found.setdefault(patient_id, {})[userid] = still
    return found


def delivery_exclusion(delivery: Delivery, contacts: dict[int, dict[str, bool]]) -> str:
    """The rule again for a claimed customer message or welcome (its patient read with the
    claim, so current): the exclusion code, or "". Caps were counted when it was enqueued."""
    patient = delivery.patient
    if patient is None:
        return ""
    caregiver_id = (delivery.payload or {}).get("caregiver_id")
    if caregiver_id:
        caregiver = Caregiver.objects.filter(pk=caregiver_id, patient_id=patient.pk).first()
        if caregiver is None:
            return Exclusion.NO_WECOM  # removed since: nobody to send it to
        return caregiver_exclusion(
            caregiver, patient, delivery.payload.get("reminder", ""), recipient=delivery.recipient
        )
    known = contacts.get(patient.pk, {})
    if known and not any(known.values()):
        return Exclusion.CONTACT_LOST
    if not patient.consent_to_contact:
        return Exclusion.NO_CONSENT
    if delivery_purpose(delivery) == Purpose.MARKETING and not patient.consent_marketing:
        return Exclusion.NO_MARKETING_CONSENT
    if patient.stage == Stage.CHURNED:
        return Exclusion.CHURNED
    if delivery.channel == DeliveryChannel.CUSTOMER_MESSAGE and known.get(delivery.sender) is False:
        return Exclusion.NO_SENDER
    return ""


def delivery_capped(delivery: Delivery) -> bool:
    """Counted against (and blocked by) the caps: campaigns and hand-sent single messages."""
    return bool((delivery.payload or {}).get("capped")) or delivery.idempotency_key.startswith(
        "campaign:"
    )


def recipients_exclusions(
    delivery: Delivery, *, daily_cap: int = 0, weekly_cap: int = 0, now=None
) -> dict[int, str]:
    """The rule again, customer by customer, for a claimed customer message to many (a
    campaign's task of one sender): {recipient row id: exclusion} for each waiting customer
    who may not get it now: consent withdrawn, churned, contact deleted (with every staff
    member, or with this task's sender), no WeCom contact any more, a cap reached by a
    message that has left since. Set-based: one query for the whole task."""
    rows = dict(
        delivery.recipient_rows.filter(
            status=RecipientStatus.PENDING, patient_id__isnull=False
        ).values_list("patient_id", "pk")
    )
    if not rows:
        return {}
    capped = delivery_capped(delivery)
    verdicts = annotate_audience(
        Patient.objects.filter(pk__in=list(rows), clinic_id=delivery.clinic_id).order_by(),
        purpose=delivery_purpose(delivery),
        at=now,
        fallback_sender=delivery.sender,
        daily_cap=daily_cap if capped else 0,
        weekly_cap=weekly_cap if capped else 0,
        exclude_key_prefix=delivery.idempotency_key,
        at_send=True,
    ).values_list("pk", "exclusion")
    verdicts = list(verdicts)
    contacts = contacts_of(rows)
    found = {}
    for patient_id, exclusion in verdicts:
        if not exclusion and contacts.get(patient_id, {}).get(delivery.sender) is False:
            exclusion = Exclusion.NO_SENDER  # deleted this task's sender
        if exclusion:
            found[rows[patient_id]] = exclusion
    # A patient no longer of this clinic (merged away, erased): not sent.
    missing = set(rows) - {patient_id for patient_id, _e in verdicts}
    found.update({rows[patient_id]: Exclusion.NO_WECOM for patient_id in missing})
    return found


def audience_verdicts(patient_ids, *, purpose: str, **options) -> dict[int, tuple[str, str]]:
    """{patient id: (sender, exclusion)} for a batch of patients, in one query."""
    rows = annotate_audience(
        Patient.objects.filter(pk__in=list(patient_ids)), purpose=purpose, **options
    ).values_list("pk", "sender", "exclusion")
    return {pk: (sender, exclusion) for pk, sender, exclusion in rows}


# Caregivers -----------------------------------------------------------------------------


def caregiver_exclusion(caregiver: Caregiver, patient: Patient, reminder: str, *, recipient=None):
    """Why this care reminder (a CaregiverReminder value) may not go to this caregiver of the
    patient now, or "": the patient's consent and churn first, then the caregiver's choice,
    then a WeCom contact (the one the row was written for, when `recipient` is given)."""
    if not patient.consent_to_contact:
        return Exclusion.NO_CONSENT
    if patient.stage == Stage.CHURNED:
        return Exclusion.CHURNED
    if reminder not in (caregiver.reminders or []):
        return Exclusion.CAREGIVER_NO_CONSENT
    if not caregiver.external_userid or (
        recipient is not None and recipient != caregiver.external_userid
    ):
        return Exclusion.NO_WECOM
    return ""


def caregiver_verdicts(patients, *, reminder: str) -> dict[int, list[tuple[Caregiver, str]]]:
    """{patient id: [(caregiver, exclusion), …]} for a batch of patients, in one query."""
    by_id = {p.pk: p for p in patients}
    found: dict[int, list[tuple[Caregiver, str]]] = {}
    for caregiver in Caregiver.objects.filter(patient_id__in=list(by_id)).order_by("id"):
        patient = by_id[caregiver.patient_id]
        if caregiver.clinic_id != patient.clinic_id:
            continue
        found.setdefault(patient.pk, []).append(
            (caregiver, caregiver_exclusion(caregiver, patient, reminder))
        )
    return found
