"""Referral codes (转介绍码): a patient's personal WeCom QR code. It is a referral channel code
(wechat.channels) whose state carries the patient, so a new contact who scans it arrives with
referred_by set (wechat.contacts). One per patient."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from content.selectors import referral_code_of
from crm.models import Membership, Role
from patients.models import Patient
from wechat.models import ChannelCode, ChannelCodeKind, WeComAccount
from wechat.services import channel_code_create


def _receivers(patient: Patient) -> list[Membership]:
    """Who gets the referred contacts: the patient's own assistant and doctor, else the
    clinic's assistants — only members WeCom knows (with a userid)."""
    members = Membership.objects.filter(clinic_id=patient.clinic_id).exclude(wecom_userid="")
    own = list(
        members.filter(user_id__in=[patient.assigned_assistant_id, patient.assigned_doctor_id])
    )
    return own or list(members.filter(role=Role.ASSISTANT).order_by("id"))


def referral_code_create(*, patient: Patient) -> tuple[ChannelCode, bool]:
    """The patient's referral code, made in WeCom if missing: (code, created). No WeCom for
    the clinic, no staff with a WeCom userid, or WeCom refusing: a ValidationError that says
    so, and nothing saved."""
    with transaction.atomic():
        # The patient's row serializes two clicks on "create": one contact way in WeCom.
        Patient.objects.select_for_update().get(pk=patient.pk)
        existing = referral_code_of(patient)
        if existing is not None:
            return existing, False
        if not WeComAccount.objects.filter(clinic_id=patient.clinic_id).exists():
            raise ValidationError(_("WeCom is not configured for this clinic."))
        staff = _receivers(patient)
        if not staff:
            raise ValidationError(
                _(
                    "No staff member has a WeCom userid to receive the referred patients: "
                    "give the patient's assistant one first."
                )
            )
        code = channel_code_create(
            clinic=patient.clinic,
            name=_("Referral: %(name)s") % {"name": patient.name},
            staff=staff,
            kind=ChannelCodeKind.REFERRAL,
            referrer=patient,
        )
    return code, True
