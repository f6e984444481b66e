from django.urls import path

from content import public_views, views

app_name = "content"

urlpatterns = [
    # Patient-facing, no login: the signed or random token is the key.
    path("r/a/<str:token>/", public_views.article_public, name="article_public"),
    path("r/l/<str:token>/", public_views.article_tracked, name="article_tracked"),
    path("r/s/<str:token>/", public_views.survey_public, name="survey_public"),
    # Staff pages.
    path("content/", views.articles, name="articles"),
    path("content/articles/<int:pk>/", views.article, name="article"),
    path("content/templates/", views.templates, name="templates"),
    path("content/campaigns/", views.campaigns, name="campaigns"),
    path("content/campaigns/<int:pk>/", views.campaign, name="campaign"),
    path("content/surveys/", views.surveys, name="surveys"),
    path("content/surveys/new/", views.survey_new, name="survey_new"),
    path("content/surveys/<int:pk>/", views.survey, name="survey"),
    path("content/surveys/<int:pk>/edit/", views.survey_edit, name="survey_edit"),
    path("content/red-lines/", views.redlines, name="redlines"),
    path("content/red-lines/<int:pk>/toggle/", views.redline_toggle, name="redline_toggle"),
    path("content/settings/", views.content_settings, name="settings"),
]
