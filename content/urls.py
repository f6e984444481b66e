from django.urls import path

from content import public_views

app_name = "content"

urlpatterns = [
    # Patient-facing, no login: the signed or random token is the key.
    path("r/a/<str:token>/", public_views.article_public, name="article_public"),
    path("r/s/<str:token>/", public_views.survey_public, name="survey_public"),
]
