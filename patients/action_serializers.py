"""Serializers of the patient actions: notes and call outcomes, visits, revisit booking and
bulk changes. They validate shape and clinic scope; the services do the work."""

from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from crm.api import ClinicScopedRelatedField, ClinicUserField, DateField
from crm.models import DOCTOR_ROLES
from crm.selectors import user_name
from patients.bulk import BULK_MAX_PATIENTS
from patients.choices import Stage, TouchChannel, TouchKind
from patients.models import PatientTag, Visit
from patients.selectors import patients_visible_to

# A note or call summary written by staff: the page shows the limit and a counter, and longer
# text is refused, never cut (the timeline's summary holds 500 with the outcome's label).
NOTE_MAX_LENGTH = 450

CALL_OUTCOMES = [
    ("reached", _("Reached")),
    ("no_answer", _("No answer")),
    ("call_back", _("Asked to call back")),
    ("needs_visit", _("Needs a revisit")),
    ("wrong_number", _("Wrong number")),
]


class NoteSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(
        choices=[(TouchKind.NOTE, TouchKind.NOTE.label), (TouchKind.CALL, TouchKind.CALL.label)]
    )
    channel = serializers.ChoiceField(choices=TouchChannel.choices, default=TouchChannel.IN_PERSON)
    summary = serializers.CharField(
        required=False, allow_blank=True, default="", trim_whitespace=False
    )
    outcome = serializers.ChoiceField(choices=CALL_OUTCOMES, required=False)

    def validate_summary(self, value):
        if len(value.strip()) > NOTE_MAX_LENGTH:
            raise serializers.ValidationError(
                _("A note has at most %(max)s characters (this has %(n)s).")
                % {"max": NOTE_MAX_LENGTH, "n": len(value.strip())}
            )
        return value

    def validate(self, data):
        outcome = data.pop("outcome", None)
        summary = data["summary"].strip()
        if outcome:
            label = str(dict(CALL_OUTCOMES)[outcome])
            summary = f"{label}：{summary}" if summary else label
            data["payload"] = {"outcome": outcome}
        if not summary:
            raise serializers.ValidationError({"summary": [_("Write what happened.")]})
        data["summary"] = summary
        return data


class VisitSerializer(serializers.ModelSerializer):
    kind_display = serializers.CharField(source="get_kind_display", read_only=True)
    doctor = ClinicUserField(required=False, allow_null=True)
    doctor_name = serializers.SerializerMethodField()

    class Meta:
        model = Visit
        fields = ["id", "visit_date", "kind", "kind_display", "doctor", "doctor_name", "amount"]
        fields += ["notes"]

    def get_doctor_name(self, visit) -> str:
        return user_name(visit.doctor)

    def validate_visit_date(self, value):
        if value > timezone.localdate():
            raise serializers.ValidationError(
                _("A visit is recorded once it happened; book a revisit for a future date.")
            )
        return value


class BookRevisitSerializer(serializers.Serializer):
    on = DateField(label=_("Date"))
    note = serializers.CharField(max_length=100, required=False, allow_blank=True, default="")


class BulkSerializer(serializers.Serializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(),
        allow_empty=False,
        max_length=BULK_MAX_PATIENTS,
        label=_("Patients"),
    )
    add_tags = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"), many=True, required=False, default=list
    )
    remove_tags = ClinicScopedRelatedField(
        queryset=PatientTag.objects.select_related("group"), many=True, required=False, default=list
    )
    stage = serializers.ChoiceField(choices=Stage.choices, required=False)
    reason = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    assigned_doctor = ClinicUserField(roles=DOCTOR_ROLES, required=False, allow_null=True)

    def validate_ids(self, ids):
        membership = self.context["request"].membership
        # Another clinic's id (or, for a nurse, another ward's) looks like one that does not exist.
        visible = patients_visible_to(membership)
        patients = list(visible.filter(pk__in=set(ids)).order_by("pk"))
        if len(patients) != len(set(ids)):
            raise serializers.ValidationError(_("Some selected patients were not found."))
        return patients

    def validate(self, data):
        if not (
            data["add_tags"]
            or data["remove_tags"]
            or data.get("stage")
            or "assigned_doctor" in data
        ):
            raise serializers.ValidationError(_("Choose what to change."))
        return data
