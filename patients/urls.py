from django.urls import path

from patients import views, views_caregivers, views_edit
from patients.fields import views as field_views
from patients.imports import views as import_views

app_name = "patients"

urlpatterns = [
    path("new/", views_edit.patient_new, name="new"),
    path("<int:pk>/edit/", views_edit.patient_edit, name="edit"),
    path("<int:pk>/merge/", views_edit.patient_merge_page, name="merge"),
    path("<int:pk>/data-export/", views.patient_data_export, name="data_export"),
    path("<int:pk>/erase/", views.patient_erase, name="erase"),
    path("fields/", field_views.field_list, name="fields"),
    path("fields/<int:pk>/", field_views.field_edit, name="field_edit"),
    path("fields/<int:pk>/delete/", field_views.field_delete, name="field_delete"),
    path("fields/<int:pk>/move/", field_views.field_move, name="field_move"),
    path("<int:pk>/caregivers/", views_caregivers.caregiver_save_page, name="caregiver_add"),
    path(
        "<int:pk>/caregivers/<int:caregiver_pk>/",
        views_caregivers.caregiver_save_page,
        name="caregiver_edit",
    ),
    path(
        "<int:pk>/caregivers/<int:caregiver_pk>/remove/",
        views_caregivers.caregiver_remove_page,
        name="caregiver_remove",
    ),
    path("import/", import_views.import_upload, name="import"),
    path("import/<int:pk>/", import_views.import_review, name="import_review"),
    path("import/<int:pk>/report.csv", import_views.import_report, name="import_report"),
]
