"""The one place in `crm` that names the apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from content.api import (
    ArticleViewSet,
    ContentSettingsView,
    MessageTemplateViewSet,
    RedLinePhraseViewSet,
)
from content.api_messages import PatientMessageView
from content.api_outreach import CampaignViewSet, ReferralsView, SurveyViewSet
from content.api_referrals import PatientReferralCodeView
from crm import audit_views, views, views_signin, views_staff
from doctors import views as doctor_views
from doctors.api import DoctorProfileViewSet, FunnelView, PostViewSet, PublicAccountViewSet
from doctors.api_onboarding import OnboardingViewSet
from followups import views as followup_views
from followups.api import (
    CarePlanTemplateViewSet,
    CarePlanViewSet,
    FollowUpSettingsView,
    FollowUpTaskViewSet,
)
from followups.api_appointments import AppointmentFiguresView, AppointmentViewSet
from followups.api_fhir import FhirPatientEverythingView, FhirPatientSearchView
from followups.api_figures import FollowUpFiguresView
from followups.api_his import HisAppointmentsView
from followups.views_handover import staff_deactivate
from patients import urls as patients_urls
from patients import views as patient_views
from patients.api import PatientViewSet, TagGroupViewSet
from patients.api_his import HisVisitsView
from patients.api_privacy import PatientDataExportView, PatientEraseView
from patients.api_wards import WardViewSet
from patients.dashboard.api import DashboardView
from patients.fields.api import PatientFieldViewSet
from wechat.api_figures import ChannelFiguresView
from workspace import urls as workspace_urls

router = DefaultRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("tag-groups", TagGroupViewSet, basename="taggroup")
router.register("patient-fields", PatientFieldViewSet, basename="patientfield")
router.register("wards", WardViewSet, basename="ward")
router.register("articles", ArticleViewSet, basename="article")
router.register("message-templates", MessageTemplateViewSet, basename="messagetemplate")
router.register("red-lines", RedLinePhraseViewSet, basename="redline")
router.register("campaigns", CampaignViewSet, basename="campaign")
router.register("surveys", SurveyViewSet, basename="survey")
router.register("followup-tasks", FollowUpTaskViewSet, basename="followuptask")
router.register("appointments", AppointmentViewSet, basename="appointment")
router.register("care-plan-templates", CarePlanTemplateViewSet, basename="careplantemplate")
router.register("care-plans", CarePlanViewSet, basename="careplan")
router.register("doctors", DoctorProfileViewSet, basename="doctorprofile")
router.register("doctor-accounts", PublicAccountViewSet, basename="publicaccount")
router.register("doctor-posts", PostViewSet, basename="post")
router.register("doctor-onboardings", OnboardingViewSet, basename="onboarding")

api_urls = [
    path("", include(router.urls)),
    path("content-settings/", ContentSettingsView.as_view(), name="content-settings"),
    path("referrals/", ReferralsView.as_view(), name="referrals"),
    path(
        "patients/<int:pk>/referral-code/",
        PatientReferralCodeView.as_view(),
        name="patient-referral-code",
    ),
    path("patients/<int:pk>/message/", PatientMessageView.as_view(), name="patient-message"),
    path(
        "patients/<int:pk>/data-export/",
        PatientDataExportView.as_view(),
        name="patient-data-export",
    ),
    path("patients/<int:pk>/erase/", PatientEraseView.as_view(), name="patient-erase"),
    path("his/visits/", HisVisitsView.as_view(), name="his-visits"),
    path("his/appointments/", HisAppointmentsView.as_view(), name="his-appointments"),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
    path("followup-figures/", FollowUpFiguresView.as_view(), name="followup-figures"),
    path("channel-figures/", ChannelFiguresView.as_view(), name="channel-figures"),
    path("followup-settings/", FollowUpSettingsView.as_view(), name="followup-settings"),
    path("appointment-figures/", AppointmentFiguresView.as_view(), name="appointment-figures"),
    path("doctor-funnel/", FunnelView.as_view(), name="doctor-funnel"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # Swagger UI from drf-spectacular-sidecar, its start script a file (the CSP), staff only.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api:schema", template_name="crm/swagger_ui.html"
        ),
        name="docs",
    ),
]

urlpatterns = [
    path("", views.home, name="home"),
    path("fhir/Patient", FhirPatientSearchView.as_view(), name="fhir-patient-search"),
    path(
        "fhir/Patient/<int:pk>/$everything",
        FhirPatientEverythingView.as_view(),
        name="fhir-patient-everything",
    ),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/two-factor/", views_signin.two_factor_page, name="two_factor"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("workspace.urls")),  # /workbench/
    path("dashboard/", patient_views.dashboard, name="doctor_dashboard"),
    # The patient page is workspace's, under the patients namespace with the patients' pages.
    path(
        "patients/",
        include(
            (workspace_urls.patient_urlpatterns + patients_urls.urlpatterns, "patients"),
            namespace="patients",
        ),
    ),
    path("nurse/", followup_views.checklist, name="nurse_home"),
    path("followups/", include("followups.urls")),
    path("appointments/", include("followups.appointment_urls")),
    path("operations/", doctor_views.operations_home, name="operations_home"),
    path("settings/api-tokens/", views.api_tokens, name="api_tokens"),
    path("settings/staff/", views_staff.staff_list, name="staff_list"),
    path("settings/staff/<int:pk>/", views_staff.staff_detail, name="staff_detail"),
    path("settings/staff/<int:pk>/deactivate/", staff_deactivate, name="staff_deactivate"),
    path("settings/audit/", audit_views.audit_log, name="audit_log"),
    path("settings/security/", views_signin.security_settings, name="security_settings"),
    path("", include("content.urls")),
    path("", include("doctors.urls")),
    path("api/", include((api_urls, "api"))),
    path("wechat/", include("wechat.urls")),
    path("admin/", admin.site.urls),
]

handler404 = "crm.views.not_found"
handler500 = "crm.views.server_error"
