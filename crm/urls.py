"""The one place in `crm` that names the apps."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import DefaultRouter

from crm import views
from patients import views as patient_views
from patients.api import PatientViewSet, TagGroupViewSet
from patients.dashboard import DashboardView

router = DefaultRouter()
router.register("patients", PatientViewSet, basename="patient")
router.register("tag-groups", TagGroupViewSet, basename="taggroup")

api_urls = [
    path("", include(router.urls)),
    path("dashboard/", DashboardView.as_view(), name="dashboard"),
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
    path("workbench/", patient_views.workbench, name="workbench"),
    path("dashboard/", patient_views.dashboard, name="doctor_dashboard"),
    path("patients/", include("patients.urls")),
    path("nurse/", views.role_page("nurse_home"), name="nurse_home"),
    path("operations/", views.role_page("operations_home"), name="operations_home"),
    path("api/", include((api_urls, "api"))),
    path("admin/", admin.site.urls),
]
