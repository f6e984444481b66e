"""Writes of the doctors app: positioning (versioned), accounts and followers, the content
calendar with the red-line check, post channel codes, onboarding."""

import csv
import io
from datetime import date
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.utils.translation import gettext as _

from crm.models import Clinic, Membership, Role
from doctors.models import (
    POSITIONING_FIELDS,
    DoctorProfile,
    FollowerCount,
    Onboarding,
    Platform,
    PositioningVersion,
    Post,
    PostFormat,
    PostStatus,
    PublicAccount,
    RecruitmentSource,
)
from patients.models import PatientTag
from wechat.models import ChannelCodeKind
from wechat.redline import redline_ensure
from wechat.services import channel_code_create

LICENCE_EXTENSIONS = {"jpg", "jpeg", "png", "pdf"}
# What the file's first bytes must be, whatever its name says.
LICENCE_SIGNATURES = (b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"%PDF-")
LICENCE_MAX_BYTES = 5 * 1024 * 1024


def doctor_profile_for(*, clinic: Clinic, user) -> DoctorProfile:
    """The profile of a doctor of `clinic`, made on first use."""
    if not Membership.objects.filter(clinic=clinic, user=user, role=Role.DOCTOR).exists():
        raise ValidationError({"user": [_("This person is not a doctor of this clinic.")]})
    profile, _created = DoctorProfile.objects.get_or_create(clinic=clinic, user=user)
    return profile


def doctor_profiles_sync(*, clinic: Clinic) -> None:
    """A profile for every doctor of the clinic who has none yet."""
    have = DoctorProfile.objects.filter(clinic=clinic).values_list("user_id", flat=True)
    missing = Membership.objects.filter(clinic=clinic, role=Role.DOCTOR).exclude(user_id__in=have)
    DoctorProfile.objects.bulk_create(
        [DoctorProfile(clinic=clinic, user_id=m.user_id) for m in missing],
        ignore_conflicts=True,
    )


def _clean_tags(tags) -> list[str]:
    if isinstance(tags, str):
        tags = tags.replace("，", ",").split(",")
    cleaned = []
    for tag in tags or []:
        tag = str(tag).strip()[:30]
        if tag and tag not in cleaned:
            cleaned.append(tag)
    return cleaned[:20]


@transaction.atomic
def positioning_save(*, profile: DoctorProfile, by, tags=None, **texts: str) -> DoctorProfile:
    """Change a doctor's positioning; every change writes a version (who, when, what)."""
    unknown = set(texts) - set(POSITIONING_FIELDS)
    if unknown:
        raise TypeError(f"Unknown positioning fields: {sorted(unknown)}")
    profile = DoctorProfile.objects.select_for_update().get(pk=profile.pk)
    for field, value in texts.items():
        setattr(profile, field, (value or "").strip())
    if tags is not None:
        profile.tags = _clean_tags(tags)
    profile.updated_at = timezone.now()
    profile.save()
    last = profile.versions.order_by("-number").values_list("number", flat=True).first() or 0
    PositioningVersion.objects.create(
        clinic_id=profile.clinic_id,
        profile=profile,
        number=last + 1,
        by=by,
        at=profile.updated_at,
        tags=profile.tags,
        **{field: getattr(profile, field) for field in POSITIONING_FIELDS},
    )
    return profile


def account_save(
    *,
    doctor: DoctorProfile,
    platform: str,
    name: str,
    handle: str = "",
    url: str = "",
    instance: PublicAccount | None = None,
) -> PublicAccount:
    errors = {}
    if platform not in Platform.values:
        errors["platform"] = [_("Choose a platform.")]
    if not (name or "").strip():
        errors["name"] = [_("Enter the account's name.")]
    if errors:
        raise ValidationError(errors)
    account = instance or PublicAccount(clinic_id=doctor.clinic_id)
    account.doctor, account.platform = doctor, platform
    account.name, account.handle, account.url = name.strip(), handle.strip(), url.strip()
    account.save()
    return account


def follower_count_record(*, account: PublicAccount, day: date, followers: int) -> FollowerCount:
    """Followers on a day; a second entry for the same day replaces the first."""
    if followers is None or int(followers) < 0:
        raise ValidationError({"followers": [_("Enter a whole number of followers.")]})
    row, _created = FollowerCount.objects.update_or_create(
        account=account,
        date=day,
        defaults={"clinic_id": account.clinic_id, "followers": int(followers)},
    )
    return row


