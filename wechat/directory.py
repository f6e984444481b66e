"""The WeCom staff directory (通讯录): synced, it proposes new staff as members and flags
members whose WeCom account left (gone from the directory, disabled or quit) for handover.

- `directory_sync` reads department/list and user/list (the root department, with its
  sub-departments) and mirrors them on DirectoryUser; someone the directory no longer
  lists gets `gone_at` (WeCom deletes a member who left). Safe to run twice.
- `directory_review` is what the admin sees: `proposed` (in WeCom, active, no membership
  with that userid: accept them on the staff page, prefilled) and `left` (active
  memberships whose WeCom userid is gone, disabled or quit: hand their patients over).
"""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from crm.models import Membership
from wechat import transport
from wechat.models import DirectoryUser

USABLE = (1, 4)  # active, not activated yet


@dataclass
class DirectoryReport:
    seen: int = 0
    gone: int = 0


def directory_sync(*, account) -> DirectoryReport:
    clinic = account.clinic
    names = {int(d["id"]): d.get("name", "") for d in transport.departments(account)}
    users = transport.department_users(account, department_id=1)
    now = timezone.now()
    report = DirectoryReport()
    with transaction.atomic():
        seen = set()
        for user in users:
            userid = (user.get("userid") or "")[:64]
            if not userid or userid in seen:
                continue
            seen.add(userid)
            departments = "、".join(
                names.get(int(d), str(d)) for d in user.get("department") or []
            )[:200]
            DirectoryUser.objects.update_or_create(
                clinic=clinic,
                userid=userid,
                defaults={
                    "name": (user.get("name") or "")[:64],
                    "departments": departments,
                    "status": int(user.get("status") or 1),
                    "seen_at": now,
                    "gone_at": None,
                },
            )
        report.seen = len(seen)
        report.gone = (
            DirectoryUser.objects.filter(clinic=clinic, gone_at__isnull=True)
            .exclude(userid__in=seen)
            .update(gone_at=now)
        )
    return report


def directory_review(*, clinic) -> dict:
    entries = {d.userid: d for d in DirectoryUser.objects.filter(clinic=clinic)}
    members = list(
        Membership.objects.filter(clinic=clinic, user__is_active=True)
        .exclude(wecom_userid="")
        .select_related("user")
    )
    linked = {
        m.wecom_userid for m in Membership.objects.filter(clinic=clinic).exclude(wecom_userid="")
    }
    proposed = [
        d
        for d in entries.values()
        if d.gone_at is None and d.status in USABLE and d.userid not in linked
    ]
    left = []
    if entries:  # before the first sync nothing is known
        for member in members:
            entry = entries.get(member.wecom_userid)
            if entry is None or entry.gone_at is not None or entry.status not in USABLE:
                left.append({"membership": member, "entry": entry})
    proposed.sort(key=lambda d: (d.name, d.userid))
    return {"proposed": proposed, "left": left, "synced": bool(entries)}
