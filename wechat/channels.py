"""Channel QR codes (渠道活码): a WeCom contact way whose `state` says where a patient came from.

A state is the kind's prefix, a dash and a base36 id: `c-1z` (channel code 71), `r-k3`
(a referral code of patient 723, issue 8), `p-9` (a content post, issue 10). It stays well
under WeCom's 30 characters and can be read back without a lookup table.
"""

import uuid
from collections.abc import Iterable
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Q
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.models import Clinic, Membership
from patients.models import Patient, PatientTag, Stage
from wechat import transport
from wechat.models import ChannelCode, ChannelCodeKind, ContactArrival, WeComAccount

DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"


def base36(number: int) -> str:
    if number < 0:
        raise ValueError("base36 of a negative number")
    text = ""
    while True:
        number, rest = divmod(number, 36)
        text = DIGITS[rest] + text
        if not number:
            return text


def state_for(*, kind: str, object_id: int) -> str:
    return f"{kind}-{base36(object_id)}"


def state_parse(state: str) -> tuple[str, int] | None:
    """(kind, id) of a state CareLoop made, or None for anyone else's state."""
    kind, dash, digits = (state or "").partition("-")
    if not dash or kind not in ChannelCodeKind.values or not digits or len(digits) > 12:
        return None
    try:
        return kind, int(digits, 36)
    except ValueError:
        return None


def channel_code_for_state(*, clinic: Clinic, state: str) -> ChannelCode | None:
    if not state or state_parse(state) is None:
        return None
    return ChannelCode.objects.filter(clinic=clinic, state=state).first()


@transaction.atomic
def channel_code_create(
    *,
    clinic: Clinic,
    name: str,
    staff: Iterable[Membership],
    tags: Iterable[PatientTag] = (),
    stage: str = "",
    welcome_text: str = "",
    link_title: str = "",
    link_url: str = "",
    link_desc: str = "",
    kind: str = ChannelCodeKind.CHANNEL,
    referrer: Patient | None = None,
    post_id: int | None = None,
) -> ChannelCode:
    """Create a channel code and its WeCom contact way (externalcontact/add_contact_way).
    If WeCom refuses, nothing is saved and the error says why."""
    name = (name or "").strip()
    staff, tags = list(staff), list(tags)
    errors = {}
    if not name:
        errors["name"] = [_("Enter a name.")]
    if not staff:
        errors["staff"] = [_("Choose at least one staff member who receives the contacts.")]
    elif any(m.clinic_id != clinic.pk for m in staff):
        errors["staff"] = [_("This person is not a member of this clinic.")]
    elif any(not m.wecom_userid for m in staff):
        names = "、".join(m.name for m in staff if not m.wecom_userid)
        errors["staff"] = [_("No WeCom userid for: %(names)s.") % {"names": names}]
    if any(t.clinic_id != clinic.pk for t in tags):
        errors["tags"] = [_("A tag does not belong to this clinic.")]
    else:
        single = [t.group for t in tags if t.group.is_single_choice]
        for group in {g.pk: g for g in single}.values():
            if sum(g.pk == group.pk for g in single) > 1:
                errors["tags"] = [_("Choose only one tag of “%(group)s”.") % {"group": group.name}]
    if stage and stage not in Stage.values:
        errors["stage"] = [_("Unknown journey stage.")]
    if kind not in ChannelCodeKind.values:
        errors["kind"] = [_("Unknown kind of code.")]
    if kind == ChannelCodeKind.REFERRAL and (referrer is None or referrer.clinic_id != clinic.pk):
        errors["referrer"] = [_("The referrer must be a patient of this clinic.")]
    if kind == ChannelCodeKind.POST and not post_id:
        errors["kind"] = [_("A post's code needs the post.")]
    account = WeComAccount.objects.filter(clinic=clinic).first()
    if account is None:
        errors["__all__"] = [_("WeCom is not configured for this clinic.")]
    if errors:
        raise ValidationError(errors)
    code = ChannelCode.objects.create(
        clinic=clinic,
        kind=kind,
        name=name[:60],
        stage=stage,
        welcome_text=(welcome_text or "").strip(),
        link_title=link_title.strip(),
        link_url=link_url.strip(),
        link_desc=link_desc.strip(),
        referrer=referrer,
        state=f"tmp-{uuid.uuid4().hex[:20]}",
    )
    code.staff.set(staff)
    code.tags.set(tags)
    # Referral and post codes carry their subject (the referrer, the post; issues 8 and 10).
    subject = {ChannelCodeKind.REFERRAL: referrer and referrer.pk, ChannelCodeKind.POST: post_id}
    code.state = state_for(kind=kind, object_id=subject.get(kind) or code.pk)
    if ChannelCode.objects.filter(clinic=clinic, state=code.state).exists():
        if kind == ChannelCodeKind.POST:
            raise ValidationError(_("This post already has a channel code."))
        raise ValidationError(_("This patient already has a referral code."))
    try:
        code.config_id, code.qr_code = transport.add_contact_way(
            account, state=code.state, userids=[m.wecom_userid for m in staff], remark=name
        )
    except transport.WeComError as exc:
        raise ValidationError(
            _("WeCom did not create the QR code: %(error)s") % {"error": exc}
        ) from exc
    code.save(update_fields=["state", "config_id", "qr_code"])
    return code


def channel_code_stats(*, clinic: Clinic, days: int = 7) -> dict[int, dict]:
    """Per code: patients brought (all time), still contacts, and per day for the last `days`."""
    arrivals = ContactArrival.objects.filter(clinic=clinic, channel_code__isnull=False)
    totals = arrivals.values("channel_code").annotate(
        brought=Count("patient", distinct=True),
        current=Count("patient", distinct=True, filter=Q(still_contact=True)),
    )
    today = timezone.localdate()
    first_day = today - timedelta(days=days - 1)
    day_list = [first_day + timedelta(days=n) for n in range(days)]
    stats = {
        row["channel_code"]: {
            "brought": row["brought"],
            "current": row["current"],
            "days": dict.fromkeys(day_list, 0),
        }
        for row in totals
    }
    per_day = (
        arrivals.filter(arrived_at__date__gte=first_day)
        .annotate(day=TruncDate("arrived_at"))
        .values("channel_code", "day")
        .annotate(n=Count("patient", distinct=True))
    )
    for row in per_day:
        if row["channel_code"] in stats and row["day"] in stats[row["channel_code"]]["days"]:
            stats[row["channel_code"]]["days"][row["day"]] = row["n"]
    for value in stats.values():
        value["days"] = list(value["days"].items())
    return stats
