"""Backfill and reconcile with WeCom: the corp tag library and every staff member's contacts.

Both ways, without duplicates: a contact is matched on external_userid (never a second
patient); tags are matched on their WeCom id, then on their name. What one side has and the
other lacks is added to the other. Renames go the way they were made, and a tag deleted in
CareLoop is deleted in WeCom (CorpTagMirror: the names WeCom had at the last sync); contacts
are never deleted by a sync.
"""

import logging
from dataclasses import dataclass, field

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from patients.models import Patient, PatientTag, TagGroup
from patients.services import patient_tag
from patients.timeline import worded
from wechat import transport
from wechat.contacts import (
    contact_arrive,
    contact_lost,
    from_timestamp,
    tag_conflicts_record,
    tag_conflicts_resolve,
)
from wechat.models import ContactArrival, CorpTagMirror, WeComAccount

logger = logging.getLogger(__name__)


@dataclass
class SyncReport:
    tags_linked: int = 0
    tags_created_here: int = 0
    tags_created_in_wecom: int = 0
    tags_unlinked: int = 0
    tags_renamed_in_wecom: int = 0
    tags_deleted_in_wecom: int = 0
    patients_created: int = 0
    patients_linked: int = 0
    contacts_gone: int = 0
    staff: list[str] = field(default_factory=list)


@transaction.atomic
def corp_tags_sync(*, account: WeComAccount, push: bool = False) -> SyncReport:
    """Mirror the corp tag library onto PatientTag.wecom_tag_id. With `push`, CareLoop's
    tags that WeCom lacks are created there too (under a group of the same name). The name
    WeCom had at the last sync (CorpTagMirror) says who renamed a tag: WeCom (CareLoop takes
    the name) or CareLoop (edit_corp_tag); a mirrored tag deleted in CareLoop is deleted in
    WeCom (del_corp_tag)."""
    clinic = account.clinic
    report = SyncReport()
    library = transport.corp_tags(account)
    seen = set()
    mirrors = {m.wecom_tag_id: m for m in CorpTagMirror.objects.filter(clinic=clinic)}
    deleted_here = []
    for group in library:
        for item in group.get("tag") or []:
            tag_id, name = item.get("id", ""), (item.get("name") or "").strip()[:100]
            if not tag_id or not name or item.get("deleted"):
                continue
            seen.add(tag_id)
            mirror = mirrors.get(tag_id)
            tag = PatientTag.objects.filter(clinic=clinic, wecom_tag_id=tag_id).first()
            if tag is None and mirror is not None:
                deleted_here.append(tag_id)  # linked before, its CareLoop tag deleted since
                continue
            if tag is not None:
                if tag.name != name and mirror is not None and mirror.name == name:
                    # WeCom still has the name we last saw: CareLoop renamed it.
                    transport.corp_tag_rename(account, tag_id=tag_id, name=tag.name)
                    report.tags_renamed_in_wecom += 1
                    name = tag.name
                clash = PatientTag.objects.filter(clinic=clinic, name=name).exclude(pk=tag.pk)
                if tag.name != name and not clash.exists():
                    PatientTag.objects.filter(pk=tag.pk).update(name=name)
                _mirror(clinic, tag_id, name)
                continue
            tag = PatientTag.objects.filter(clinic=clinic, name=name).first()
            if tag is not None:
                PatientTag.objects.filter(pk=tag.pk).update(wecom_tag_id=tag_id)
                _mirror(clinic, tag_id, name)
                report.tags_linked += 1
                continue
            tag_group, _created = TagGroup.objects.get_or_create(
                clinic=clinic,
                name=(group.get("group_name") or _("WeCom tags")).strip()[:50],
                defaults={"kind": TagGroup.Kind.OTHER, "position": 100},
            )
            PatientTag.objects.create(
                clinic=clinic, name=name, slug=f"wecom-{tag_id}"[:100], group=tag_group,
                wecom_tag_id=tag_id,
            )  # fmt: skip
            _mirror(clinic, tag_id, name)
            report.tags_created_here += 1
    if deleted_here:
        transport.corp_tags_delete(account, tag_ids=deleted_here)
        report.tags_deleted_in_wecom = len(deleted_here)
    CorpTagMirror.objects.filter(clinic=clinic).exclude(
        wecom_tag_id__in=seen - set(deleted_here)
    ).delete()
    gone = PatientTag.objects.filter(clinic=clinic).exclude(wecom_tag_id="")
    report.tags_unlinked = gone.exclude(wecom_tag_id__in=seen).update(wecom_tag_id="")
    if push:
        local = PatientTag.objects.filter(clinic=clinic, wecom_tag_id="").select_related("group")
        by_group: dict[str, list[PatientTag]] = {}
        for tag in local:
            by_group.setdefault(tag.group.name, []).append(tag)
        for group_name, tags in by_group.items():
            created = transport.corp_tag_add(
                account, group_name=group_name, tag_names=[t.name for t in tags]
            )
            ids = {t.get("name"): t.get("id") for t in created.get("tag") or []}
            for tag in tags:
                if ids.get(tag.name):
                    PatientTag.objects.filter(pk=tag.pk).update(wecom_tag_id=ids[tag.name])
                    _mirror(clinic, ids[tag.name], tag.name)
                    report.tags_created_in_wecom += 1
    return report


