"""The site's URLs plus one view that forgot its permission check (walk test)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as site_urlpatterns
from submissions.models import Submission


@login_required
def leaky_code(request: HttpRequest, pk: int) -> HttpResponse:
    """Show any submission's code to any logged-in user: the bug the walk catches."""
    submission = Submission.objects.get(pk=pk)
    return HttpResponse(submission.file.read(), content_type="text/plain")


urlpatterns = [
    *site_urlpatterns,
    path("leaky/<int:pk>/", leaky_code, name="leaky-code"),
]