@transaction.atomic
def follower_counts_import(*, account: PublicAccount, data: bytes | str) -> int:
    """A platform's CSV export with columns date, followers (日期, 粉丝数 also accepted).
    Every row is checked first; one bad row imports nothing and each problem names its row."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                data = data.decode("gb18030")
            except UnicodeDecodeError:
                raise ValidationError(_("The file is not a CSV text file.")) from None
    rows = list(csv.reader(io.StringIO(data)))
    if not rows:
        raise ValidationError(_("The file is empty."))
    header = [cell.strip().lower() for cell in rows[0]]
    aliases = {"日期": "date", "粉丝数": "followers", "粉丝": "followers"}
    header = [aliases.get(cell, cell) for cell in header]
    if "date" not in header or "followers" not in header:
        raise ValidationError(_("The first row must name the columns: date, followers."))
    at_date, at_count = header.index("date"), header.index("followers")
    problems, parsed = [], {}
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        raw_date = row[at_date].strip() if len(row) > at_date else ""
        raw_count = row[at_count].strip().replace(",", "") if len(row) > at_count else ""
        try:
            day = parse_date(raw_date.replace("/", "-"))
        except ValueError:
            day = None
        if day is None:
            problems.append(
                _("Row %(row)s: “%(value)s” is not a date (YYYY-MM-DD).")
                % {"row": number, "value": raw_date}
            )
        if not raw_count.isdigit():
            problems.append(
                _("Row %(row)s: “%(value)s” is not a whole number of followers.")
                % {"row": number, "value": raw_count}
            )
        if day and day in parsed:
            problems.append(_("Row %(row)s: %(day)s appears twice.") % {"row": number, "day": day})
        if day and raw_count.isdigit():
            parsed[day] = int(raw_count)
    if problems:
        raise ValidationError(problems)
    if not parsed:
        raise ValidationError(_("The file has no rows."))
    for day, followers in parsed.items():
        follower_count_record(account=account, day=day, followers=followers)
    return len(parsed)


def post_save(
    *,
    clinic: Clinic,
    account: PublicAccount,
    topic: str,
    format: str,
    status: str = PostStatus.IDEA,
    disease_tag: PatientTag | None = None,
    publish_date: date | None = None,
    script: str = "",
    cost: Decimal | None = None,
    instance: Post | None = None,
) -> Post:
    """Plan or change a post. A script with a red-line phrase is refused, naming the phrase
    and why (content's one check)."""
    errors = {}
    if account.clinic_id != clinic.pk:
        errors["account"] = [_("This account does not belong to this clinic.")]
    if disease_tag is not None and disease_tag.clinic_id != clinic.pk:
        errors["disease_tag"] = [_("A tag does not belong to this clinic.")]
    if not (topic or "").strip():
        errors["topic"] = [_("Enter a topic.")]
    if format not in PostFormat.values:
        errors["format"] = [_("Choose a format.")]
    if status not in PostStatus.values:
        errors["status"] = [_("Choose a status.")]
    if status == PostStatus.PUBLISHED and publish_date is None:
        errors["publish_date"] = [_("A published post needs its publish date.")]
    if cost is not None and cost < 0:
        errors["cost"] = [_("The cost cannot be negative.")]
    if instance is not None and instance.channel_code_id:
        if status != PostStatus.PUBLISHED:
            errors["status"] = [_("A post with a channel code stays published.")]
        # Its patients are counted for the account's doctor and platform (the funnel).
        if account.pk != instance.account_id:
            errors["account"] = [_("A post with a channel code stays on its account.")]
    if errors:
        raise ValidationError(errors)
    redline_ensure(clinic=clinic, text=script or "", field="script")
    post = instance or Post(clinic=clinic)
    post.account, post.topic, post.format, post.status = account, topic.strip(), format, status
    post.disease_tag, post.publish_date, post.cost = disease_tag, publish_date, cost
    post.script = script or ""
    post.save()
    return post


def post_delete(*, post: Post) -> None:
    """Take a post off the calendar. A post with a channel code is kept: the patients who
    arrived through its code are counted for it."""
    if post.channel_code_id:
        raise ValidationError(_("A post with a channel code is kept for its figures."))
    post.delete()


def post_publish(*, post: Post, publish_date: date | None = None) -> Post:
    """Mark a post published (today unless told), checking its script once more."""
    redline_ensure(clinic=post.clinic, text=post.script, field="script")
    post.status = PostStatus.PUBLISHED
    post.publish_date = publish_date or post.publish_date or timezone.localdate()
    post.save(update_fields=["status", "publish_date"])
    return post


@transaction.atomic
def post_code_create(*, post: Post, staff: list[Membership] | None = None) -> Post:
    """A channel code of kind post for a published post: its state carries the post, so a
    patient who adds the clinic through it is the post's, its platform's and its doctor's.
    The code goes to the post's doctor unless other staff are named."""
    post = Post.objects.select_for_update().select_related("account__doctor").get(pk=post.pk)
    if post.status != PostStatus.PUBLISHED:
        raise ValidationError(_("Publish the post before making its channel code."))
    if post.channel_code_id:
        raise ValidationError(_("This post already has a channel code."))
    if not staff:
        staff = list(
            Membership.objects.filter(clinic_id=post.clinic_id, user=post.account.doctor.user)
        )
    code = channel_code_create(
        clinic=post.clinic,
        name=f"{post.account.get_platform_display()} · {post.topic}"[:60],
        staff=staff,
        tags=[post.disease_tag] if post.disease_tag else [],
        kind=ChannelCodeKind.POST,
        post_id=post.pk,
    )
    post.channel_code = code
    post.save(update_fields=["channel_code"])
    return post


def licence_check(upload) -> None:
    name = getattr(upload, "name", "") or ""
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in LICENCE_EXTENSIONS:
        raise ValidationError(
            {"licence_file": [_("Upload a photo (JPG, PNG) or a PDF of the licence.")]}
        )
    if upload.size > LICENCE_MAX_BYTES:
        raise ValidationError({"licence_file": [_("The file is larger than 5 MB.")]})
    head = upload.read(8)
    upload.seek(0)
    if not head.startswith(LICENCE_SIGNATURES):
        raise ValidationError(
            {"licence_file": [_("Upload a photo (JPG, PNG) or a PDF of the licence.")]}
        )


@transaction.atomic
def onboarding_save(
    *, profile: DoctorProfile, recruitment_source: str, licence_file=None, **fields
) -> Onboarding:
    """Record or update a new doctor's recruitment, verification and training."""
    allowed = {
        "recruitment_note",
        "hospital",
        "army_hospital",
        "registry_checked_by",
        "registry_checked_on",
        "trained_product",
        "trained_services",
        "trained_settlement",
        "started_on",
    }
    unknown = set(fields) - allowed
    if unknown:
        raise TypeError(f"Unknown onboarding fields: {sorted(unknown)}")
    errors = {}
    if recruitment_source not in RecruitmentSource.values:
        errors["recruitment_source"] = [_("Choose where the doctor came from.")]
    by = (fields.get("registry_checked_by") or "").strip()
    on = fields.get("registry_checked_on")
    if bool(by) != bool(on):
        errors["registry_checked_by"] = [
            _("A registry check needs the name of who checked and the date.")
        ]
    if fields.get("army_hospital") and by:
        errors["army_hospital"] = [
            _("Army hospitals are not in the public registry: leave the registry check empty.")
        ]
    if licence_file is not None:
        try:
            licence_check(licence_file)
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    onboarding = Onboarding.objects.filter(profile=profile).first() or Onboarding(
        clinic_id=profile.clinic_id, profile=profile
    )
    onboarding.recruitment_source = recruitment_source
    for field, value in fields.items():
        setattr(onboarding, field, value.strip() if isinstance(value, str) else value)
    if onboarding.started_on is None:
        onboarding.started_on = timezone.localdate()
    replaced = onboarding.licence_file.name if licence_file is not None else ""
    if licence_file is not None:
        onboarding.licence_file.save(licence_file.name, licence_file, save=False)
    onboarding.save()
    if replaced and replaced != onboarding.licence_file.name:
        # The replaced photo leaves the disk once the new one is committed (a licence is
        # personal data; nothing links to the old file any more).
        storage = onboarding.licence_file.storage
        transaction.on_commit(lambda: storage.delete(replaced))
    return onboarding
