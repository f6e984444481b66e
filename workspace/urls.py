"""The composed pages keep their addresses and names: `workbench` at /workbench/, and the patient
page as `patients:detail` at /patients/<pk>/ (crm/urls.py adds `patient_urlpatterns` to the
patients namespace)."""

from django.urls import path

from workspace import views

urlpatterns = [
    path("workbench/", views.workbench, name="workbench"),
]

patient_urlpatterns = [
    path("<int:pk>/", views.patient_detail, name="detail"),
]
