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
from django.utils.translation import gettext_lazy

from crm.models import Clinic, Membership
from patients.choices import Stage
from patients.models import Patient, PatientTag
from wechat import transport
from wechat.composer import WELCOME_VARIABLES, text_check
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
    """The code a scan came through, retired or not: once WeCom deleted a retired code's
    contact way, a callback with its state can only be a scan made before (WeCom retries
    for a while), so the patient is recorded and attributed to the code like any other."""
    if not state or state_parse(state) is None:
        return None
    return ChannelCode.objects.filter(clinic=clinic, state=state).first()


def channel_code_check(
    *,
    clinic: Clinic,
    account: WeComAccount | None,
    name: str,
    staff: list[Membership],
    tags: list[PatientTag],
    stage: str,
) -> dict[str, list[str]]:
    """The rules a code's settings follow, on creation and on every edit: errors by field."""
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
    if account is None:
        errors["__all__"] = [_("WeCom is not configured for this clinic.")]
    return errors


def welcome_text_check(*, clinic: Clinic, text: str, errors: dict, field="welcome_text") -> str:
    """A welcome text through the composer's check at save (variables, red lines, WeCom's
    length); an empty one is allowed (the clinic's default is sent). Errors go to `errors`."""
    text = (text or "").strip()
    if not text:
        return ""
    try:
        return text_check(clinic=clinic, text=text, allowed=WELCOME_VARIABLES, field=field)
    except ValidationError as error:
        errors.update(error.message_dict)
        return text


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
    account = WeComAccount.objects.filter(clinic=clinic).first()
    errors = channel_code_check(
        clinic=clinic, account=account, name=name, staff=staff, tags=tags, stage=stage
    )
    welcome_text = welcome_text_check(clinic=clinic, text=welcome_text, errors=errors)
    if kind not in ChannelCodeKind.values:
        errors["kind"] = [_("Unknown kind of code.")]
    if kind == ChannelCodeKind.REFERRAL and (referrer is None or referrer.clinic_id != clinic.pk):
        errors["referrer"] = [_("The referrer must be a patient of this clinic.")]
    if kind == ChannelCodeKind.POST and not post_id:
        errors["kind"] = [_("A post's code needs the post.")]
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


# WeCom's "invalid parameter", its answer to a config_id it does not know.
UNKNOWN_CONTACT_WAY = 40058
# WeCom's errcodes that an edit or a retirement meets, said in the user's words.
WECOM_REASONS = {
    UNKNOWN_CONTACT_WAY: gettext_lazy(
        "WeCom does not know this QR code (deleted in WeCom's console?)"
    ),
    40031: gettext_lazy("WeCom does not accept a receiving staff member's userid"),
    60111: gettext_lazy("a receiving staff member's userid does not exist in WeCom"),
    84074: gettext_lazy("the app lacks WeCom's customer-contact permission"),
}


def channel_code_link_create(*, code: ChannelCode) -> ChannelCode:
    """A customer-acquisition link (获客助手) for the code, to its receiving staff: for
    platforms that forbid QR codes. The link carries customer_channel=<the code's state>, so a
    patient arriving through it is attributed exactly like a scan of the code."""
    from urllib.parse import urlencode

    if not code.is_active:
        raise ValidationError(_("A retired channel code gets no link."))
    if code.acquisition_url:
        return code
    userids = [m.wecom_userid for m in code.staff.all() if m.wecom_userid]
    if not userids:
        raise ValidationError(_("The code's receiving staff have no WeCom userid."))
    account = WeComAccount.objects.filter(clinic=code.clinic).first()
    if account is None:
        raise ValidationError(_("WeCom is not configured for this clinic yet."))
    try:
        link = transport.acquisition_link_create(account, name=code.name[:30], userids=userids)
    except transport.WeComError as exc:
        raise ValidationError(
            _("WeCom did not create the link: %(reason)s") % {"reason": _wecom_reason(exc)}
        ) from exc
    code.acquisition_link_id = link["link_id"]
    separator = "&" if "?" in link["url"] else "?"
    code.acquisition_url = link["url"] + separator + urlencode({"customer_channel": code.state})
    code.save(update_fields=["acquisition_link_id", "acquisition_url"])
    return code


