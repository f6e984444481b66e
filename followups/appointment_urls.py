from django.urls import path

from followups import appointment_views as views

app_name = "appointments"

urlpatterns = [
    path("", views.appointment_list, name="list"),
    path(
        "<int:pk>/<str:change>/",
        views.appointment_change,
        name="change",
    ),
]
