"""wechat's part of a patient merge (patients/merge.py, setting PATIENT_MERGE_MOVERS): the
duplicate's WeCom arrivals, deliveries and referral codes move to the survivor."""

from django.utils.translation import gettext_lazy as _

from wechat.models import ChannelCode, ContactArrival, Delivery

LABELS = {
    "arrivals": _("WeCom arrivals"),
    "deliveries": _("Messages sent"),
    "referral_codes": _("Referral codes"),
}


def merge_counts(patient) -> dict:
    return {
        LABELS["arrivals"]: ContactArrival.objects.filter(patient=patient).count(),
        LABELS["deliveries"]: Delivery.objects.filter(patient=patient).count(),
        LABELS["referral_codes"]: ChannelCode.objects.filter(referrer=patient).count(),
    }


def merge_move(*, survivor, duplicate) -> dict[str, int]:
    arrivals = ContactArrival.objects.filter(patient=duplicate)
    # One arrival per contact relation: where the survivor has the same staff member's, the
    # survivor's row stays (still a contact if either was).
    same_staff = set(
        ContactArrival.objects.filter(patient=survivor).values_list("staff_userid", flat=True)
    )
    for arrival in arrivals.filter(staff_userid__in=same_staff, still_contact=True):
        ContactArrival.objects.filter(
            patient=survivor, staff_userid=arrival.staff_userid, still_contact=False
        ).update(still_contact=True, left_at=None)
    arrivals.filter(staff_userid__in=same_staff).delete()
    return {
        "arrivals": arrivals.update(patient=survivor),
        "deliveries": Delivery.objects.filter(patient=duplicate).update(patient=survivor),
        "referral_codes": ChannelCode.objects.filter(referrer=duplicate).update(referrer=survivor),
    }