def _wecom_reason(exc: transport.WeComError) -> str:
    reason = WECOM_REASONS.get(exc.errcode)
    if reason is None and not exc.permanent:
        reason = _("WeCom is busy or unreachable; try again in a minute")
    return f"{reason} ({exc})" if reason else str(exc)


def _editable(code: ChannelCode) -> None:
    # Referral and post codes are made, named and staffed by their own pages (the patient's
    # referral code, the doctor's post); a retired code's contact way is gone from WeCom.
    if code.kind != ChannelCodeKind.CHANNEL:
        raise ValidationError(_("Referral and post codes are managed on their own pages."))
    if not code.is_active:
        raise ValidationError(_("This code is retired and can no longer be changed."))


@transaction.atomic
def channel_code_update(
    *,
    code: ChannelCode,
    name: str,
    staff: Iterable[Membership],
    tags: Iterable[PatientTag] = (),
    stage: str = "",
    welcome_text: str = "",
    link_title: str = "",
    link_url: str = "",
    link_desc: str = "",
) -> ChannelCode:
    """Change a channel code's settings; its state, config_id and QR code stay, so printed
    codes keep working. New receiving staff or a new name (WeCom's remark) go to WeCom
    (externalcontact/update_contact_way) first: if WeCom refuses, nothing is saved.
    No patient changes, so no timeline entry: scans from now on follow the new settings."""
    code = ChannelCode.objects.select_for_update().select_related("clinic").get(pk=code.pk)
    _editable(code)
    clinic = code.clinic
    name = (name or "").strip()[:60]
    staff, tags = list(staff), list(tags)
    account = WeComAccount.objects.filter(clinic=clinic).first()
    errors = channel_code_check(
        clinic=clinic, account=account, name=name, staff=staff, tags=tags, stage=stage
    )
    welcome_text = welcome_text_check(clinic=clinic, text=welcome_text, errors=errors)
    if errors:
        raise ValidationError(errors)
    before = sorted(m.wecom_userid for m in code.staff.all())
    userids = sorted({m.wecom_userid for m in staff})
    old_remark = code.name[:30]
    code.name, code.stage = name, stage
    code.welcome_text = (welcome_text or "").strip()
    code.link_title, code.link_url = link_title.strip(), link_url.strip()
    code.link_desc = link_desc.strip()
    code.save()
    code.staff.set(staff)
    code.tags.set(tags)
    if userids != before or name[:30] != old_remark:
        _wecom_update(account, code=code, userids=userids, single=len(before) == 1)
    return code


def _wecom_update(account, *, code: ChannelCode, userids: list[str], single: bool) -> None:
    try:
        # Codes made before every code was multi-person may be single-person ways, which
        # WeCom keeps at exactly one user: say so rather than pass on WeCom's bare errcode.
        if single and len(userids) > 1:
            if transport.contact_way_type(account, config_id=code.config_id) == 1:
                raise ValidationError(
                    {
                        "staff": [
                            _(
                                "This QR code was made for one staff member and WeCom keeps it "
                                "so: choose one, or create a new code for several."
                            )
                        ]
                    }
                )
        transport.update_contact_way(
            account, config_id=code.config_id, state=code.state, userids=userids, remark=code.name
        )
    except transport.WeComError as exc:
        raise ValidationError(
            _("WeCom did not update the QR code: %(error)s") % {"error": _wecom_reason(exc)}
        ) from exc


@transaction.atomic
def channel_code_retire(*, code: ChannelCode) -> ChannelCode:
    """Retire a channel code: WeCom deletes its contact way (externalcontact/del_contact_way),
    so scanning it adds no one any more. The code and its arrivals stay, for the figures.
    If WeCom refuses, nothing changes; if WeCom no longer knows the way (deleted in its
    console), there is nothing left to delete and the code is retired."""
    code = ChannelCode.objects.select_for_update().select_related("clinic").get(pk=code.pk)
    _editable(code)
    account = WeComAccount.objects.filter(clinic=code.clinic).first()
    if account is None:
        raise ValidationError(_("WeCom is not configured for this clinic."))
    code.is_active = False
    code.save(update_fields=["is_active"])
    try:
        transport.del_contact_way(account, config_id=code.config_id)
    except transport.WeComError as exc:
        if exc.errcode == UNKNOWN_CONTACT_WAY:
            return code
        raise ValidationError(
            _("WeCom did not delete the QR code: %(error)s") % {"error": _wecom_reason(exc)}
        ) from exc
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
