"""A patient's rights under PIPL: a copy of their data (art. 45) and erasure (art. 47).

Erasure removes identity and keeps the record's history: name, phone, birth date, gender, WeCom
contact, profile notes and the source note are removed or replaced by a pseudonym
(已删除患者#<id>); the patient no longer consents to contact and leaves their ward; tags,
stage and the referral link stay (they are not identity, and the figures count them); the timeline
stays, with the patient's name and phone number replaced in its texts, and visits and stage
history stay (figures keep counting). It is refused, with the reason, while the law requires the
clinic to keep the medical record: MEDICAL_RECORD_RETENTION_YEARS (default 15) after the last
visit, under 医疗机构病历管理规定（2013年版）第二十九条 (outpatient records kept at least 15 years
from the patient's last visit). A patient who never visited (a lead) can be erased at once.
Rows in other apps (the WeCom outbox's texts) are not rewritten here: patients imports no app
above it.
"""

import csv
import io
import json
import zipfile
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.audit import audit_record, transaction_setting
from crm.models import AuditAction
from patients.choices import TouchKind
from patients.models import Caregiver, Patient, Touch
from patients.phones import national
from patients.selectors import patient_tags
from patients.timeline import touch_record, worded

ERASED_NAME = "已删除患者#%(id)s"


def patient_opened(*, patient_id: int, request, via: str) -> None:
    """Opening a patient's record (the page, the API's detail, the timeline's first page) is
    written to the audit log."""
    audit_record(
        clinic_id=request.membership.clinic_id,
        user=request.user,
        action=AuditAction.VIEW_PATIENT,
        object_type="patient",
        object_id=patient_id,
        detail={"via": via},
        request=request,
    )


def _profile(patient: Patient) -> dict:
    return {
        "id": patient.pk,
        "name": patient.name,
        "phone": national(patient.phone) if patient.phone_encrypted else "",
        "gender": patient.get_gender_display() if patient.gender else "",
        "birth_date": patient.birth_date,
        "source": patient.get_source_display(),
        "source_detail": patient.source_detail,
        "stage": patient.get_stage_display(),
        "consent_to_contact": patient.consent_to_contact,
        "wecom_contact": bool(patient.external_userid),
        "tags": [t.name for t in patient_tags(patient)],
        "notes": patient.notes,
        "created_at": patient.created_at,
        "last_visit_date": patient.last_visit_date,
    }


def _csv(header: list[str], rows) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for row in rows:
        writer.writerow(["'" + v if str(v).startswith(("=", "+", "-", "@")) else v for v in row])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


@transaction.atomic
def patient_data_export(*, patient: Patient, by, request=None) -> bytes:
    """A ZIP with the patient's record (patient.json: profile, visits, stages, timeline) and the
    same as CSV files, for the patient (PIPL art. 45). Audited before it is made."""
    visits = list(patient.visits.select_related("doctor").order_by("visit_date", "id"))
    touches = list(patient.touches.order_by("occurred_at", "id"))
    transitions = list(patient.transitions.order_by("at", "id"))
    audit_record(
        clinic_id=patient.clinic_id,
        user=by,
        action=AuditAction.SUBJECT_EXPORT,
        object_type="patient",
        object_id=patient.pk,
        detail={"visits": len(visits), "timeline": len(touches)},
        request=request,
    )
    record = {
        "exported_at": timezone.now(),
        "clinic": patient.clinic.name,
        "patient": _profile(patient),
        "visits": [
            {
                "date": v.visit_date,
                "kind": v.get_kind_display(),
                "amount": v.amount,
                "notes": v.notes,
            }
            for v in visits
        ],
        # The caregivers and the reminders chosen for them; their numbers are theirs, masked.
        "caregivers": [
            {
                "name": c.name,
                "relation": c.get_relation_display(),
                "phone": c.phone_masked,
                "reminders": c.reminders,
            }
            for c in Caregiver.objects.filter(patient=patient).order_by("id")
        ],
        "stages": [
            {"at": t.at, "from": t.from_stage, "to": t.to_stage, "reason": t.reason}
            for t in transitions
        ],
        "timeline": [
            {
                "at": t.occurred_at,
                "kind": t.get_kind_display(),
                "channel": t.get_channel_display(),
                "summary": t.summary,
            }
            for t in touches
        ],
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "patient.json",
            json.dumps(record, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2),
        )
        archive.writestr(
            "visits.csv",
            _csv(
                ["date", "kind", "amount", "notes"],
                ([v["date"], v["kind"], v["amount"] or "", v["notes"]] for v in record["visits"]),
            ),
        )
        archive.writestr(
            "timeline.csv",
            _csv(
                ["time", "kind", "channel", "summary"],
                (
                    [timezone.localtime(t.occurred_at).isoformat(), row["kind"], row["channel"]]
                    + [row["summary"]]
                    for t, row in zip(touches, record["timeline"], strict=True)
                ),
            ),
        )
    return buffer.getvalue()


