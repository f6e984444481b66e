"""The one place in `crm` that names the apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from crm import views
from followups import views as followup_views
from followups.api import CarePlanTemplateViewSet, CarePlanViewSet, FollowUpTaskViewSet
from patients.api import PatientViewSet, TagGroupViewSet

router = DefaultRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("tag-groups", TagGroupViewSet, basename="taggroup")
router.register("followup-tasks", FollowUpTaskViewSet, basename="followuptask")
router.register("care-plan-templates", CarePlanTemplateViewSet, basename="careplantemplate")
router.register("care-plans", CarePlanViewSet, basename="careplan")

api_urls = [
    path("", include(router.urls)),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:schema"), name="docs"),
]

urlpatterns = [
    path("", views.home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("workbench/", views.role_page("workbench"), name="workbench"),
    path("dashboard/", views.role_page("doctor_dashboard"), name="doctor_dashboard"),
    path("nurse/", followup_views.checklist, name="nurse_home"),
    path("followups/", include("followups.urls")),
    path("operations/", views.role_page("operations_home"), name="operations_home"),
    path("api/", include((api_urls, "api"))),
    path("admin/", admin.site.urls),
]
