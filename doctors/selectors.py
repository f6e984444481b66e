"""Reads of the doctors app, computed in the database: the sea-to-pond funnel, the trust
model, follower growth, and the first-two-weeks watch list.

The funnel of a period counts the patients who arrived through a post's channel code in the
period (a cohort), and follows them to today:

- added: became a WeCom contact through the post's code (ContactArrival → ChannelCode → Post);
- converted: reached booked or beyond (booked, arrived, consulted, dispensed, after-visit,
  maintained), now or at any time before (a churned patient who had booked still counts);
- visited: has a Visit on or after the arrival day;
- revisited: a second visit within 90 days of that first visit;
- cost per patient: the posts' entered costs over the patients added by the posts that have a
  cost (posts without a cost add neither);
- followers gained: per account, the latest count on or before the period's end minus the latest
  count before the period (or the first count within it).

A patient counts once per row: once for a post, once for a platform and once for a doctor even
when they arrived through two of the doctor's posts.

The trust model of seed 000 (connect → understand → trust → act → refer) on CareLoop's journey:
connect = added on WeCom; understand = reached converted or beyond; trust = reached booked or
beyond; act = visited; refer = has referred at least one patient (Patient.referred_by).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import (
    Count,
    DateField,
    Exists,
    ExpressionWrapper,
    OuterRef,
    Q,
    Subquery,
    Sum,
)
from django.db.models.functions import TruncDate

from crm.models import Clinic, Role
from doctors.models import (
    DoctorProfile,
    FollowerCount,
    Onboarding,
    Platform,
    Post,
    PostStatus,
    PublicAccount,
)
from patients.choices import JOURNEY, Stage, TouchKind
from patients.models import Patient, StageTransition, Touch, Visit
from wechat.models import ContactArrival

BOOKED_OR_BEYOND = [s.value for s in JOURNEY[JOURNEY.index(Stage.BOOKED) :]]
CONVERTED_OR_BEYOND = [s.value for s in JOURNEY[JOURNEY.index(Stage.CONVERTED) :]]
REVISIT_DAYS = 90
GROUPS = {
    "doctor": "channel_code__post__account__doctor",
    "platform": "channel_code__post__account__platform",
    "post": "channel_code__post",
}


def profiles_visible_to(*, membership):
    """Operations and admins see every doctor of the clinic; a doctor sees only themself."""
    profiles = DoctorProfile.objects.filter(clinic=membership.clinic).select_related("user")
    if membership.role == Role.DOCTOR:
        return profiles.filter(user=membership.user)
    if membership.can_manage_doctor_ip:
        return profiles
    return profiles.none()


def _reached(stages: list[str]) -> Exists:
    # Every stage a patient took is a StageTransition (their first stage included).
    return Exists(
        StageTransition.objects.filter(patient_id=OuterRef("patient_id"), to_stage__in=stages)
    )


def post_arrivals(*, clinic: Clinic, start: date, end: date):
    """Arrivals through post codes in [start, end], each with what became of its patient."""
    arrival_day = TruncDate("arrived_at")
    first_visit = (
        Visit.objects.filter(patient_id=OuterRef("patient_id"), visit_date__gte=OuterRef("day"))
        .order_by("visit_date", "id")
        .values("visit_date")[:1]
    )
    revisit = Visit.objects.filter(
        patient_id=OuterRef("patient_id"),
        visit_date__gt=OuterRef("first_visit"),
        visit_date__lte=ExpressionWrapper(
            OuterRef("first_visit") + timedelta(days=REVISIT_DAYS), output_field=DateField()
        ),
    )
    return (
        ContactArrival.objects.filter(clinic=clinic, channel_code__post__isnull=False)
        .annotate(day=arrival_day)
        .filter(day__gte=start, day__lte=end)
        .annotate(
            first_visit=Subquery(first_visit, output_field=DateField()),
            revisited=Exists(revisit),
            understood=_reached(CONVERTED_OR_BEYOND),
            converted=_reached(BOOKED_OR_BEYOND),
            referred=Exists(Patient.objects.filter(referred_by_id=OuterRef("patient_id"))),
        )
    )


FIGURES = ("added", "understood", "converted", "visited", "revisited", "referring")


def _counts(arrivals, *group: str) -> dict:
    """The funnel's counts of distinct patients per value(s) of `group`."""
    patients = {
        "added": Q(),
        "understood": Q(understood=True),
        "converted": Q(converted=True),
        "visited": Q(first_visit__isnull=False),
        "revisited": Q(revisited=True),
        "referring": Q(referred=True),
    }
    rows = arrivals.values(*group).annotate(
        **{name: Count("patient", distinct=True, filter=q) for name, q in patients.items()}
    )
    return {tuple(row.pop(g) for g in group): row for row in rows}


