"""The patient app's fixed vocabularies: journey stages, genders, sources, timeline kinds."""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Stage(models.TextChoices):
    """The patient journey (DOMAIN.md, seed 002), in order; churned stands apart."""

    LEAD = "lead", _("Lead")
    CONVERTED = "converted", _("Converted")
    BOOKED = "booked", _("Booked")
    ARRIVED = "arrived", _("Arrived")
    CONSULTED = "consulted", _("Consulted")
    DISPENSED = "dispensed", _("Dispensed")
    AFTER_VISIT = "after_visit", _("After-visit")
    MAINTAINED = "maintained", _("Maintained")
    CHURNED = "churned", _("Churned")


JOURNEY = [s for s in Stage if s != Stage.CHURNED]


class Gender(models.TextChoices):
    UNKNOWN = "", _("Unknown")
    FEMALE = "female", _("Female")
    MALE = "male", _("Male")


class Source(models.TextChoices):
    WALK_IN = "walk_in", _("Walk-in")
    WECOM_QR = "wecom_qr", _("WeCom channel code")
    REFERRAL = "referral", _("Referral")
    ONLINE_PLATFORM = "online_platform", _("Online platform")
    DOCTOR_IP = "doctor_ip", _("Doctor's public account")
    PARTNER = "partner", _("Partner")
    IMPORT = "import", _("Import")
    OTHER = "other", _("Other")


class TouchKind(models.TextChoices):
    NOTE = "note", _("Note")
    CALL = "call", _("Call")
    MESSAGE = "message", _("Message")
    VISIT = "visit", _("Visit")
    FOLLOWUP = "followup", _("Follow-up")
    STAGE_CHANGE = "stage_change", _("Stage change")
    TAG_CHANGE = "tag_change", _("Tag change")
    PROFILE = "profile", _("Profile")
    SURVEY = "survey", _("Survey")
    WELCOME = "welcome", _("Welcome message")
    CHURN_SIGNAL = "churn_signal", _("Churn signal")
    REFERRAL = "referral", _("Referral")
    GROUP = "group", _("Customer group")


# Timeline entries that are not a contact with the patient: the at-risk list ignores them
# (a deletion on WeCom must not take a patient off it).
NOT_CONTACT_KINDS = (TouchKind.CHURN_SIGNAL, TouchKind.STAGE_CHANGE, TouchKind.GROUP)


class TouchChannel(models.TextChoices):
    IN_PERSON = "in_person", _("In person")
    PHONE = "phone", _("Phone")
    WECOM = "wecom", _("WeCom")
    SMS = "sms", _("SMS")
    SYSTEM = "system", _("System")


class CaregiverRelation(models.TextChoices):
    SPOUSE = "spouse", _("Spouse")
    CHILD = "child", _("Child")
    PARENT = "parent", _("Parent")
    SIBLING = "sibling", _("Sibling")
    OTHER = "other", _("Other relation")


class CaregiverReminder(models.TextChoices):
    """The reminders a patient may choose to have sent to a caregiver as well: the care
    messages (wechat.audience.Purpose.CARE) the outbox sends, by what causes them."""

    RE_EXAM = "re_exam", _("Re-exam reminders")
    APPOINTMENT = "appointment", _("Appointment reminders")
    MEDICATION = "medication", _("Medication reminders")
    SURVEY = "survey", _("Follow-up questionnaires")
