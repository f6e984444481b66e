"""A patient's record as FHIR resources (R4B, the R4-compatible model set in fhir.resources):
Patient, Encounter per visit, Appointment, CarePlan with its Task rows, Communication per
message the outbox handled, in one Bundle.

Ids are our primary keys; every reference is `Type/id` and names an entry of the same bundle.
Each resource is built with fhir.resources' pydantic models, so an invalid one raises here,
not in the hospital's system.
"""

from datetime import datetime, time

from django.utils import timezone
from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.careplan import CarePlan as FhirCarePlan
from fhir.resources.R4B.communication import Communication
from fhir.resources.R4B.encounter import Encounter
from fhir.resources.R4B.patient import Patient as FhirPatient
from fhir.resources.R4B.task import Task

from followups.appointment_models import Appointment, AppointmentStatus
from followups.models import CarePlan, FollowUpTask, PlanStatus, TaskStatus
from patients.choices import Gender
from patients.models import Patient, Visit
from wechat.composer import links_masked
from wechat.models import Delivery, DeliveryStatus

SYSTEM = "urn:careloop:clinic:{clinic}:{kind}"

_GENDER = {Gender.MALE: "male", Gender.FEMALE: "female"}
_APPOINTMENT_STATUS = {
    AppointmentStatus.BOOKED: "booked",
    AppointmentStatus.ARRIVED: "arrived",
    AppointmentStatus.NO_SHOW: "noshow",
    AppointmentStatus.CANCELLED: "cancelled",
}
_PLAN_STATUS = {
    PlanStatus.ACTIVE: "active",
    PlanStatus.FINISHED: "completed",
    PlanStatus.STOPPED: "revoked",
}
_TASK_STATUS = {
    TaskStatus.OPEN: "requested",
    TaskStatus.DONE: "completed",
    TaskStatus.SKIPPED: "cancelled",
    TaskStatus.CANCELLED: "cancelled",
}

# The outbox's states as a Communication's (event-status): sent is completed; waiting or
# retrying is in-progress; given up, skipped or too late did not happen.
_COMMUNICATION_STATUS = {
    DeliveryStatus.PENDING: "preparation",
    DeliveryStatus.SENDING: "in-progress",
    DeliveryStatus.FAILED: "in-progress",
    DeliveryStatus.SENT: "completed",
    DeliveryStatus.DEAD: "stopped",
    DeliveryStatus.SKIPPED: "not-done",
    DeliveryStatus.MISSED: "not-done",
}


def _iso(value) -> str:
    if isinstance(value, datetime):
        return timezone.localtime(value).isoformat()
    return value.isoformat()


def patient_resource(patient: Patient) -> FhirPatient:
    identifiers = [
        {
            "system": SYSTEM.format(clinic=patient.clinic_id, kind="patient"),
            "value": str(patient.pk),
        }
    ]
    if patient.his_patient_id:
        identifiers.append(
            {
                "system": SYSTEM.format(clinic=patient.clinic_id, kind="his-patient"),
                "value": patient.his_patient_id,
            }
        )
    data = {
        "id": str(patient.pk),
        "identifier": identifiers,
        "name": [{"text": patient.name}],
        "active": patient.merged_into_id is None,
    }
    gender = _GENDER.get(patient.gender)
    if gender:
        data["gender"] = gender
    if patient.birth_date:
        data["birthDate"] = patient.birth_date.isoformat()
    if patient.phone_masked:
        # Masked: an export never carries the full number (reveals are audited on their own).
        data["telecom"] = [{"system": "phone", "value": patient.phone_masked}]
    return FhirPatient(**data)


def encounter_resource(visit: Visit) -> Encounter:
    start = timezone.make_aware(datetime.combine(visit.visit_date, time.min))
    data = {
        "id": str(visit.pk),
        "status": "finished",
        "class": {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
            "code": "AMB",
            "display": "ambulatory",
        },
        "type": [{"text": str(Visit.Kind(visit.kind).label)}],
        "subject": {"reference": f"Patient/{visit.patient_id}"},
        "period": {"start": start.isoformat()},
    }
    if visit.his_visit_id:
        data["identifier"] = [
            {
                "system": SYSTEM.format(clinic=visit.clinic_id, kind="his-visit"),
                "value": visit.his_visit_id,
            }
        ]
    return Encounter(**data)


