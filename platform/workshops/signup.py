"""Sign up, with the workshop join code that enrolls the new account at once."""

from django import forms
from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.throttles import signup_refusal
from workshops.selectors import workshop_by_join_code
from workshops.services import workshop_join


class SignupForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; for password resets.")
    join_code = forms.CharField(
        required=False,
        max_length=16,
        label="Workshop join code",
        help_text="The 8-character code your instructor shows; you can add it later.",
    )

    class Meta(UserCreationForm.Meta):
        model = User
        fields = ("username", "email")

    def __init__(self, *args, join_code_required: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if join_code_required:
            field = self.fields["join_code"]
            field.required = True
            field.help_text = "The 8-character code your instructor shows."
            field.error_messages["required"] = (
                "Signing up needs your workshop's join code: ask your instructor."
            )

    def clean_join_code(self) -> str:
        code = self.cleaned_data.get("join_code", "").strip().upper()
        if code:
            workshop = workshop_by_join_code(code=code)
            if workshop is None:
                raise forms.ValidationError(
                    "No workshop has that join code. Check it with your instructor."
                )
            if workshop.archived:
                raise forms.ValidationError("That workshop is archived.")
        return code


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