def _empty() -> dict:
    return dict.fromkeys(FIGURES, 0)


def followers_gained(*, accounts, start: date, end: date) -> dict[int, int]:
    """Per account id: followers at the end of the period minus before it."""
    counts = FollowerCount.objects.filter(account_id=OuterRef("pk"))
    before = counts.filter(date__lt=start).order_by("-date").values("followers")[:1]
    first_in = (
        counts.filter(date__gte=start, date__lte=end).order_by("date").values("followers")[:1]
    )
    last_in = counts.filter(date__lte=end).order_by("-date").values("followers")[:1]
    rows = accounts.annotate(
        before=Subquery(before), first_in=Subquery(first_in), last_in=Subquery(last_in)
    ).values("pk", "before", "first_in", "last_in")
    gained = {}
    for row in rows:
        base = row["before"] if row["before"] is not None else row["first_in"]
        gained[row["pk"]] = (row["last_in"] - base) if base is not None else 0
    return gained


@dataclass
class Funnel:
    doctors: list[dict]
    platforms: list[dict]
    posts: list[dict]


def _with_trust_and_cost(row: dict, cost: Decimal | None, paid_added: int) -> dict:
    row["trust"] = {
        "connect": row["added"],
        "understand": row["understood"],
        "trust": row["converted"],
        "act": row["visited"],
        "refer": row["referring"],
    }
    row["cost"] = cost
    per_patient = (cost / paid_added).quantize(Decimal("0.01")) if cost and paid_added else None
    row["cost_per_patient"] = per_patient
    return row


