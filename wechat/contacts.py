"""What a WeCom contact event means for the clinic's patients.

add_external_contact → the patient (created or linked), the channel's tags and stage, the
arrival, a touch, and the welcome message in the outbox, all in one transaction; the
welcome leaves right after commit. edit → profile and tags refreshed. del_* → a churn
signal on the timeline, and the arrival is no longer a contact.
"""

from datetime import UTC, datetime, timedelta

from django.core.exceptions import ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Membership, Role
from patients.choices import Gender, Source, Stage, TouchChannel, TouchKind
from patients.models import Patient, PatientTag
from patients.services import patient_create, patient_set_stage, patient_tag, patient_update
from patients.timeline import touch_record, worded
from wechat import transport
from wechat.channels import channel_code_for_state
from wechat.composer import WELCOME_VARIABLES, compose
from wechat.models import (
    DEFAULT_WELCOME_TEXT,
    ChannelCode,
    ChannelCodeKind,
    ContactArrival,
    Delivery,
    DeliveryChannel,
    WeComAccount,
)
from wechat.outbox import delivery_enqueue

WELCOME_CODE_TTL = timedelta(seconds=20)
GENDERS = {1: Gender.MALE, 2: Gender.FEMALE}


def contact_event_prepare(*, account: WeComAccount, fields: dict) -> dict:
    """Read-only work before the transaction: the contact's profile from WeCom, if it can be
    had. Deletions need nothing (the contact is gone)."""
    if fields.get("ChangeType", "").startswith("del_"):
        return {}
    try:
        return transport.contact_get(account, external_userid=fields.get("ExternalUserID", ""))
    except transport.WeComError:
        # The patient is still recorded (with a placeholder name), and the welcome still
        # leaves in time; the next edit event or sync fills the profile.
        return {}


def contact_event_apply(*, account: WeComAccount, fields: dict, prepared: dict, event) -> list[int]:
    """Apply one contact event. Returns the ids of deliveries to send right after commit."""
    change = fields.get("ChangeType", "")
    external_userid = fields.get("ExternalUserID", "")
    userid = fields.get("UserID", "")
    if not external_userid:
        return []
    if change in ("add_external_contact", "add_half_external_contact"):
        _patient, welcome = contact_arrive(
            account=account,
            external_userid=external_userid,
            userid=userid,
            state=fields.get("State", ""),
            welcome_code=fields.get("WelcomeCode", ""),
            profile=prepared,
            received_at=event.received_at,
        )
        return [welcome.pk] if welcome else []
    if change == "edit_external_contact":
        contact_refresh(account=account, external_userid=external_userid, profile=prepared)
    elif change in ("del_external_contact", "del_follow_user"):
        contact_leave(
            account=account,
            external_userid=external_userid,
            userid=userid,
            by_patient=change == "del_follow_user",
        )
    return []


def _follow(profile: dict, userid: str) -> dict:
    for follow in profile.get("follow_user") or []:
        if follow.get("userid") == userid:
            return follow
    return {}


def _name(profile: dict, userid: str, external_userid: str) -> str:
    follow = _follow(profile, userid)
    contact = profile.get("external_contact") or {}
    name = (follow.get("remark") or contact.get("name") or "").strip()
    return name[:50] or _("WeCom contact %(tail)s") % {"tail": external_userid[-4:]}


def _source(code: ChannelCode | None) -> tuple[str, Patient | None]:
    """Where the patient came from. Referral codes (issue 8) carry the referrer; post codes
    (issue 10) mean a doctor's public account."""
    if code is not None and code.kind == ChannelCodeKind.REFERRAL:
        return Source.REFERRAL, code.referrer
    if code is not None and code.kind == ChannelCodeKind.POST:
        return Source.DOCTOR_IP, None
    return Source.WECOM_QR, None


def _assignment(staff: Membership | None) -> dict:
    if staff is None:
        return {}
    if staff.role == Role.DOCTOR:
        return {"assigned_doctor": staff.user}
    return {"assigned_assistant": staff.user}


def _wecom_tags(*, clinic, profile: dict) -> list[PatientTag]:
    """The CareLoop tags that mirror the corp tags the contact carries in WeCom, in the
    order WeCom lists them."""
    ids = list(
        dict.fromkeys(
            tag.get("tag_id")
            for follow in profile.get("follow_user") or []
            for tag in follow.get("tags") or []
            if tag.get("type", 1) == 1 and tag.get("tag_id")
        )
    )
    if not ids:
        return []
    found = {
        t.wecom_tag_id: t
        for t in PatientTag.objects.filter(clinic=clinic, wecom_tag_id__in=ids).select_related(
            "group"
        )
    }
    return [found[i] for i in ids if i in found]


