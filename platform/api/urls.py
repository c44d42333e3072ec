"""API routes, under /api/."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from api import checks as checks_api
from api import views

app_name = "api"

urlpatterns = [
    path("token/", views.TokenView.as_view(), name="token"),
    path("workshops/", views.WorkshopListView.as_view(), name="workshop-list"),
    path(
        "workshops/<slug:workshop>/",
        views.WorkshopDetailView.as_view(),
        name="workshop-detail",
    ),
    path(
        "workshops/<slug:workshop>/assignments/<slug:slug>/",
        views.AssignmentDetailView.as_view(),
        name="assignment-detail",
    ),
    path(
        "workshops/<slug:workshop>/assignments/<slug:slug>/leaderboard/",
        views.LeaderboardView.as_view(),
        name="leaderboard",
    ),
    path(
        "submissions/",
        views.SubmissionListCreateView.as_view(),
        name="submission-list",
    ),
    path(
        "submissions/<int:pk>/",
        views.SubmissionDetailView.as_view(),
        name="submission-detail",
    ),
    path(
        "submissions/<int:pk>/log/",
        views.SubmissionLogView.as_view(),
        name="submission-log",
    ),
    path(
        "submissions/<int:pk>/grade/",
        views.SubmissionGradeView.as_view(),
        name="submission-grade",
    ),
    path(
        "submissions/<int:pk>/cancel/",
        views.SubmissionCancelView.as_view(),
        name="submission-cancel",
    ),
    path(
        "submissions/<int:pk>/final/",
        views.SubmissionFinalView.as_view(),
        name="submission-final",
    ),
    path(
        "checks/assignment/<int:assignment_id>/",
        checks_api.CheckStartView.as_view(),
        name="check-start",
    ),
    path(
        "checks/<int:check_id>/",
        checks_api.CheckDetailView.as_view(),
        name="check-detail",
    ),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    path("docs/", views.api_docs, name="docs"),
]
