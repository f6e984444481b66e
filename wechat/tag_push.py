"""Tags removed from a patient in CareLoop reach WeCom: mark_tag remove_tag for every staff
member the patient is still a contact of.

The timeline is the event stream (patients never imports wechat): the job reads new tag
changes (Touch kind tag_change with `removed` tags) after a cursor kept in the database,
calls WeCom through the transport, and moves the cursor only after the calls succeeded, so
a crash or a WeCom error repeats them on the next run. A repeat does no harm: removing a tag
the contact does not carry changes nothing in WeCom. A removal that came from WeCom (one
staff member's edit callback) reaches the patient's other staff contacts the same way: a
patient carries one set of tags in CareLoop.
"""

import logging

from django.db import transaction

from patients.choices import TouchKind
from patients.models import PatientTag, Touch
from wechat import transport
from wechat.models import ContactArrival, TimelineCursor, WeComAccount

logger = logging.getLogger(__name__)

CURSOR_KEY = "tag-push"
BATCH = 500
NOT_A_CONTACT = 84061  # WeCom: the staff member no longer has this external contact


def tag_removals_push(*, batch: int = BATCH) -> dict:
    """One pass: {"read", "calls"}; stops at the first transient WeCom error (retried next
    run, the cursor left before it)."""
    read = calls = 0
    cursor, _created = TimelineCursor.objects.get_or_create(key=CURSOR_KEY)
    touches = list(
        Touch.objects.filter(kind=TouchKind.TAG_CHANGE, id__gt=cursor.last_touch_id)
        .exclude(payload__removed=[])
        .select_related("patient")
        .order_by("id")[:batch]
    )
    last = cursor.last_touch_id
    accounts = {
        a.clinic_id: a
        for a in WeComAccount.objects.filter(clinic_id__in={t.clinic_id for t in touches})
    }
    for touch in touches:
        removed_ids = [t.get("id") for t in (touch.payload or {}).get("removed") or []]
        wecom_ids = list(
            PatientTag.objects.filter(pk__in=removed_ids)
            .exclude(wecom_tag_id="")
            .values_list("wecom_tag_id", flat=True)
        )
        account, patient = accounts.get(touch.clinic_id), touch.patient
        if wecom_ids and account is not None and patient.external_userid:
            staff = ContactArrival.objects.filter(patient=patient, still_contact=True).values_list(
                "staff_userid", flat=True
            )
            try:
                for userid in staff:
                    try:
                        transport.mark_tag(
                            account,
                            userid=userid,
                            external_userid=patient.external_userid,
                            add=[],
                            remove=wecom_ids,
                        )
                        calls += 1
                    except transport.WeComError as exc:
                        if exc.errcode != NOT_A_CONTACT and not exc.permanent:
                            raise
                        logger.info("mark_tag remove refused for %s: %s", patient.pk, exc)
            except transport.WeComError:
                logger.warning("mark_tag remove failed; retried next run", exc_info=True)
                break
        last = touch.pk
        read += 1
    with transaction.atomic():
        TimelineCursor.objects.filter(key=CURSOR_KEY, last_touch_id__lt=last).update(
            last_touch_id=last
        )
    return {"read": read, "calls": calls}
