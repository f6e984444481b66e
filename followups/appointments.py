"""Appointments: booking, arrived, no-show and cancel (writes), and the reads the page, the API,
the dashboard and {复诊日期} share. Every write puts its entry on the patient's timeline in the
same transaction."""

from datetime import date, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from crm.models import Membership, Role
from followups import clock
from followups.appointment_models import Appointment, AppointmentKind, AppointmentStatus
from followups.models import Action
from followups.plans import task_create
from patients.choices import Stage, TouchKind
from patients.models import Patient, Visit
from patients.selectors import patients_visible_to
from patients.services import patient_set_stage, visit_record
from patients.timeline import touch_record, worded

# Two bookings of one patient closer than this are the same time (a double booking).
SLOT_MINUTES = 30
# The page shows a day and the week after it.
WEEK_DAYS = 7

# What a visit recorded on arrival is called (Visit.Kind has no treatment: it is a revisit).
VISIT_KIND = {
    AppointmentKind.FIRST: Visit.Kind.FIRST,
    AppointmentKind.REVISIT: Visit.Kind.REVISIT,
    AppointmentKind.RE_EXAM: Visit.Kind.RE_EXAM,
    AppointmentKind.TREATMENT: Visit.Kind.REVISIT,
}


def _when(moment: datetime) -> str:
    return f"{clock.local(moment):%Y-%m-%d %H:%M}"


def doctor_name(*, clinic_id: int, user) -> str:
    member = (
        Membership.objects.filter(clinic_id=clinic_id, user=user).select_related("user").first()
    )
    return member.name if member else user.get_username()


def clinic_hours() -> tuple | None:
    """The clinic's opening hours for appointments (APPOINTMENT_HOURS, e.g. 08:00,18:00), or
    None when none are set."""
    hours = getattr(settings, "APPOINTMENT_HOURS", ())
    if not hours:
        return None
    return tuple(clock.hhmm(value) for value in hours)


def _check_booking(*, patient: Patient, doctor, start: datetime, now: datetime) -> None:
    if start <= now:
        raise ValidationError({"start": [_("An appointment cannot be booked in the past.")]})
    hours = clinic_hours()
    if hours and not (hours[0] <= clock.local(start).time() < hours[1]):
        raise ValidationError(
            {
                "start": [
                    _("The clinic takes appointments from %(open)s to %(close)s.")
                    % {"open": f"{hours[0]:%H:%M}", "close": f"{hours[1]:%H:%M}"}
                ]
            }
        )
    if not Membership.objects.filter(
        clinic_id=patient.clinic_id, user=doctor, role=Role.DOCTOR
    ).exists():
        raise ValidationError({"doctor": [_("Choose a doctor of this clinic.")]})
    slot = timedelta(minutes=SLOT_MINUTES)
    clash = (
        Appointment.objects.booked()
        .filter(patient=patient, start__gt=start - slot, start__lt=start + slot)
        .first()
    )
    if clash is not None:
        raise ValidationError(
            {
                "start": [
                    _("This patient already has an appointment at %(time)s.")
                    % {"time": _when(clash.start)}
                ]
            }
        )


