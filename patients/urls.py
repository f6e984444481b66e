from django.urls import path

from patients import views

app_name = "patients"

urlpatterns = [
    path("<int:pk>/", views.patient_detail, name="detail"),
    path("new/", views.patient_new, name="new"),
    path("<int:pk>/edit/", views.patient_edit, name="edit"),
    path("<int:pk>/merge/", views.patient_merge_page, name="merge"),
    path("<int:pk>/data-export/", views.patient_data_export, name="data_export"),
    path("<int:pk>/erase/", views.patient_erase, name="erase"),
    path("import/", views.import_upload, name="import"),
    path("import/<int:pk>/", views.import_review, name="import_review"),
    path("import/<int:pk>/report.csv", views.import_report, name="import_report"),
]
