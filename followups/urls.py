from django.urls import path

from followups import views

app_name = "followups"

urlpatterns = [
    path("queue/", views.queue, name="queue"),
    path("tasks/<int:pk>/complete/", views.task_complete, name="task_complete"),
    path("tasks/<int:pk>/tick/", views.task_tick, name="task_tick"),
    path("tasks/<int:pk>/untick/", views.task_untick, name="task_untick"),
    path("templates/", views.template_list, name="templates"),
    path("settings/", views.followup_settings_edit, name="settings"),
    path("templates/new/", views.template_edit, name="template_create"),
    path("templates/<int:pk>/", views.template_edit, name="template_edit"),
]
