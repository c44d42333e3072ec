"""Sign up, a rate-limited log in and API tokens; the rest uses Django's views."""

import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.forms import SignupForm
from accounts.selectors import api_token_list_for_user
from accounts.services import api_token_revoke
from accounts.throttles import login_attempt_start, refusal_message, signup_refusal
from workshops.services import workshop_join


def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    if settings.DOJO_SIGNUP == "closed":
        return render(request, "accounts/signup_closed.html", status=403)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    code_required = settings.DOJO_SIGNUP == "code"
    if request.method == "POST":
        form = SignupForm(request.POST, join_code_required=code_required)
        if form.is_valid():
            if (wait := signup_refusal(request)) is not None:
                form.add_error(
                    None,
                    f"Too many accounts were made from your address. Wait {wait} "
                    "seconds, or ask your instructor to make yours.",
                )
                response = render(
                    request,
                    "accounts/signup.html",
                    {"form": form, "next": next_url},
                    status=429,
                )
                response["Retry-After"] = str(wait)
                return response
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
        form = SignupForm(
            initial={"join_code": request.GET.get("code", "")},
            join_code_required=code_required,
        )
    return render(request, "accounts/signup.html", {"form": form, "next": next_url})


@login_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """List the user's API tokens; a POST revokes the one it names."""
    if request.method == "POST":
        if api_token_revoke(user=request.user, prefix=request.POST.get("prefix", "")):
            messages.success(
                request, "Token revoked: programs using it must log in again."
            )
        else:
            messages.info(request, "That token was already gone.")
        return redirect("api-tokens")
    return render(
        request,
        "accounts/api_tokens.html",
        {
            "tokens": api_token_list_for_user(user=request.user),
            "days": settings.DOJO_API_TOKEN_DAYS,
        },
    )


class RateLimitedLoginView(LoginView):
    """Django's login, refusing attempts past the login throttle."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True

    def post(self, request: HttpRequest, *args, **kwargs) -> HttpResponse:
        self.attempt = login_attempt_start(
            request, username=request.POST.get("username", "")
        )
        if self.attempt.wait is None:
            return super().post(request, *args, **kwargs)
        form = self.get_form()
        form.add_error(None, refusal_message(self.attempt.wait))
        response = self.render_to_response(self.get_context_data(form=form), status=429)
        response["Retry-After"] = str(self.attempt.wait)
        return response

    def form_valid(self, form) -> HttpResponse:
        self.attempt.succeeded()
        return super().form_valid(form)


def throttled(login_view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a login view (the admin's) in the same throttle as the others.

    Django's LoginView answers a valid login with a redirect and re-renders
    the form otherwise, so a redirect is what tells a right password here.
    """

    @functools.wraps(login_view)
    def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method != "POST":
            return login_view(request, *args, **kwargs)
        attempt = login_attempt_start(
            request, username=request.POST.get("username", "")
        )
        if attempt.wait is not None:
            return HttpResponse(
                refusal_message(attempt.wait),
                status=429,
                content_type="text/plain; charset=utf-8",
                headers={"Retry-After": str(attempt.wait)},
            )
        response = login_view(request, *args, **kwargs)
        if response.status_code == 302:
            attempt.succeeded()
        return response

    return view