def tag_conflicts_resolve(*, patient: Patient | None, tags: list[PatientTag]):
    """WeCom lets a contact carry two tags of a group CareLoop keeps single-choice. Keep the
    newest of each such group: a tag the patient does not carry yet (just set in WeCom) over
    one it carries, the last listed among equals. Returns (tags to apply, conflicts)."""
    current = set(patient.tag_ids or []) if patient is not None else set()
    by_group: dict[int, list[PatientTag]] = {}
    for tag in tags:
        if tag.group.is_single_choice:
            by_group.setdefault(tag.group_id, []).append(tag)
    conflicts, dropped = [], set()
    for group_tags in by_group.values():
        if len(group_tags) < 2:
            continue
        kept = max(enumerate(group_tags), key=lambda item: (item[1].pk not in current, item[0]))[1]
        lost = [t for t in group_tags if t.pk != kept.pk]
        dropped.update(t.pk for t in lost)
        conflicts.append((kept.group, kept, lost))
    return [t for t in tags if t.pk not in dropped], conflicts


def tag_conflicts_record(*, patient: Patient, conflicts, at=None) -> None:
    for group, kept, lost in conflicts:
        touch_record(
            patient=patient,
            kind=TouchKind.TAG_CHANGE,
            channel=TouchChannel.WECOM,
            summary=worded(
                gettext_noop(
                    "WeCom set several tags of the single-choice group “%(group)s”: kept "
                    "“%(kept)s”, not applied %(dropped)s"
                ),
                group=group.name,
                kept=kept.name,
                dropped="、".join(f"“{t.name}”" for t in lost),
            ),
            payload={
                "event": "tag_conflict",
                "group_id": group.pk,
                "kept": {"id": kept.pk, "name": kept.name},
                "dropped": [{"id": t.pk, "name": t.name} for t in lost],
            },
            occurred_at=at,
        )


def contact_arrive(
    *,
    account: WeComAccount,
    external_userid: str,
    userid: str,
    state: str = "",
    welcome_code: str = "",
    profile: dict | None = None,
    received_at=None,
    arrived_at=None,
) -> tuple[Patient, Delivery | None]:
    """A patient added a staff member on WeCom. Creates or links the patient, applies the
    channel code's rules, records the arrival, and enqueues the welcome message (returned)."""
    clinic = account.clinic
    profile = profile or {}
    now = timezone.now()
    code = channel_code_for_state(clinic=clinic, state=state)
    staff = (
        Membership.objects.select_related("user").filter(clinic=clinic, wecom_userid=userid).first()
        if userid
        else None
    )
    code_tags = list(code.tags.select_related("group")) if code else []
    tags = list({t.pk: t for t in code_tags + _wecom_tags(clinic=clinic, profile=profile)}.values())
    patient = (
        Patient.objects.select_for_update()
        .filter(clinic=clinic, external_userid=external_userid)
        .first()
    )
    tags, conflicts = tag_conflicts_resolve(patient=patient, tags=tags)
    if patient is None:
        source, referrer = _source(code)
        contact = profile.get("external_contact") or {}
        patient = patient_create(
            clinic=clinic,
            name=_name(profile, userid, external_userid),
            external_userid=external_userid,
            source=source,
            source_detail=(code.name if code else state)[:100],
            referred_by=referrer,
            stage=(code.stage if code and code.stage else Stage.LEAD),
            gender=GENDERS.get(contact.get("gender"), Gender.UNKNOWN),
            tags=tags,
            at=arrived_at,
            **_assignment(staff),
        )
    else:
        if tags:
            patient_tag(patient=patient, add=tags)
        if code and code.stage:
            patient_set_stage(patient=patient, stage=code.stage, reason=code.name)
        elif patient.stage == Stage.CHURNED:
            patient_set_stage(
                patient=patient, stage=Stage.LEAD, reason=_("Added the clinic on WeCom again")
            )
        missing = {
            field: user
            for field, user in _assignment(staff).items()
            if getattr(patient, f"{field}_id") is None
        }
        if missing:
            patient_update(patient=patient, **missing)
    tag_conflicts_record(patient=patient, conflicts=conflicts, at=arrived_at)
    arrival, created = ContactArrival.objects.get_or_create(
        clinic=clinic,
        patient=patient,
        staff_userid=userid,
        defaults={"channel_code": code, "state": state, "arrived_at": arrived_at or now},
    )
    if not created and not arrival.still_contact:
        arrival.channel_code, arrival.state = code, state
        arrival.arrived_at, arrival.still_contact, arrival.left_at = arrived_at or now, True, None
        arrival.save()
    staff_name = (
        staff.name if staff else (userid or worded(gettext_noop("an unknown staff member")))
    )
    touch_record(
        patient=patient,
        kind=TouchKind.PROFILE,
        channel=TouchChannel.WECOM,
        summary=(
            worded(
                gettext_noop("Added %(staff)s on WeCom via “%(code)s”"),
                staff=staff_name,
                code=code.name,
            )
            if code
            else worded(gettext_noop("Added %(staff)s on WeCom"), staff=staff_name)
        ),
        payload={
            "staff_userid": userid,
            "state": state,
            "channel_code_id": code.pk if code else None,
        },
        occurred_at=arrived_at,
    )
    welcome = None
    if welcome_code:
        source = (code.welcome_text if code else "") or account.welcome_text or DEFAULT_WELCOME_TEXT
        try:  # the composer: {姓名} filled, red lines again, the emergency notice, the limit
            text = compose(clinic=clinic, text=source, patient=patient, allowed=WELCOME_VARIABLES)
        except ValidationError as error:
            text = ""
            touch_record(
                patient=patient,
                kind=TouchKind.WELCOME,
                channel=TouchChannel.WECOM,
                summary=worded(
                    gettext_noop("Welcome message not sent: %(reason)s"),
                    reason=" ".join(m for ms in error.message_dict.values() for m in ms),
                ),
                payload={"event": "welcome_refused"},
            )
    if welcome_code and text:
        welcome, _created = delivery_enqueue(
            clinic=clinic,
            key=f"welcome:{welcome_code}",
            channel=DeliveryChannel.WELCOME,
            recipient=external_userid,
            body=text,
            patient=patient,
            payload={"welcome_code": welcome_code, "link": code.link if code else None},
            expires_at=(received_at or now) + WELCOME_CODE_TTL,
        )
    return patient, welcome


