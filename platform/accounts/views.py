"""A rate-limited log in and API tokens; the rest uses Django's views (sign up is
the workshops' own: it takes a join code)."""

import functools
from collections.abc import Callable

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from accounts.selectors import api_token_list_for_user
from accounts.services import api_token_revoke
from accounts.throttles import login_attempt_start, refusal_message


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
