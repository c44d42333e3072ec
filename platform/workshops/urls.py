from django.urls import path

from workshops import signup, views

urlpatterns = [
    path("", views.home, name="home"),
    # Under accounts/ where people look for it; the join code makes it ours.
    path("accounts/signup/", signup.signup, name="signup"),
    path("accounts/signup/settings/", signup.signup_settings, name="signup-settings"),
    path("join/", views.join, name="workshop-join"),
    path("join/<str:code>/", views.join_link, name="workshop-join-link"),
    path("workshops/new/", views.workshop_create, name="workshop-create"),
    path("workshops/import/", views.workshop_import, name="workshop-import"),
    path("w/<slug:slug>/pack.<str:fmt>", views.pack_export, name="pack-export"),
    path(
        "w/<slug:slug>/a/<slug:assignment>/pack.<str:fmt>",
        views.pack_export,
        name="assignment-pack-export",
    ),
    path("w/<slug:slug>/notes/<slug:note>/", views.workshop_note, name="workshop-note"),
    path("w/<slug:slug>/manage/", views.workshop_manage, name="workshop-manage"),
    path(
        "w/<slug:workshop>/a/<slug:slug>/download/<str:what>/",
        views.assignment_download,
        name="assignment-download",
    ),
    path("w/<slug:slug>/author/", views.assignment_create, name="assignment-create"),
    path(
        "w/<slug:workshop>/a/<slug:slug>/edit/",
        views.assignment_edit,
        name="assignment-edit",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/changes/",
        views.assignment_changes,
        name="assignment-changes",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/settings/",
        views.assignment_settings,
        name="assignment-settings",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/data/",
        views.assignment_data,
        name="assignment-data",
    ),
]