@transaction.atomic
def appointment_book(
    *,
    patient: Patient,
    doctor,
    start: datetime,
    kind: str = AppointmentKind.REVISIT,
    notes: str = "",
    by=None,
    now: datetime | None = None,
    his_appointment_id: str = "",
) -> Appointment:
    """Book the patient with a doctor: the patient moves to 预约 (booked), the booking is on the
    timeline, and the reminder goes out the day before (appointment_reminders_enqueue).
    ValidationError (nothing written) for a time in the past or outside the clinic's hours,
    someone who is not a doctor of the patient's clinic, or a double booking."""
    if kind not in AppointmentKind.values:
        raise ValidationError({"kind": [_("Unknown appointment kind.")]})
    # One booking of a patient at a time, so two concurrent ones cannot both pass the check.
    Patient.objects.select_for_update().filter(pk=patient.pk).first()
    now = now or timezone.now()
    _check_booking(patient=patient, doctor=doctor, start=start, now=now)
    try:
        with transaction.atomic():
            appointment = Appointment.objects.create(
                clinic_id=patient.clinic_id,
                patient=patient,
                doctor=doctor,
                start=start,
                kind=kind,
                notes=notes.strip(),
                created_by=by,
                his_appointment_id=his_appointment_id,
            )
    except IntegrityError as error:
        raise ValidationError(
            {
                "start": [
                    _("This patient already has an appointment at %(time)s.")
                    % {"time": _when(start)}
                ]
            }
        ) from error
    reason = worded(
        gettext_noop("%(kind)s booked for %(time)s with %(doctor)s"),
        kind=AppointmentKind(appointment.kind).label,
        time=_when(start),
        doctor=doctor_name(clinic_id=patient.clinic_id, user=doctor),
    )
    if appointment.notes:  # typed by staff: kept as typed
        reason = worded(
            gettext_noop("%(booking)s: %(notes)s"), booking=reason, notes=appointment.notes
        )
    if patient_set_stage(patient=patient, stage=Stage.BOOKED, actor=by, reason=reason) is None:
        # Already at 预约: the new booking is on the timeline by itself.
        touch_record(
            patient=patient,
            kind=TouchKind.FOLLOWUP,
            actor=by,
            summary=reason,
            payload={"event": "appointment_booked", "appointment_id": appointment.pk},
        )
    return appointment


def _lock_booked(appointment: Appointment) -> Appointment:
    locked = (
        Appointment.objects.select_for_update(of=("self",))
        .select_related("patient", "doctor")
        .get(pk=appointment.pk)
    )
    if locked.status != AppointmentStatus.BOOKED:
        raise ValidationError(
            _("This appointment is already %(status)s.") % {"status": locked.get_status_display()}
        )
    return locked


def _close(appointment: Appointment, status: str, by, **fields) -> Appointment:
    appointment.status = status
    appointment.status_changed_at = timezone.now()
    appointment.status_changed_by = by
    for name, value in fields.items():
        setattr(appointment, name, value)
    appointment.save(
        update_fields=["status", "status_changed_at", "status_changed_by", *fields.keys()]
    )
    return appointment


def _label(appointment: Appointment) -> dict:
    return {
        "kind": AppointmentKind(appointment.kind).label,  # lazy: worded in the reader's language
        "time": _when(appointment.start),
        "doctor": doctor_name(clinic_id=appointment.clinic_id, user=appointment.doctor),
    }


@transaction.atomic
def appointment_arrive(*, appointment: Appointment, by=None) -> Appointment:
    """The patient came: the visit is recorded (on the appointment's day, with its doctor) and the
    patient moves to 到馆 (arrived). Refused for an appointment on a later day."""
    appointment = _lock_booked(appointment)
    today = clock.local_today()
    if clock.local(appointment.start).date() > today:
        raise ValidationError(
            _("This appointment is on %(date)s: mark the arrival on that day.")
            % {"date": clock.local(appointment.start).date().isoformat()}
        )
    patient = appointment.patient
    visit = visit_record(
        patient=patient,
        visit_date=clock.local(appointment.start).date(),
        kind=VISIT_KIND[appointment.kind],
        doctor=appointment.doctor,
        notes=appointment.notes,
        actor=by,
    )
    patient_set_stage(
        patient=patient,
        stage=Stage.ARRIVED,
        actor=by,
        reason=worded(
            gettext_noop("Arrived for the appointment at %(time)s"), **_label(appointment)
        ),
    )
    return _close(appointment, AppointmentStatus.ARRIVED, by, visit=visit)


@transaction.atomic
def appointment_no_show(*, appointment: Appointment, by=None) -> Appointment:
    """The patient did not come: on the timeline, and a call for the patient's assistant (or
    the assistants' pool) to book again. Refused before the appointment's time."""
    appointment = _lock_booked(appointment)
    if appointment.start > timezone.now():
        raise ValidationError(
            _("The appointment at %(time)s has not begun yet.") % _label(appointment)
        )
    patient = appointment.patient
    label = _label(appointment)
    task = task_create(
        patient=patient,
        title=_("No-show on %(time)s: call to book again") % label,
        action=Action.CALL,
        assignee=patient.assigned_assistant,
        role="" if patient.assigned_assistant_id else Role.ASSISTANT,
        due_at=timezone.now(),
    )
    touch_record(
        patient=patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=worded(gettext_noop("No-show: %(kind)s at %(time)s with %(doctor)s"), **label),
        payload={
            "event": "appointment_no_show",
            "appointment_id": appointment.pk,
            "task_id": task.pk,
        },
    )
    return _close(appointment, AppointmentStatus.NO_SHOW, by, task=task)


