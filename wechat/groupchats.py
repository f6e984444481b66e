"""Customer groups (客户群, 病种群): WeCom's groups of the clinic and who is in them.

- `group_refresh` reads one group from WeCom (groupchat/get) and makes CareLoop's rows
  what WeCom says: the group's name and owner, and its members. A patient who joined or
  left since the last look gets a timeline entry. It compares with the stored members,
  so running it twice (a resent callback, a sync beside a callback) records nothing twice.
- `groupchats_sync` does it for every group groupchat/list names; groups WeCom no longer
  lists are dismissed.
- The `change_external_chat` callback (create, update, dismiss) refreshes its group: the
  read happens before the event row is locked (`chat_event_prepare`), the write inside
  (`chat_event_apply`).
"""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext_noop

from patients.choices import TouchChannel, TouchKind
from patients.models import Patient, Touch
from patients.timeline import touch_build, worded
from wechat import transport
from wechat.models import GroupChat, GroupChatStatus, GroupMember, GroupMemberType

logger = logging.getLogger(__name__)

UNKNOWN_CHAT = 40050  # groupchat/get: no such chat (or dismissed)


@dataclass
class GroupSyncReport:
    groups: int = 0
    joined: int = 0
    left: int = 0
    dismissed: int = 0


def group_read(account, *, chat_id: str) -> dict | None:
    """WeCom's group, or None when WeCom does not know it (any more)."""
    try:
        return transport.groupchat_get(account, chat_id=chat_id)
    except transport.WeComError as exc:
        if exc.errcode == UNKNOWN_CHAT:
            return None
        raise


def _when(seconds) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(seconds), UTC) if seconds else None
    except (TypeError, ValueError, OverflowError):
        return None


@transaction.atomic
def group_apply(*, clinic, chat_id: str, data: dict | None) -> tuple[int, int]:
    """Make the stored group what WeCom answered (`data`, None: dismissed). Returns
    (patients joined, patients left) as recorded on their timelines now."""
    group = GroupChat.objects.select_for_update().filter(clinic=clinic, chat_id=chat_id).first()
    now = timezone.now()
    if data is None:
        if group is None or group.status == GroupChatStatus.DISMISSED:
            return 0, 0
        gone = list(group.members.all())
        group.status, group.member_count, group.synced_at = GroupChatStatus.DISMISSED, 0, now
        group.save(update_fields=["status", "member_count", "synced_at"])
        _timeline(group, joined=[], left=[m for m in gone if m.patient_id], dismissed=True)
        group.members.all().delete()
        return 0, sum(1 for m in gone if m.patient_id)
    if group is None:
        group = GroupChat.objects.create(clinic=clinic, chat_id=chat_id)
    wanted = {m["userid"]: m for m in data.get("member_list") or [] if m.get("userid")}
    stored = {m.userid: m for m in group.members.all()}
    externals = [u for u, m in wanted.items() if int(m.get("type", 0)) == GroupMemberType.EXTERNAL]
    patients = dict(
        Patient.objects.filter(clinic=clinic, external_userid__in=externals).values_list(
            "external_userid", "pk"
        )
    )
    new = [
        GroupMember(
            clinic=clinic,
            group=group,
            userid=userid,
            member_type=int(m.get("type", 0)) or GroupMemberType.EXTERNAL,
            patient_id=patients.get(userid),
            join_scene=int(m.get("join_scene") or 0),
            joined_at=_when(m.get("join_time")),
        )
        for userid, m in wanted.items()
        if userid not in stored
    ]
    GroupMember.objects.bulk_create(new, ignore_conflicts=True)
    gone = [m for userid, m in stored.items() if userid not in wanted]
    GroupMember.objects.filter(pk__in=[m.pk for m in gone]).delete()
    # A patient created after they joined: link them now (no timeline entry, nothing changed).
    for userid, member in stored.items():
        if userid in wanted and member.patient_id is None and patients.get(userid):
            GroupMember.objects.filter(pk=member.pk).update(patient_id=patients[userid])
    group.name = (data.get("name") or "")[:100]
    group.owner = (data.get("owner") or "")[:64]
    group.status = GroupChatStatus.ACTIVE
    group.member_count = len(wanted)
    group.synced_at = now
    group.save(update_fields=["name", "owner", "status", "member_count", "synced_at"])
    joined = [m for m in new if m.patient_id]
    left = [m for m in gone if m.patient_id]
    _timeline(group, joined=joined, left=left)
    return len(joined), len(left)