def contact_refresh(*, account: WeComAccount, external_userid: str, profile: dict) -> None:
    """edit_external_contact: take the staff's remark as the name and mirror the corp tags."""
    clinic = account.clinic
    patient = Patient.objects.filter(clinic=clinic, external_userid=external_userid).first()
    if patient is None or not profile:
        return
    remarks = [f.get("remark", "").strip() for f in profile.get("follow_user") or []]
    name = next((r for r in remarks if r), "")
    contact = profile.get("external_contact") or {}
    changes = {}
    if name and name[:50] != patient.name:
        changes["name"] = name[:50]
    gender = GENDERS.get(contact.get("gender"))
    if gender and not patient.gender:
        changes["gender"] = gender
    if changes:
        patient_update(patient=patient, **changes)
    wanted, conflicts = tag_conflicts_resolve(
        patient=patient, tags=_wecom_tags(clinic=clinic, profile=profile)
    )
    wanted = {t.pk: t for t in wanted}
    mirrored = patient.tags.exclude(wecom_tag_id="").select_related("group")
    remove = [t for t in mirrored if t.pk not in wanted]
    patient_tag(patient=patient, add=list(wanted.values()), remove=remove)
    tag_conflicts_record(patient=patient, conflicts=conflicts)


def contact_leave(
    *, account: WeComAccount, external_userid: str, userid: str, by_patient: bool, at=None
) -> Patient | None:
    """del_follow_user (the patient deleted the staff member: 被删除) or del_external_contact
    (the staff member deleted the patient: 删除): that staff link is lost; when none is left,
    the patient churns (contact_lost)."""
    clinic = account.clinic
    patient = Patient.objects.filter(clinic=clinic, external_userid=external_userid).first()
    if patient is None:
        return None
    staff = (
        Membership.objects.filter(clinic=clinic, wecom_userid=userid).first() if userid else None
    )
    staff_name = (
        staff.name if staff else (userid or worded(gettext_noop("an unknown staff member")))
    )
    summary = worded(
        gettext_noop("The patient deleted %(staff)s on WeCom")
        if by_patient
        else gettext_noop("%(staff)s deleted the patient on WeCom"),
        staff=staff_name,
    )
    contact_lost(
        patient=patient,
        userid=userid,
        summary=summary,
        payload={
            "change_type": "del_follow_user" if by_patient else "del_external_contact",
            "by": "patient" if by_patient else "staff",
        },
        at=at,
    )
    return patient


def contact_lost(*, patient: Patient, userid: str, summary: str, payload: dict, at=None) -> bool:
    """The patient is no longer a WeCom contact of staff member `userid`: the link marked
    lost (recorded as lost if CareLoop never saw it made), a churn signal on the timeline
    with the number of contacts left, and, when none is left, the patient moves to 流失 with
    the reason. The followups' trigger scan turns that entry (payload contacts_left 0) into
    one win-back task. Returns whether the link was live (a repeated event does nothing)."""
    at = at or timezone.now()
    clinic_id = patient.clinic_id
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    changed = ContactArrival.objects.filter(
        clinic_id=clinic_id, patient=patient, staff_userid=userid, still_contact=True
    ).update(still_contact=False, left_at=at)
    if not changed:
        _arrival, created = ContactArrival.objects.get_or_create(
            clinic_id=clinic_id,
            patient=patient,
            staff_userid=userid,
            defaults={"still_contact": False, "left_at": at, "arrived_at": at},
        )
        if not created:
            return False  # already lost: a repeated or crossed event
    left = ContactArrival.objects.filter(
        clinic_id=clinic_id, patient=patient, still_contact=True
    ).count()
    touch_record(
        patient=patient,
        kind=TouchKind.CHURN_SIGNAL,
        channel=TouchChannel.WECOM,
        summary=summary,
        payload={**payload, "staff_userid": userid, "contacts_left": left},
        occurred_at=at,
    )
    if left == 0:
        patient_set_stage(
            patient=patient,
            stage=Stage.CHURNED,
            reason=_("No WeCom contact with the clinic is left"),
            at=at,
        )
    return True


def from_timestamp(value) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        return None
