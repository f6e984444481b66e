from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from crm.admin import ClinicScopedAdmin
from crm.forms import form_add_service_errors
from crm.models import Clinic, Membership, Role
from crm.selectors import user_name
from patients import services
from patients.clinic_defaults import clinic_setup_defaults
from patients.editing import EDITABLE_FIELDS, patient_editable_fields
from patients.models import Patient, PatientTag, StageTransition, TagGroup, Touch, Visit, Ward
from patients.wards import ward_save


# Registered here, not in crm: a clinic added in the admin starts with what every new clinic
# gets (patients.clinic_defaults, which sets up the apps above crm too).
@admin.register(Clinic)
class ClinicAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name", "slug"]
    readonly_fields = ["created_at"]

    def has_module_permission(self, request):
        return request.user.is_superuser

    has_view_permission = has_change_permission = has_add_permission = has_delete_permission = (
        lambda self, request, obj=None: request.user.is_superuser
    )

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change:
            clinic_setup_defaults(clinic=obj)


class PatientAdminForm(forms.ModelForm):
    phone = forms.CharField(
        label=_("Mobile phone"),
        required=False,
        help_text=_("Leave empty to keep the number; enter a new one to change it."),
    )

    class Meta:
        model = Patient
        fields = ["clinic", *services.PROFILE_FIELDS]

    def _post_clean(self):
        # The services check and save (patients.services): skip the model's own validation,
        # which would run the unique checks without the phone's hash.
        pass


@admin.register(Patient)
class PatientAdmin(ClinicScopedAdmin):
    form = PatientAdminForm
    list_display = [
        "name",
        "phone_masked",
        "stage",
        "source",
        "doctor_name",
        "ward",
        "last_visit_date",
        "created_at",
    ]
    list_filter = ["stage", "source", "ward", "consent_to_contact"]
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

    @admin.display(description=_("doctor"), ordering="assigned_doctor")
    def doctor_name(self, obj):
        return user_name(obj.assigned_doctor) or "—"

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("assigned_doctor__memberships")

    def has_delete_permission(self, request, obj=None):
        # A patient's timeline is append-only (the database refuses the cascade): a patient's
        # identity is erased from the patient page instead (README: Security).
        return False

    def _membership(self, request):
        return request.user.memberships.select_related("clinic").first()

    def get_readonly_fields(self, request, obj=None):
        """On change, the fields this person may not change (patients.editing, the rule the
        patient page and the API follow); a superuser outside any clinic changes all."""
        readonly = list(super().get_readonly_fields(request, obj))
        if obj is None:
            return readonly
        readonly.append("clinic")  # a patient stays in its clinic
        membership = self._membership(request)
        if membership is None and request.user.is_superuser:
            return readonly
        editable = patient_editable_fields(membership)
        return readonly + [f for f in EDITABLE_FIELDS if f not in editable]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        admin_self = self

        class CheckedForm(form_class):
            # The service's checks run here, in a savepoint, so a refusal is a form error
            # next to its field (save_model cannot add errors any more).
            def clean(self):
                data = super().clean()
                if not self.errors:
                    try:
                        self.saved_patient = admin_self._apply(request, self.instance, data, change)
                    except ValidationError as error:
                        form_add_service_errors(self, error)
                return data

        return form_class if request.method != "POST" else CheckedForm

    def _apply(self, request, obj, data, change):
        clinic = self._clinic(request) or data.get("clinic") or getattr(obj, "clinic", None)
        profile = {f: data[f] for f in services.PROFILE_FIELDS if f in data}
        for key in ("gender", "source_detail", "notes", "bed_number", "external_userid"):
            if key in profile and profile[key] is None:
                profile[key] = ""
        phone = data.get("phone") or None
        if change:
            original = Patient.objects.get(pk=obj.pk)
            membership = self._membership(request)
            return services.patient_update(
                patient=original,
                actor=request.user,
                phone=phone,
                membership=membership,
                superuser=request.user.is_superuser,
                **profile,
            )
        if clinic is None:
            raise ValidationError({"clinic": [_("Choose the clinic.")]})
        return services.patient_create(
            clinic=clinic, actor=request.user, phone=phone or "", **profile
        )

    def save_model(self, request, obj, form, change):
        # Saved by the form's clean (services); the admin's log entry needs the record.
        obj.pk, obj.name, obj.clinic_id = (
            form.saved_patient.pk,
            form.saved_patient.name,
            form.saved_patient.clinic_id,
        )


@admin.register(Ward)
class WardAdmin(ClinicScopedAdmin):
    list_display = ["name", "created_at"]
    search_fields = ["name"]
    filter_horizontal = ["nurses"]
    exclude = ["created_at"]

    def get_form(self, request, obj=None, **kwargs):
        form = super().get_form(request, obj, **kwargs)
        clinic = self._clinic(request)

        class WardForm(form):
            # The clinic is not on a clinic admin's form, so Django skips the unique name
            # constraint: check here what ward_save would refuse, as form errors.
            def clean(self):
                data = super().clean()
                clinic_id = clinic.pk if clinic else getattr(data.get("clinic"), "pk", None)
                name = (data.get("name") or "").strip()
                others = Ward.objects.filter(clinic_id=clinic_id, name=name)
                if clinic_id and others.exclude(pk=self.instance.pk).exists():
                    self.add_error("name", _("This clinic already has a ward of this name."))
                if clinic_id and any(m.clinic_id != clinic_id for m in data.get("nurses") or []):
                    self.add_error("nurses", _("Only nurses of this clinic can staff a ward."))
                return data

        return WardForm

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        if db_field.name == "nurses":
            nurses = Membership.objects.filter(role=Role.NURSE).select_related("user")
            clinic = self._clinic(request)
            kwargs["queryset"] = nurses.filter(clinic=clinic) if clinic else nurses
        return super().formfield_for_manytomany(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        clinic = self._clinic(request)
        if clinic:
            obj.clinic = clinic
        ward_save(ward=obj)

    def save_related(self, request, form, formsets, change):
        # The nurses go through the service too, which checks they work for the ward's clinic.
        ward_save(ward=form.instance, nurses=form.cleaned_data["nurses"])
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)


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