def _timeline(group, *, joined, left, dismissed=False) -> None:
    name = group.name or group.chat_id
    touches = []
    with translation.override(settings.LANGUAGE_CODE):
        for member, msgid, event in [
            *((m, gettext_noop("Joined the WeCom group “%(name)s”"), "group_join") for m in joined),
            *(
                (
                    m,
                    gettext_noop("The WeCom group “%(name)s” was dismissed")
                    if dismissed
                    else gettext_noop("Left the WeCom group “%(name)s”"),
                    "group_leave",
                )
                for m in left
            ),
        ]:
            touches.append(
                touch_build(
                    clinic_id=group.clinic_id,
                    patient_id=member.patient_id,
                    kind=TouchKind.GROUP,
                    channel=TouchChannel.WECOM,
                    summary=worded(msgid, name=name),
                    payload={"event": event, "chat_id": group.chat_id},
                )
            )
    Touch.objects.bulk_create(touches)


def group_refresh(account, *, chat_id: str) -> tuple[int, int]:
    data = group_read(account, chat_id=chat_id)
    return group_apply(clinic=account.clinic, chat_id=chat_id, data=data)


def groupchats_sync(*, account) -> GroupSyncReport:
    """Every group WeCom lists, refreshed; the stored groups it no longer lists dismissed."""
    report = GroupSyncReport()
    listed = set()
    for row in transport.groupchat_ids(account):
        chat_id = row.get("chat_id") or ""
        if not chat_id:
            continue
        listed.add(chat_id)
        joined, left = group_refresh(account, chat_id=chat_id)
        report.groups += 1
        report.joined += joined
        report.left += left
    stale = GroupChat.objects.filter(clinic=account.clinic, status=GroupChatStatus.ACTIVE).exclude(
        chat_id__in=listed
    )
    for chat_id in list(stale.values_list("chat_id", flat=True)):
        group_apply(clinic=account.clinic, chat_id=chat_id, data=None)
        report.dismissed += 1
    return report


# Callbacks -----------------------------------------------------------------------------


def chat_event_prepare(*, account, fields: dict) -> dict:
    """Before the event row is locked: what WeCom says of the group now."""
    chat_id = fields.get("ChatId", "")
    if not chat_id:
        return {"chat_id": "", "data": None}
    if fields.get("ChangeType") == "dismiss":
        return {"chat_id": chat_id, "data": None}
    return {"chat_id": chat_id, "data": group_read(account, chat_id=chat_id)}


def chat_event_apply(*, account, prepared: dict) -> None:
    if prepared["chat_id"]:
        group_apply(clinic=account.clinic, chat_id=prepared["chat_id"], data=prepared["data"])


# Group mass messages (客户群群发) --------------------------------------------------------


def group_message_send(*, group: GroupChat, text: str):
    """A mass message to one customer group, through the composer (red lines, the clinic's
    notice, WeCom's size limit) and the one outbox: an add_msg_template task of chat_type
    group that the group's owner confirms in their WeCom client, its result read like a
    customer message's (wechat.groupmsg). A group has no one patient: no variables.
    The same text to the same group on the same day is one message."""
    import hashlib

    from django.core.exceptions import ValidationError
    from django.utils.translation import gettext as _

    from wechat.composer import composer_for
    from wechat.models import DeliveryChannel
    from wechat.outbox import delivery_enqueue

    if group.status != GroupChatStatus.ACTIVE:
        raise ValidationError({"body": [_("This group was dismissed in WeCom.")]})
    if not group.owner:
        raise ValidationError({"body": [_("This group has no owner in WeCom yet: sync it.")]})
    composer = composer_for(group.clinic)
    text = composer.check(text, allowed=())
    body = composer.compose(text, allowed=())
    digest = hashlib.sha256(body.encode()).hexdigest()[:16]
    day = timezone.localdate().isoformat()
    delivery, _created = delivery_enqueue(
        clinic=group.clinic,
        key=f"groupmsg:{group.pk}:{day}:{digest}",
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient=group.chat_id,
        sender=group.owner,
        body=body,
        payload={"chat_type": "group", "group_id": group.pk, "notice": group.name or group.chat_id},
    )
    return delivery


def group_messages(*, group: GroupChat, limit: int = 10):
    """The group's recent mass messages with their result (the recipient row's status)."""
    from wechat.models import Delivery, DeliveryChannel

    return list(
        Delivery.objects.filter(
            clinic=group.clinic,
            channel=DeliveryChannel.CUSTOMER_MESSAGE,
            recipient=group.chat_id,
            payload__chat_type="group",
        )
        .prefetch_related("recipient_rows")
        .order_by("-created_at")[:limit]
    )


def patient_groups(*, patient) -> list[GroupChat]:
    """The customer groups the patient is in now (the patient page)."""
    return list(
        GroupChat.objects.filter(
            clinic_id=patient.clinic_id,
            status=GroupChatStatus.ACTIVE,
            members__patient=patient,
        )
        .select_related("disease_tag")
        .order_by("name", "pk")
    )
