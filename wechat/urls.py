from django.urls import path

from wechat import views, views_signin

app_name = "wechat"

urlpatterns = [
    path("callback/<slug:slug>/", views.callback, name="callback"),
    path("channel-codes/", views.channel_codes, name="channel_codes"),
    path("channel-codes/new/", views.channel_code_new, name="channel_code_new"),
    path("channel-codes/arrivals/", views.recent_arrivals, name="recent_arrivals"),
    path("channel-codes/<int:pk>/edit/", views.channel_code_edit, name="channel_code_edit"),
    path(
        "channel-codes/<int:pk>/retire/",
        views.channel_code_retire_view,
        name="channel_code_retire",
    ),
    path(
        "channel-codes/<int:pk>/simulate/",
        views.channel_code_simulate,
        name="channel_code_simulate",
    ),
    path("channel-codes/<int:pk>/link/", views.channel_code_link, name="channel_code_link"),
    path("simulate-confirm/", views.simulate_confirm, name="simulate_confirm"),
    path("settings/", views.wecom_settings, name="settings"),
    path("oauth/<slug:slug>/", views_signin.oauth_return, name="oauth_return"),
    path("sidebar/contact/", views_signin.sidebar_contact, name="sidebar_contact"),
    path("sidebar/<slug:slug>/", views_signin.sidebar, name="sidebar"),
    path("qr-login/", views_signin.qr_login, name="qr_login"),
    path("jssdk-config/", views_signin.jssdk_config, name="jssdk_config"),
    path("directory/", views.directory, name="directory"),
    path("directory/sync/", views.directory_sync_view, name="directory_sync"),
    path("groups/", views.groups, name="groups"),
    path("groups/sync/", views.groups_sync, name="groups_sync"),
    path("groups/<int:pk>/tag/", views.group_tag, name="group_tag"),
    path("groups/<int:pk>/message/", views.group_message, name="group_message"),
]