def _mirror(clinic, tag_id: str, name: str) -> None:
    CorpTagMirror.objects.update_or_create(
        clinic=clinic, wecom_tag_id=tag_id, defaults={"name": name}
    )


def contacts_sync(*, account: WeComAccount) -> SyncReport:
    """Every follow user's external contacts (batch, cursor paging): patients added before
    CareLoop are created; known ones are linked; relations WeCom no longer has are closed
    with a churn signal; tags are merged both ways."""
    report = corp_tags_sync(account=account, push=True)
    for userid in transport.follow_users(account):
        report.staff.append(userid)
        present = set()
        for item in transport.contacts_of_user(account, userid=userid):
            contact = item.get("external_contact") or {}
            follow = item.get("follow_info") or {}
            external_userid = contact.get("external_userid", "")
            if not external_userid:
                continue
            present.add(external_userid)
            _contact_reconcile(account, userid, contact, follow, report)
        report.contacts_gone += _close_missing(account, userid, present)
    return report


def _contact_reconcile(account, userid, contact, follow, report) -> None:
    clinic = account.clinic
    external_userid = contact["external_userid"]
    profile = {
        "external_contact": contact,
        "follow_user": [
            {
                "userid": userid,
                "remark": follow.get("remark", ""),
                "tags": [{"tag_id": t, "type": 1} for t in follow.get("tag_id") or []],
            }
        ],
    }
    with transaction.atomic():
        patient = (
            Patient.objects.select_for_update()
            .filter(clinic=clinic, external_userid=external_userid)
            .first()
        )
        related = (
            patient is not None
            and ContactArrival.objects.filter(
                clinic=clinic, patient=patient, staff_userid=userid, still_contact=True
            ).exists()
        )
        if not related:
            if patient is None:
                report.patients_created += 1
            else:
                report.patients_linked += 1
            # No welcome: the code of a contact added long ago is not valid any more.
            patient, _welcome = contact_arrive(
                account=account,
                external_userid=external_userid,
                userid=userid,
                state=follow.get("state", ""),
                profile=profile,
                arrived_at=from_timestamp(follow.get("createtime")),
            )
        else:
            wecom_tags = PatientTag.objects.filter(
                clinic=clinic, wecom_tag_id__in=follow.get("tag_id") or []
            ).select_related("group")
            ordered = {t.wecom_tag_id: t for t in wecom_tags}
            tags, conflicts = tag_conflicts_resolve(
                patient=patient,
                tags=[ordered[i] for i in follow.get("tag_id") or [] if i in ordered],
            )
            patient_tag(patient=patient, add=tags)
            tag_conflicts_record(patient=patient, conflicts=conflicts)
    mine = set(patient.tags.exclude(wecom_tag_id="").values_list("wecom_tag_id", flat=True))
    missing_in_wecom = sorted(mine - set(follow.get("tag_id") or []))
    if missing_in_wecom:
        try:
            transport.mark_tag(
                account, userid=userid, external_userid=external_userid, add=missing_in_wecom
            )
        except transport.WeComError:
            logger.warning("mark_tag failed for %s", external_userid, exc_info=True)


def _close_missing(account, userid, present) -> int:
    """Relations CareLoop thinks exist but WeCom no longer lists: a deletion we missed."""
    closed = 0
    stale = ContactArrival.objects.filter(
        clinic=account.clinic, staff_userid=userid, still_contact=True
    ).exclude(patient__external_userid__in=present)
    for arrival in stale.select_related("patient"):
        with transaction.atomic():
            closed += contact_lost(
                patient=arrival.patient,
                userid=userid,
                summary=worded(
                    gettext_noop("No longer a WeCom contact of %(staff)s (found by sync)"),
                    staff=userid,
                ),
                payload={"change_type": "sync_missing"},
            )
    return closed
