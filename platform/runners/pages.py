"""The hosts page's runner actions: make a join token, revoke a host."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from runners import hosts
from runners.models import Host
from runners.refusals import RunnerRefused
from workshops import selectors as workshop_selectors


@login_required
@require_POST
def join_token_new(request: HttpRequest, slug: str) -> HttpResponse:
    """Make a one-time join token and show the command that uses it, once.

    Staff make hosts for every workshop; an instructor's host trains only
    their workshop's jobs.
    """
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    try:
        token, secret = hosts.join_token_create(
            created_by=request.user,
            workshop=None if request.user.is_staff else workshop,
            queues=request.POST.getlist("queues"),
        )
    except RunnerRefused as exc:
        messages.error(request, f"No join token was made: {exc}")
        return redirect("hosts", slug=slug)
    site = request.build_absolute_uri("/").rstrip("/")
    command = f"bin/dojo-runner --site {site} --join {secret}"
    if "train-gpu" in token.queues:
        # A host with no GPU never takes train-gpu (runners.hosts).
        command += " --gpu 0"
    return render(
        request,
        "runners/join.html",
        {
            "workshop": workshop,
            "instructor": True,
            "token": token,
            "command": command,
        },
    )


@login_required
@require_POST
def host_revoke(request: HttpRequest, slug: str, pk: int) -> HttpResponse:
    """Refuse a host's credential from now on and hand its jobs back."""
    workshop, _ = workshop_selectors.workshop_for_member(
        user=request.user, slug=slug, instructor=True
    )
    host = get_object_or_404(Host, pk=pk)
    if not request.user.is_staff and host.workshop_id != workshop.pk:
        raise PermissionDenied("Only staff may revoke a host the whole site shares.")
    handed = hosts.host_revoke(host=host)
    messages.success(
        request, f"{host.name} was revoked; {handed} job(s) went back to the queue."
    )
    return redirect("hosts", slug=slug)
