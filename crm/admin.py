from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from crm.forms import StaffChoiceField
from crm.models import ASSISTANT_ROLES, DOCTOR_ROLES, AuditEvent, Membership
from crm.selectors import user_name, users_with_staff_name

STAFF_PICKER_ROLES = {"assigned_doctor": DOCTOR_ROLES, "assigned_assistant": ASSISTANT_ROLES}

admin.site.site_header = _("CareLoop administration")
admin.site.site_title = "CareLoop"
admin.site.index_title = _("Clinic settings")


def admin_clinic(request):
    """The clinic a clinic admin manages in Django admin; None for superusers (all clinics)."""
    if request.user.is_superuser:
        return None
    if not request.user.is_authenticated:  # the admin's login page asks before anyone signed in
        return False
    membership = request.user.memberships.select_related("clinic").first()
    return membership.clinic if membership and membership.can_manage_clinic else False


class ClinicScopedAdmin(admin.ModelAdmin):
    """Admin pages for tenant rows: a clinic admin sees and edits only their clinic's rows.

    Superusers see everything. Any other staff user sees nothing.
    """

    clinic_field = "clinic"

    def _clinic(self, request):
        return admin_clinic(request)

    def has_module_permission(self, request):
        return request.user.is_superuser or bool(self._clinic(request))

    def has_view_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_add_permission(self, request):
        return self.has_module_permission(request)

    def has_change_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def has_delete_permission(self, request, obj=None):
        return self.has_module_permission(request)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        clinic = self._clinic(request)
        if clinic is None:
            return queryset
        if not clinic:
            return queryset.none()
        return queryset.filter(**{self.clinic_field: clinic})

    def get_exclude(self, request, obj=None):
        excluded = list(super().get_exclude(request, obj) or [])
        if self._clinic(request) and self.clinic_field == "clinic":
            excluded.append("clinic")
        return excluded

    def save_model(self, request, obj, form, change):
        clinic = self._clinic(request)
        if clinic and self.clinic_field == "clinic":
            obj.clinic = clinic
        super().save_model(request, obj, form, change)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        clinic = self._clinic(request)
        model = db_field.related_model
        if model is get_user_model():
            # People by display name; a patient's doctor or assistant among those roles only.
            users = model._default_manager.filter(memberships__isnull=False)
            if clinic:
                users = users.filter(memberships__clinic=clinic)
            roles = STAFF_PICKER_ROLES.get(db_field.name)
            if roles:
                users = users.filter(memberships__role__in=roles, is_active=True)
            kwargs["queryset"] = users_with_staff_name(users).order_by("staff_name")
            kwargs["form_class"] = StaffChoiceField
        elif clinic and any(f.name == "clinic" for f in model._meta.fields):
            kwargs["queryset"] = model._default_manager.filter(clinic=clinic)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Membership)
class MembershipAdmin(ClinicScopedAdmin):
    list_display = ["display_name", "user", "role", "wecom_userid", "clinic"]
    list_filter = ["role"]
    search_fields = ["user__username", "display_name", "wecom_userid"]

    def save_model(self, request, obj, form, change):
        from crm.services import staff_changed

        super().save_model(request, obj, form, change)
        if not change or "role" in form.changed_data:
            staff_changed(membership=obj, change="role" if change else "created")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "user":
            # A new staff member has no membership yet: a clinic admin picks among this
            # clinic's users and users of no clinic, never another clinic's usernames.
            clinic = self._clinic(request)
            if clinic:
                kwargs["queryset"] = (
                    db_field.related_model._default_manager.filter(
                        Q(memberships__clinic=clinic) | Q(memberships__isnull=True),
                        is_superuser=False,
                    )
                    .distinct()
                    .order_by("username")
                )
            return admin.ModelAdmin.formfield_for_foreignkey(self, db_field, request, **kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(AuditEvent)
class AuditEventAdmin(ClinicScopedAdmin):
    list_display = ["created_at", "who", "action", "object_type", "object_id", "ip_address"]
    list_filter = ["action"]
    list_select_related = ["user"]

    @admin.display(description=_("by"))
    def who(self, obj):
        return user_name(obj.user) or "—"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
