from django.urls import path

from submissions import views

urlpatterns = [
    path("s/<int:pk>/", views.submission_detail, name="submission-detail"),
    path("s/<int:pk>/live/", views.submission_live, name="submission-live"),
    path("s/<int:pk>/cancel/", views.submission_cancel, name="submission-cancel"),
    path("s/<int:pk>/predict/", views.submission_predict, name="submission-predict"),
    path("s/<int:pk>/code/", views.submission_code, name="submission-code"),
    path(
        "s/<int:pk>/code/download/",
        views.submission_code_download,
        name="submission-code-download",
    ),
]
