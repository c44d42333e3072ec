from django.urls import path

from runners import pages, views

urlpatterns = [
    path("runner/v1/register", views.register, name="runner-register"),
    path("runner/v1/jobs/request", views.claim, name="runner-claim"),
    path("runner/v1/heartbeat", views.heartbeat, name="runner-heartbeat"),
    path("runner/v1/jobs/<int:job_id>/uploads", views.upload, name="runner-upload"),
    path("runner/v1/jobs/<int:job_id>/result", views.result, name="runner-result"),
    path("runner/v1/files/<str:token>", views.file, name="runner-file"),
    path("w/<slug:slug>/hosts/join/", pages.join_token_new, name="runner-join-new"),
    path(
        "w/<slug:slug>/hosts/<int:pk>/revoke/", pages.host_revoke, name="runner-revoke"
    ),
]