def funnel(*, clinic: Clinic, start: date, end: date, profiles=None) -> Funnel:
    """The sea-to-pond funnel of `profiles` (default: every doctor) per doctor, per platform
    of each doctor, and per post, for patients who arrived in [start, end]."""
    profiles = profiles if profiles is not None else DoctorProfile.objects.filter(clinic=clinic)
    profiles = list(profiles.select_related("user"))
    ids = [p.pk for p in profiles]
    arrivals = post_arrivals(clinic=clinic, start=start, end=end).filter(
        channel_code__post__account__doctor_id__in=ids
    )
    accounts = PublicAccount.objects.filter(clinic=clinic, doctor_id__in=ids)
    gained = followers_gained(accounts=accounts, start=start, end=end)
    posts = list(
        Post.objects.filter(clinic=clinic, account__doctor_id__in=ids, status=PostStatus.PUBLISHED)
        .filter(Q(channel_code__isnull=False) | Q(publish_date__range=(start, end)))
        .select_related("account", "disease_tag")
        .order_by("account__doctor_id", "publish_date", "id")
    )
    per_post = _counts(arrivals, GROUPS["post"])
    paid = arrivals.filter(channel_code__post__cost__isnull=False)
    post_rows = []
    for post in posts:
        row = per_post.get((post.pk,), _empty())
        if not row["added"] and post.publish_date and not start <= post.publish_date <= end:
            continue
        row.update(
            id=post.pk,
            topic=post.topic,
            doctor=post.account.doctor_id,
            platform=post.account.platform,
            platform_label=post.account.get_platform_display(),
            publish_date=post.publish_date,
            has_code=bool(post.channel_code_id),
        )
        post_rows.append(_with_trust_and_cost(row, post.cost, row["added"]))
    doctor, platform = GROUPS["doctor"], GROUPS["platform"]
    per_doctor, paid_doctor = _counts(arrivals, doctor), _counts(paid, doctor)
    per_platform = _counts(arrivals, doctor, platform)
    paid_platform = _counts(paid, doctor, platform)
    costs = {
        (r["account__doctor"], r["account__platform"]): r["cost"]
        for r in Post.objects.filter(pk__in=[p["id"] for p in post_rows], cost__isnull=False)
        .values("account__doctor", "account__platform")
        .annotate(cost=Sum("cost"))
    }
    doctor_rows, platform_rows = [], []
    for profile in profiles:
        own = [a for a in accounts if a.doctor_id == profile.pk]
        doctor_cost = sum((c for (d, _p), c in costs.items() if d == profile.pk), Decimal(0))
        row = per_doctor.get((profile.pk,), _empty())
        row.update(
            id=profile.pk,
            name=doctor_name(profile),
            followers_gained=sum(gained.get(a.pk, 0) for a in own),
        )
        paid_added = paid_doctor.get((profile.pk,), _empty())["added"]
        doctor_rows.append(_with_trust_and_cost(row, doctor_cost or None, paid_added))
        for name in sorted({a.platform for a in own}):
            key = (profile.pk, name)
            prow = per_platform.get(key, _empty())
            prow.update(
                doctor=profile.pk,
                platform=name,
                platform_label=Platform(name).label,
                followers_gained=sum(gained.get(a.pk, 0) for a in own if a.platform == name),
            )
            paid_added = paid_platform.get(key, _empty())["added"]
            platform_rows.append(_with_trust_and_cost(prow, costs.get(key), paid_added))
    return Funnel(doctors=doctor_rows, platforms=platform_rows, posts=post_rows)


def doctor_name(profile: DoctorProfile) -> str:
    membership = profile.user.memberships.filter(clinic_id=profile.clinic_id).first()
    return membership.name if membership else str(profile.user)


def watch_list(*, clinic: Clinic, today: date, days: int = 14) -> list[dict]:
    """New doctors in their first two weeks: patients assigned since they started, follow-ups
    done (timeline entries of kind follow-up by the doctor), and the mean hours from a patient's
    assignment to the doctor's first touch of that patient."""
    onboardings = Onboarding.objects.filter(
        clinic=clinic, started_on__gt=today - timedelta(days=days)
    ).select_related("profile__user")
    rows = []
    for onboarding in onboardings:
        user = onboarding.profile.user
        patients = Patient.objects.filter(
            clinic=clinic, assigned_doctor=user, created_at__date__gte=onboarding.started_on
        )
        first_touch = (
            Touch.objects.filter(patient_id=OuterRef("pk"), actor=user)
            .exclude(kind__in=[TouchKind.PROFILE, TouchKind.STAGE_CHANGE, TouchKind.TAG_CHANGE])
            .order_by("occurred_at")
            .values("occurred_at")[:1]
        )
        answered = patients.annotate(first=Subquery(first_touch)).filter(first__isnull=False)
        waits = [
            (row["first"] - row["created_at"]).total_seconds() / 3600
            for row in answered.values("first", "created_at")
        ]
        rows.append(
            {
                "id": onboarding.pk,
                "profile": onboarding.profile_id,
                "name": doctor_name(onboarding.profile),
                "started_on": onboarding.started_on,
                "day": (today - onboarding.started_on).days + 1,
                "patients": patients.count(),
                "followups_done": Touch.objects.filter(
                    clinic=clinic,
                    actor=user,
                    kind=TouchKind.FOLLOWUP,
                    occurred_at__date__gte=onboarding.started_on,
                ).count(),
                "unanswered": patients.count() - len(waits),
                "mean_response_hours": round(sum(waits) / len(waits), 1) if waits else None,
                "verified": onboarding.verified,
                "trained": onboarding.trained,
            }
        )
    return rows