def appointment_resource(appointment: Appointment) -> FhirAppointment:
    data = {
        "id": str(appointment.pk),
        "status": _APPOINTMENT_STATUS.get(appointment.status, "booked"),
        "start": _iso(appointment.start),
        "participant": [
            {"actor": {"reference": f"Patient/{appointment.patient_id}"}, "status": "accepted"}
        ],
    }
    if appointment.notes:
        data["comment"] = appointment.notes
    return FhirAppointment(**data)


def careplan_resource(plan: CarePlan, task_ids: list[int]) -> FhirCarePlan:
    data = {
        "id": str(plan.pk),
        "status": _PLAN_STATUS.get(plan.status, "unknown"),
        "intent": "plan",
        "title": plan.template.name,
        "subject": {"reference": f"Patient/{plan.patient_id}"},
        "period": {"start": plan.anchor_date.isoformat()},
    }
    if task_ids:
        data["activity"] = [{"reference": {"reference": f"Task/{pk}"}} for pk in task_ids]
    return FhirCarePlan(**data)


def task_resource(task: FollowUpTask) -> Task:
    data = {
        "id": str(task.pk),
        "status": _TASK_STATUS.get(task.status, "completed"),
        "intent": "plan",
        "description": task.title,
        "for": {"reference": f"Patient/{task.patient_id}"},
        "executionPeriod": {"end": _iso(task.due_at)},
    }
    if task.plan_id:
        data["basedOn"] = [{"reference": f"CarePlan/{task.plan_id}"}]
    return Task(**data)


def communication_resource(delivery: Delivery) -> Communication:
    data = {
        "id": str(delivery.pk),
        "status": _COMMUNICATION_STATUS.get(delivery.status, "unknown"),
        "subject": {"reference": f"Patient/{delivery.patient_id}"},
        "recipient": [{"reference": f"Patient/{delivery.patient_id}"}],
        "medium": [{"text": delivery.get_channel_display()}],
        # The text as staff read it: the patient's own link tokens stay out of an export.
        "payload": [{"contentString": links_masked(delivery.body)}],
    }
    if delivery.sent_at:
        data["sent"] = _iso(delivery.sent_at)
    return Communication(**data)


def patient_everything(patient: Patient, base_url: str) -> Bundle:
    """The `$everything` Bundle (type searchset) of one patient; `base_url` ends in /fhir/."""
    resources = [patient_resource(patient)]
    resources += [
        encounter_resource(v) for v in Visit.objects.filter(patient=patient).order_by("id")
    ]
    resources += [
        appointment_resource(a) for a in Appointment.objects.filter(patient=patient).order_by("id")
    ]
    tasks = list(FollowUpTask.objects.filter(patient=patient).order_by("id"))
    by_plan: dict[int, list[int]] = {}
    for task in tasks:
        if task.plan_id:
            by_plan.setdefault(task.plan_id, []).append(task.pk)
    plans = CarePlan.objects.filter(patient=patient).select_related("template").order_by("id")
    resources += [careplan_resource(p, by_plan.get(p.pk, [])) for p in plans]
    resources += [task_resource(t) for t in tasks]
    resources += [
        communication_resource(d) for d in Delivery.objects.filter(patient=patient).order_by("id")
    ]
    return bundle_of(resources, base_url)


def bundle_of(resources, base_url: str) -> Bundle:
    return Bundle(
        type="searchset",
        total=len(resources),
        entry=[
            {
                "fullUrl": f"{base_url}{r.get_resource_type()}/{r.id}",
                "resource": r,
                "search": {"mode": "match"},
            }
            for r in resources
        ],
    )
