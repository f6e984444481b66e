"""Demo follow-ups for a clinic: SOP templates and plans for some of its patients."""

from datetime import timedelta

from django.db import transaction

from followups import clock, services
from followups.models import Action, Anchor, CarePlanTemplate, Trigger
from patients.fields import services as field_services
from patients.fields.models import FieldKind
from patients.models import Patient, PatientTag


def _step(title, days, action=Action.CALL, role="assistant", message=""):
    return {"title": title, "offset_days": days, "action": action, "role": role, "message": message}


TEMPLATES = [
    # (name, trigger, trigger tag, trigger visit kind, steps)
    (
        "术后随访",
        Trigger.TAG_ADDED,
        "术后",
        "",
        [
            _step("术后第1天电话随访", 1),
            _step(
                "术后第7天复查提醒",
                7,
                Action.RE_EXAM,
                message="{name}您好，术后第7天请来院复查伤口，{doctor}已为您预留时间。",
            ),
            _step("术后第30天电话随访", 30),
        ],
    ),
    (
        "复查提醒",
        Trigger.VISIT_RECORDED,
        "",
        "first",
        [
            _step(
                "初诊后复查提醒",
                14,
                Action.RE_EXAM,
                message="{name}您好，距您初诊已两周，请于{date}前后来{clinic}复查。",
            )
        ],
    ),
    (
        "满意度调查",
        Trigger.VISIT_RECORDED,
        "",
        "",
        [
            _step(
                "就诊满意度调查",
                3,
                Action.SURVEY,
                message="{name}您好，感谢您来{clinic}就诊，请花一分钟评价本次就诊体验。",
            )
        ],
    ),
    (
        "病房护理SOP",
        Trigger.MANUAL,
        "",
        "",
        [
            _step("测量体温并记录", 0, Action.CHECKLIST, role="nurse"),
            _step("检查伤口敷料", 0, Action.CHECKLIST, role="nurse"),
            _step("术后用药宣教", 0, Action.CHECKLIST, role="nurse"),
        ],
    ),
]


# A plan counting from the patient's 手术日期 (a clinic field): D+1, D+3, D+14 after it; a
# change of the date moves its open tasks.
SURGERY_FIELD = "手术日期"
ANCHORED_TEMPLATE = (
    "术后康复随访（按手术日期）",
    [
        _step("术后D+1电话随访", 1),
        _step(
            "术后D+3复查提醒",
            3,
            Action.RE_EXAM,
            message="{姓名}您好，请于{复诊日期}来{诊所}复查伤口。",
        ),
        _step("术后D+14电话随访", 14),
    ],
)


def seed_patient_fields(*, clinic) -> dict:
    """The demo clinic's own fields (once): 手术日期 (date), 过敏史 (multiple choice), 出院日期."""
    existing = {f.name: f for f in field_services.clinic_fields(clinic.pk)}
    specs = [
        (SURGERY_FIELD, FieldKind.DATE, [], "术后随访从这一天起算"),
        ("出院日期", FieldKind.DATE, [], ""),
        ("过敏史", FieldKind.CHOICES, ["青霉素", "头孢", "磺胺", "碘造影剂"], ""),
    ]
    for name, kind, options, help_text in specs:
        if name not in existing:
            existing[name] = field_services.field_create(
                clinic=clinic, name=name, kind=kind, options=options, help_text=help_text
            )
    return existing


@transaction.atomic
def seed_clinic(*, clinic) -> int:
    """Templates (once), plans for some of the clinic's patients and a few appointments
    (seed_appointments); returns plans started."""
    templates = {}
    for name, trigger, tag_name, visit_kind, steps in TEMPLATES:
        template = CarePlanTemplate.objects.filter(clinic=clinic, name=name).first()
        if template is None:
            template = services.template_create(
                clinic=clinic,
                name=name,
                trigger=trigger,
                trigger_tag=PatientTag.objects.filter(clinic=clinic, name=tag_name).first()
                if tag_name
                else None,
                trigger_visit_kind=visit_kind,
                steps=steps,
            )
        templates[name] = template
    fields = seed_patient_fields(clinic=clinic)
    surgery = fields[SURGERY_FIELD]
    name, steps = ANCHORED_TEMPLATE
    anchored = CarePlanTemplate.objects.filter(clinic=clinic, name=name).first()
    if anchored is None:
        anchored = services.template_create(
            clinic=clinic, name=name, anchor=Anchor.FIELD, anchor_field=surgery, steps=steps
        )
    today = clock.local_today()
    patients = list(Patient.objects.filter(clinic=clinic).active().order_by("id")[:50])
    started = 0
    # Post-op patients operated on over the last ten days: calls overdue, today, ahead; their
    # 手术日期 is the day.
    for n, patient in enumerate(patients[:15]):
        day = today - timedelta(days=n % 10)
        field_services.field_values_set(patient=patient, values={surgery: day})
        _plan, created = services.plan_start(
            patient=patient, template=templates["术后随访"], anchor_date=day
        )
        started += created
    # Ten more post-op patients on the plan that counts from their 手术日期.
    for n, patient in enumerate(patients[40:50]):
        field_services.field_values_set(
            patient=patient,
            values={
                surgery: today - timedelta(days=n % 7),
                "过敏史": ["青霉素"] if n % 3 == 0 else [],
            },
        )
        _plan, created = services.plan_start(patient=patient, template=anchored)
        started += created
    for patient in patients[15:25]:
        _plan, created = services.plan_start(
            patient=patient, template=templates["病房护理SOP"], anchor_date=today
        )
        started += created
    for n, patient in enumerate(patients[25:40]):
        _plan, created = services.plan_start(
            patient=patient,
            template=templates["满意度调查"],
            anchor_date=today - timedelta(days=n % 5),
        )
        started += created
    seed_appointments(clinic=clinic)
    return started


@transaction.atomic
def seed_appointments(*, clinic) -> int:
    """A few appointments (once): booked this week, arrived and no-shows in the past week.
    Returns how many were made (0 when the clinic already has appointments)."""
    from crm.models import Role
    from followups.appointment_models import AppointmentKind
    from followups.appointments import appointment_arrive, appointment_book, appointment_no_show

    if clinic.appointments.exists():
        return 0
    doctors = [m.user for m in clinic.memberships.filter(role=Role.DOCTOR).select_related("user")]
    if not doctors:
        return 0
    # The clinic's newest patients (the plans above take the oldest ones).
    patients = list(Patient.objects.filter(clinic=clinic).active().order_by("-id")[:16])
    today = clock.local_today()
    kinds = list(AppointmentKind)
    made = 0
    for n, patient in enumerate(patients):
        past = n >= 8
        day = today - timedelta(days=1 + n % 6) if past else today + timedelta(days=1 + n % 6)
        start = clock.at(day, clock.hhmm(f"{9 + n % 8:02d}:{30 if n % 2 else 0:02d}"))
        appointment = appointment_book(
            patient=patient,
            doctor=doctors[n % len(doctors)],
            start=start,
            kind=kinds[n % len(kinds)],
            notes="带上次的检查报告" if n % 3 == 0 else "",
            # A past one is booked as it was, a week before its day.
            now=start - timedelta(days=7),
        )
        if past and n % 3:
            appointment_arrive(appointment=appointment)
        elif past:
            appointment_no_show(appointment=appointment)
        made += 1
    return made
