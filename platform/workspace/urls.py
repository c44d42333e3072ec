from django.urls import path

from workspace import assignment_page, instructor, views

A = "w/<slug:workshop>/a/<slug:slug>/"

urlpatterns = [
    path(A, assignment_page.assignment_detail, name="assignment-detail"),
    path(f"{A}draft/", views.draft, name="draft"),
    path(f"{A}draft/versions/", views.draft_versions, name="draft-versions"),
    path(f"{A}draft/versions/<int:number>/", views.draft_version, name="draft-version"),
    path(
        f"{A}draft/versions/<int:number>/restore/",
        views.draft_restore,
        name="draft-restore",
    ),
    path(f"{A}draft/reset/", views.draft_reset, name="draft-reset"),
    path(f"{A}draft/import/", views.draft_import, name="draft-import"),
    path(
        f"{A}draft/export.<str:fmt>",
        views.draft_export,
        name="draft-export",
    ),
    path(f"{A}draft/submit/", views.draft_submit, name="draft-submit"),
    path(f"{A}help/", views.help_request, name="help-request"),
    path(f"{A}help/withdraw/", views.help_withdraw, name="help-withdraw"),
    path(
        f"{A}workspace/<int:user_id>/",
        instructor.workspace_view,
        name="workspace-instructor",
    ),
    path(
        f"{A}workspace/<int:user_id>/versions/<int:number>/",
        instructor.workspace_version,
        name="workspace-instructor-version",
    ),
    path("w/<slug:slug>/help/", instructor.help_queue, name="help-queue"),
    path("w/<slug:slug>/help/<int:pk>/take/", instructor.help_take, name="help-take"),
    path("w/<slug:slug>/help/<int:pk>/done/", instructor.help_done, name="help-done"),
    path(
        "w/<slug:slug>/help/<int:pk>/reply/", instructor.help_reply, name="help-reply"
    ),
]
