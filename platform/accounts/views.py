"""Sign up; log in, log out and passwords use Django's own views."""

from django.contrib.auth import login
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.forms import SignupForm
from workshops.services import workshop_join


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if request.method == "POST":
        form = SignupForm(request.POST)
        if form.is_valid():
            with transaction.atomic():
                user = form.save()
                code = form.cleaned_data["join_code"]
                workshop = workshop_join(user=user, join_code=code) if code else None
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            if workshop is not None:
                return redirect(workshop)
            if next_url and url_has_allowed_host_and_scheme(
                next_url, allowed_hosts={request.get_host()}
            ):
                return redirect(next_url)
            return redirect("home")
    else:
        form = SignupForm(initial={"join_code": request.GET.get("code", "")})
    return render(request, "accounts/signup.html", {"form": form, "next": next_url})
