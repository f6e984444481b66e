from django.contrib import admin

from crm.admin import ClinicScopedAdmin
from patients import services
from patients.models import Patient, PatientTag, StageTransition, TagGroup, Touch, Visit


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    list_display = [
        "name",
        "phone_masked",
        "stage",
        "source",
        "assigned_doctor",
        "last_visit_date",
        "created_at",
    ]
    list_filter = ["stage", "source", "consent_to_contact"]
    search_fields = ["name", "name_initials", "phone_last4"]
    readonly_fields = [
        "phone_masked",
        "stage",
        "stage_changed_at",
        "last_visit_date",
        "created_at",
        "updated_at",
    ]
    exclude = ["tags"]
    raw_id_fields = ["referred_by"]

    def save_model(self, request, obj, form, change):
        clinic = self._clinic(request)
        if clinic:
            obj.clinic = clinic
        profile = {
            f: form.cleaned_data[f] for f in services.PROFILE_FIELDS if f in form.cleaned_data
        }
        if change:
            services.patient_update(patient=obj, actor=request.user, **profile)
        else:
            created = services.patient_create(clinic=obj.clinic, actor=request.user, **profile)
            obj.pk = created.pk


@admin.register(TagGroup)
class TagGroupAdmin(ClinicScopedAdmin):
    list_display = ["name", "kind", "is_single_choice", "position"]
    list_editable = ["position"]


@admin.register(PatientTag)
class PatientTagAdmin(ClinicScopedAdmin):
    list_display = ["name", "group", "wecom_tag_id"]
    list_filter = ["group"]
    search_fields = ["name"]
    exclude = ["slug"]


class ReadOnlyAdmin(ClinicScopedAdmin):
    """History rows are written by services only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(StageTransition)
class StageTransitionAdmin(ReadOnlyAdmin):
    list_display = ["patient", "from_stage", "to_stage", "by", "at", "reason"]
    list_filter = ["to_stage"]


@admin.register(Touch)
class TouchAdmin(ReadOnlyAdmin):
    list_display = ["occurred_at", "patient", "kind", "channel", "actor", "summary"]
    list_filter = ["kind", "channel"]
    list_select_related = ["patient", "actor"]


@admin.register(Visit)
class VisitAdmin(ClinicScopedAdmin):
    list_display = ["visit_date", "patient", "kind", "doctor", "amount"]
    list_filter = ["kind"]
    raw_id_fields = ["patient"]

    def save_model(self, request, obj, form, change):
        if change:
            return super().save_model(request, obj, form, change)
        visit = services.visit_record(
            patient=obj.patient,
            visit_date=obj.visit_date,
            kind=obj.kind,
            doctor=obj.doctor,
            amount=obj.amount,
            notes=obj.notes,
            actor=request.user,
        )
        obj.pk = visit.pk