def erasure_blocked_until(patient: Patient) -> date | None:
    """The first day the patient's record may be erased, or None if it may be now."""
    last = patient.visits.order_by("-visit_date").values_list("visit_date", flat=True).first()
    if last is None:
        return None
    years = settings.MEDICAL_RECORD_RETENTION_YEARS
    try:
        until = last.replace(year=last.year + years)
    except ValueError:  # 29 February
        until = last.replace(year=last.year + years, day=28)
    return until if until > timezone.localdate() else None


def _scrub(text: str, secrets: list[str], pseudonym: str) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, pseudonym)
    return text


def patient_erase(*, patient: Patient, by, reason: str = "", request=None) -> Patient:
    """Erase the patient's identity (PIPL art. 47), or refuse with the reason while the medical
    record must be kept. Both are audited."""
    until = erasure_blocked_until(patient)
    if until is not None:
        message = _(
            "This patient's medical record must be kept until %(date)s (%(years)s years after "
            "the last visit, 医疗机构病历管理规定 art. 29): their identity cannot be erased yet."
        ) % {"date": until.isoformat(), "years": settings.MEDICAL_RECORD_RETENTION_YEARS}
        audit_record(
            clinic_id=patient.clinic_id,
            user=by,
            action=AuditAction.ERASE_REFUSED,
            object_type="patient",
            object_id=patient.pk,
            detail={"until": until.isoformat(), "reason": reason[:200]},
            request=request,
        )
        raise ValidationError(message)
    with transaction.atomic():
        patient = Patient.objects.select_for_update().get(pk=patient.pk)
        pseudonym = ERASED_NAME % {"id": patient.pk}
        phone = patient.phone if patient.phone_encrypted else ""
        # The patient's caregivers go with the identity: their names and numbers too.
        caregivers = list(Caregiver.objects.filter(patient=patient))
        family = set()
        for caregiver in caregivers:
            number = caregiver.phone if caregiver.phone_encrypted else ""
            family |= {caregiver.name, number, national(number) if number else ""}
            family.add(caregiver.external_userid)
        Caregiver.objects.filter(pk__in=[c.pk for c in caregivers]).delete()
        secrets = sorted(
            {patient.name, phone, national(phone) if phone else "", patient.external_userid}
            | family,
            key=len,
            reverse=True,
        )
        secrets = [s for s in secrets if s and len(s) >= 2]
        with transaction_setting("careloop.erasing", str(patient.pk)):
            for touch in Touch.objects.filter(patient=patient).only("pk", "summary", "payload"):
                summary = _scrub(touch.summary, secrets, pseudonym)
                payload = json.loads(
                    _scrub(json.dumps(touch.payload, ensure_ascii=False), secrets, pseudonym)
                )
                if summary != touch.summary or payload != touch.payload:
                    Touch.objects.filter(pk=touch.pk).update(summary=summary, payload=payload)
        Patient.objects.filter(pk=patient.pk).update(
            name=pseudonym,
            name_initials="",
            gender="",
            birth_date=None,
            phone_encrypted="",
            phone_hash="",
            phone_last4="",
            phone_masked="",
            external_userid="",
            source_detail="",
            ward=None,
            consent_to_contact=False,
            notes="",
            updated_at=timezone.now(),
        )
        patient.refresh_from_db()
        touch_record(
            patient=patient,
            kind=TouchKind.PROFILE,
            actor=by,
            summary=worded(gettext_noop("Identity erased at the patient's request (PIPL art. 47)")),
            payload={"event": "erased"},
        )
        audit_record(
            clinic_id=patient.clinic_id,
            user=by,
            action=AuditAction.ERASE_PATIENT,
            object_type="patient",
            object_id=patient.pk,
            detail={"reason": reason[:200]},
            request=request,
        )
    return patient
