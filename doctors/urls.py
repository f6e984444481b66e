from django.urls import path

from doctors import views

app_name = "doctors"

urlpatterns = [
    path("doctors/", views.doctors, name="doctors"),
    path("doctors/<int:pk>/", views.profile, name="profile"),
    path("doctors/<int:pk>/funnel/", views.funnel, name="funnel"),
    path("doctors/calendar/", views.calendar, name="calendar"),
    path("doctors/calendar/<int:pk>/", views.post_edit, name="post_edit"),
    path("doctors/calendar/<int:pk>/delete/", views.post_delete, name="post_delete"),
    path("doctors/calendar/<int:pk>/simulate/", views.post_simulate, name="post_simulate"),
    path("doctors/onboarding/", views.onboarding, name="onboarding"),
    path("doctors/onboarding/<int:pk>/licence/", views.licence, name="licence"),
]
