from django.urls import path

from dashboard import views

urlpatterns = [
    path("w/<slug:slug>/", views.workshop_detail, name="workshop-detail"),
    path("w/<slug:slug>/dashboard/", views.dashboard, name="dashboard"),
    path("w/<slug:slug>/grades.csv", views.export_grades, name="export-grades"),
    path(
        "w/<slug:slug>/submissions.csv",
        views.export_submissions,
        name="export-submissions",
    ),
    path("w/<slug:slug>/hosts/", views.hosts, name="hosts"),
    path(
        "w/<slug:workshop>/a/<slug:slug>/leaderboard/",
        views.leaderboard,
        name="leaderboard",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/final/",
        views.final_mark,
        name="final-mark",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/leaderboard.csv",
        views.export_leaderboard,
        name="export-leaderboard",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/stats/",
        views.assignment_stats,
        name="assignment-stats",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/validate/",
        views.assignment_validate,
        name="assignment-validate",
    ),
    path(
        "w/<slug:workshop>/a/<slug:slug>/regrade/",
        views.regrade_create,
        name="regrade-create",
    ),
    path("regrades/<int:pk>/", views.regrade_detail, name="regrade-detail"),
    path(
        "regrades/<int:pk>/progress/", views.regrade_progress, name="regrade-progress"
    ),
    path("regrades/<int:pk>/cancel/", views.regrade_cancel, name="regrade-cancel"),
]