@transaction.atomic
def appointment_cancel(*, appointment: Appointment, reason: str, by=None) -> Appointment:
    """Cancel with a reason (required), on the timeline. The patient's stage is left as it is."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": [_("Say why the appointment is cancelled.")]})
    appointment = _lock_booked(appointment)
    touch_record(
        patient=appointment.patient,
        kind=TouchKind.FOLLOWUP,
        actor=by,
        summary=worded(
            gettext_noop(
                "Appointment cancelled (%(reason)s): %(kind)s at %(time)s with %(doctor)s"
            ),
            reason=reason,
            **_label(appointment),
        ),
        payload={"event": "appointment_cancelled", "appointment_id": appointment.pk},
    )
    return _close(appointment, AppointmentStatus.CANCELLED, by, cancel_reason=reason[:200])


# Reads ------------------------------------------------------------------------------------


def appointments_visible_to(membership) -> QuerySet:
    """The clinic's appointments of the patients this staff member may see (a nurse: her
    wards')."""
    return Appointment.objects.filter(
        clinic_id=membership.clinic_id, patient__in=patients_visible_to(membership)
    ).select_related("patient", "doctor")


def appointment_next(*, patient: Patient, now: datetime | None = None) -> Appointment | None:
    """The patient's next booked appointment, if any."""
    return Appointment.objects.filter(patient=patient).upcoming(now).first()


def appointment_next_date(*, patient: Patient, now: datetime | None = None) -> date | None:
    """The clinic day of the patient's next booked appointment: what {复诊日期} means when the
    sender gives no date."""
    appointment = appointment_next(patient=patient, now=now)
    return clock.local(appointment.start).date() if appointment else None


def appointment_days(*, membership, day: date, doctor=None, days: int = WEEK_DAYS) -> list:
    """[(day, [(doctor name, [appointments])])] for `day` and the following days (a week),
    cancelled ones included (struck through on the page)."""
    start, _end = clock.day_bounds(day)
    end = clock.day_bounds(day + timedelta(days=days - 1))[1]
    rows = appointments_visible_to(membership).between(start, end).order_by("start", "id")
    if doctor is not None:
        rows = rows.filter(doctor=doctor)
    names = {
        m.user_id: m.name
        for m in Membership.objects.filter(clinic_id=membership.clinic_id).select_related("user")
    }
    by_day = {day + timedelta(days=i): {} for i in range(days)}
    for row in rows[:2000]:
        row.doctor_name = names.get(row.doctor_id) or row.doctor.get_username()
        by_day[clock.local(row.start).date()].setdefault(row.doctor_name, []).append(row)
    return [(d, sorted(doctors.items())) for d, doctors in by_day.items()]


def no_show_figures(*, clinic, start: datetime, end: datetime, doctor=None, now=None) -> dict:
    """No-show rate: of the appointments due in [start, end) (their time has come; cancelled
    ones left out), the share marked no-show. Still-booked past appointments are counted as
    due and shown apart as `unmarked`."""
    now = now or timezone.now()
    rows = Appointment.objects.filter(clinic=clinic, start__gte=start, start__lt=min(end, now))
    rows = rows.exclude(status=AppointmentStatus.CANCELLED)
    if doctor is not None:
        rows = rows.filter(doctor=doctor)
    counts = rows.aggregate(
        due=Count("id"),
        no_show=Count("id", filter=Q(status=AppointmentStatus.NO_SHOW)),
        arrived=Count("id", filter=Q(status=AppointmentStatus.ARRIVED)),
        unmarked=Count("id", filter=Q(status=AppointmentStatus.BOOKED)),
    )
    counts["no_show_rate"] = round(counts["no_show"] / counts["due"], 4) if counts["due"] else None
    return counts
