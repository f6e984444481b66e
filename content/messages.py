"""One message to one patient from a template (the patient page's "Send a message"): the
audience rule (wechat.audience) for a care message, through the outbox, once per token.

The form carries a random token; the outbox key ``message:{patient_id}:{token}`` makes a
double click or a retried request one delivery. The outbox writes the timeline entry when
WeCom accepts the message (or says why not), as for every customer message.
"""

import re

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from content.articles import text_with_link, tracked_link_create
from content.models import Article, ArticleLinkSource, ExclusionReason, MessageTemplate
from content.templating import revisit_extra, template_variables
from crm.models import Membership
from patients.models import Patient
from wechat import audience
from wechat.composer import compose
from wechat.models import Delivery, DeliveryChannel
from wechat.redline import content_settings_for
from wechat.services import delivery_enqueue

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")


def message_key(patient_id: int, token: str) -> str:
    return f"message:{patient_id}:{token}"


def _wecom_userid(*, clinic_id: int, user) -> str:
    if user is None:
        return ""
    return (
        Membership.objects.filter(clinic_id=clinic_id, user=user)
        .values_list("wecom_userid", flat=True)
        .first()
        or ""
    )


def patient_message_check(*, patient: Patient, body: str = "", by=None) -> tuple[str, str]:
    """(sender, exclusion) for one message to `patient` now: the audience rule for a care
    message (consent to care, contact not lost, churned, a sender still a contact) with the
    daily and weekly caps, which a hand-sent message counts toward like a campaign (automatic
    reminders do not), with the sending user's WeCom account after the assistant's and the
    doctor's. exclusion is "" when it may go."""
    settings = content_settings_for(clinic=patient.clinic)
    return audience.audience_check(
        patient=patient,
        purpose=audience.Purpose.CARE,
        fallback_sender=_wecom_userid(clinic_id=patient.clinic_id, user=by),
        needs_doctor="医生" in template_variables(body),
        daily_cap=settings.per_customer_daily_cap,
        weekly_cap=settings.per_customer_weekly_cap,
    )


def exclusion_message(reason: str) -> str:
    return _("This patient cannot be sent a message now: %(reason)s") % {
        "reason": ExclusionReason(reason).label
    }


@transaction.atomic
def patient_message_send(
    *,
    patient: Patient,
    template: MessageTemplate,
    token: str,
    text: str | None = None,
    extra: dict | None = None,
    by=None,
    article: Article | None = None,
) -> tuple[Delivery, bool]:
    """Put one customer message to `patient` in the outbox: the template's text, or `text`
    (the preview as the user edited it; variables in it are filled too), with the emergency
    notice, red-line checked; with `article`, its tracked link for this patient fills {链接}
    (appended when the text has none). Returns (delivery, created); the same token again returns the
    first delivery and sends nothing more. ValidationError says why it is refused."""
    if not TOKEN_RE.match(token or ""):
        raise ValidationError({"token": [_("The form has no valid token; reload the page.")]})
    if template.clinic_id != patient.clinic_id:
        raise ValidationError({"template": [_("The template is not of this clinic.")]})
    # One send per patient at a time: the caps count the patient's deliveries, so two
    # concurrent messages must not both pass them.
    patient = Patient.objects.select_for_update().get(pk=patient.pk)
    key = message_key(patient.pk, token)
    existing = Delivery.objects.filter(clinic_id=patient.clinic_id, idempotency_key=key).first()
    if existing is not None:
        return existing, False
    source = template.body if text is None else text.strip()
    if not source:
        raise ValidationError({"text": [_("Enter the text.")]})
    sender, exclusion = patient_message_check(patient=patient, body=source, by=by)
    if exclusion:
        raise ValidationError(exclusion_message(exclusion))
    extra = revisit_extra(text=source, patient=patient, extra=extra)
    link = None
    if article is not None:
        # Rolled back with the message if the composer refuses the text.
        link, extra["链接"] = tracked_link_create(
            article=article, source=ArticleLinkSource.MESSAGE, patient=patient
        )
        notice = content_settings_for(clinic=patient.clinic).emergency_notice
        source = text_with_link(source, notice=notice)
    body = compose(clinic=patient.clinic, text=source, patient=patient, extra=extra, field="text")
    return delivery_enqueue(
        clinic=patient.clinic,
        key=key,
        channel=DeliveryChannel.CUSTOMER_MESSAGE,
        recipient=patient.external_userid,
        sender=sender,
        body=body,
        patient=patient,
        payload={
            "template_id": template.pk,
            "article_link_id": getattr(link, "pk", None),
            "by": getattr(by, "pk", None),
            "notice": _("a message to %(patient)s") % {"patient": patient.name},
            "purpose": audience.Purpose.CARE,
            "capped": True,
        },
    )
