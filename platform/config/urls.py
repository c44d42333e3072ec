"""URL map: each app owns its own urls module."""

from django.contrib import admin
from django.urls import include, path

from accounts.views import throttled

# The admin's login guesses count against the same throttle as every login.
admin.site.login = throttled(admin.site.login)

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("accounts/", include("accounts.urls")),
    path("", include("submissions.urls")),
    path("", include("checks.urls")),
    path("", include("dashboard.urls")),
    path("", include("workshops.urls")),
    path("", include("workspace.urls")),
    path("", include("runners.urls")),
]
