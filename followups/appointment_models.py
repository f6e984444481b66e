"""Appointments (预约): a patient booked with a doctor at a time. They live in followups
because booking one sends the patient a reminder the day before through the outbox
(patients never imports wechat), as the follow-up reminders do."""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from crm.models import Clinic


class AppointmentKind(models.TextChoices):
    REVISIT = "revisit", _("Revisit")
    FIRST = "first", _("First visit")
    RE_EXAM = "re_exam", _("Re-exam")
    TREATMENT = "treatment", _("Treatment")


class AppointmentStatus(models.TextChoices):
    BOOKED = "booked", pgettext_lazy("appointment status", "Booked")
    ARRIVED = "arrived", pgettext_lazy("appointment status", "Arrived")
    NO_SHOW = "no_show", _("No-show")
    CANCELLED = "cancelled", _("Cancelled")


class AppointmentReminder(models.TextChoices):
    """The patient's reminder the day before."""

    NONE = "", _("Not sent yet")
    ENQUEUED = "enqueued", _("In the outbox")
    SKIPPED = "skipped", _("Skipped")


class AppointmentQuerySet(models.QuerySet):
    def booked(self):
        return self.filter(status=AppointmentStatus.BOOKED)

    def between(self, start, end):
        return self.filter(start__gte=start, start__lt=end)

    def upcoming(self, now=None):
        return self.booked().filter(start__gte=now or timezone.now()).order_by("start", "id")


class Appointment(models.Model):
    clinic = models.ForeignKey(Clinic, on_delete=models.CASCADE, related_name="appointments")
    patient = models.ForeignKey(
        "patients.Patient", on_delete=models.CASCADE, related_name="appointments"
    )
    # A staff member of the clinic with the doctor role (checked by appointment_book), by user,
    # as Visit.doctor and Patient.assigned_doctor are.
    doctor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("doctor"),
        on_delete=models.PROTECT,
        related_name="appointments",
    )
    start = models.DateTimeField(_("time"))
    kind = models.CharField(
        _("kind"), max_length=20, choices=AppointmentKind.choices, default=AppointmentKind.REVISIT
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=AppointmentStatus.choices,
        default=AppointmentStatus.BOOKED,
    )
    notes = models.CharField(_("notes"), max_length=200, blank=True)
    # The hospital system's (HIS) own appointment id: an appointment posted twice is booked once.
    his_appointment_id = models.CharField(_("HIS appointment id"), max_length=64, blank=True)
    cancel_reason = models.CharField(_("reason"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    # Who set the last status and when (arrived, no-show, cancelled).
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_changed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # What a status change made: the visit (arrived) and the follow-up task (no-show).
    visit = models.ForeignKey(
        "patients.Visit", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    task = models.ForeignKey(
        "followups.FollowUpTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    reminder_state = models.CharField(
        max_length=20, choices=AppointmentReminder.choices, blank=True, default=""
    )
    reminder_delivery_id = models.BigIntegerField(null=True, blank=True)

    objects = AppointmentQuerySet.as_manager()

    class Meta:
        verbose_name = _("appointment")
        verbose_name_plural = _("appointments")
        ordering = ["start", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=AppointmentStatus.values),
                name="appointment_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=AppointmentKind.values),
                name="appointment_kind_valid",
            ),
            # Cancelling records why.
            models.CheckConstraint(
                condition=~models.Q(status="cancelled") | ~models.Q(cancel_reason=""),
                name="appointment_cancel_has_reason",
            ),
            # The same patient cannot be booked twice at the same time.
            models.UniqueConstraint(
                fields=["clinic", "patient", "start"],
                condition=models.Q(status="booked"),
                name="appointment_unique_booked_patient_start",
            ),
            models.UniqueConstraint(
                fields=["clinic", "his_appointment_id"],
                condition=~models.Q(his_appointment_id=""),
                name="appointment_unique_his_id_per_clinic",
            ),
        ]
        indexes = [
            # The appointments page and API: a clinic's appointments by time.
            models.Index(fields=["clinic", "start"], name="appointment_clinic_start"),
            # The patient's next booked appointment ({复诊日期}) and the double-booking check.
            models.Index(
                fields=["patient", "start"],
                name="appointment_patient_booked",
                condition=models.Q(status="booked"),
            ),
            # The reminder scan: booked, not yet reminded, by start.
            models.Index(
                fields=["start"],
                name="appointment_reminder_due",
                condition=models.Q(status="booked", reminder_state=""),
            ),
        ]

    def __str__(self):
        return f"{self.patient} · {self.start:%Y-%m-%d %H:%M}"
