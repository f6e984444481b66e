"""Demo data for Doctor IP: each doctor's positioning, accounts with a follower series, and a
calendar of posts (a few published). Channel codes need WeCom, so the demo makes none."""

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from crm.models import Membership, Role
from doctors import services
from doctors.models import (
    DoctorProfile,
    PostFormat,
    PostStatus,
    PublicAccount,
    RecruitmentSource,
)
from patients.models import PatientTag

PLATFORMS = (("douyin", "抖音"), ("xiaohongshu", "小红书"))
# Days from today: one published weeks ago, one published today, one overdue (shot, not yet
# published), one due later this week, so the operations home has each kind to show.
TOPICS = (
    ("甲状腺结节一定要手术吗？", PostFormat.SHORT_VIDEO, PostStatus.PUBLISHED, Decimal("300"), -20),
    ("术后第一周吃什么", PostFormat.ARTICLE, PostStatus.PUBLISHED, None, 0),
    ("一位患者的复查故事", PostFormat.CASE_STORY, PostStatus.SHOT, None, -2),
    ("本周直播答疑", PostFormat.LIVE, PostStatus.IDEA, None, 3),
)


def seed_clinic(*, clinic, staff) -> None:
    """Idempotent enough for demos: skips a clinic that already has public accounts (every
    doctor has a profile from the start: doctors.staff)."""
    if PublicAccount.objects.filter(clinic=clinic).exists():
        return
    services.doctor_profiles_sync(clinic=clinic)
    today = timezone.localdate()
    tag = PatientTag.objects.filter(clinic=clinic, group__kind="disease").first()
    editor = staff.get(Role.OPERATIONS) or staff.get("operations")
    for profile in DoctorProfile.objects.filter(clinic=clinic).select_related("user"):
        member = Membership.objects.get(clinic=clinic, user=profile.user)
        services.positioning_save(
            profile=profile,
            by=editor,
            strengths="甲状腺结节、术后康复",
            interests="科普写作，跑步",
            personality="耐心、说话直白",
            patient_needs="术后焦虑、复查不知道看什么",
            resources="科室专病门诊，病例随访数据",
            tags=["甲状腺", "术后康复", "耐心"],
        )
        for number, (platform, label) in enumerate(PLATFORMS):
            account = services.account_save(
                doctor=profile,
                platform=platform,
                name=f"{member.name}·{label}",
                handle=f"dr{number}",
            )
            for weeks in range(8, -1, -1):
                services.follower_count_record(
                    account=account,
                    day=today - timedelta(weeks=weeks),
                    followers=1200 * (number + 1) + (8 - weeks) * 90,
                )
            for topic, fmt, status, cost, days in TOPICS:
                if days > 0:  # never past Sunday: still this week
                    days = min(days, 6 - today.weekday())
                services.post_save(
                    clinic=clinic,
                    account=account,
                    topic=topic,
                    format=fmt,
                    status=status,
                    disease_tag=tag,
                    publish_date=today + timedelta(days=days),
                    script="今天聊聊复查的意义。内容仅供科普，不构成诊疗建议。",
                    cost=cost,
                )
        services.onboarding_save(
            profile=profile,
            recruitment_source=RecruitmentSource.CONFERENCE,
            hospital="市第一人民医院",
            registry_checked_by="赵运营",
            registry_checked_on=today - timedelta(days=3),
            trained_product=True,
            started_on=today - timedelta(days=5),
        )
