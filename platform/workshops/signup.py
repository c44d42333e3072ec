"""Sign up, with the workshop join code that enrolls the new account at once;
and the instructor's page that says who may sign up."""

from django import forms
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from accounts.models import SignupPolicy
from accounts.selectors import signup_mode
from accounts.services import signup_mode_set
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
    mode = signup_mode()
    if mode == SignupPolicy.Mode.CLOSED:
        return render(request, "accounts/signup_closed.html", status=403)
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    code_required = mode == SignupPolicy.Mode.CODE
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


class SignupModeForm(forms.Form):
    mode = forms.ChoiceField(
        label="Who may sign up",
        choices=SignupPolicy.Mode.choices,
        widget=forms.RadioSelect,
        error_messages={
            "required": "Who may sign up: pick open, join code or closed.",
            "invalid_choice": "Who may sign up: pick open, join code or closed.",
        },
    )


@login_required
def signup_settings(request: HttpRequest) -> HttpResponse:
    """The site's instructors (staff) open sign-up, keep it to join codes, or
    close it once the room has its accounts."""
    if not request.user.is_staff:
        raise Http404("No such page.")
    if request.method == "POST":
        form = SignupModeForm(request.POST)
        if form.is_valid():
            mode = SignupPolicy.Mode(form.cleaned_data["mode"])
            signup_mode_set(mode=mode, by=request.user)
            messages.success(request, f"Sign-up is now: {mode.label}.")
            return redirect("signup-settings")
        status = 400
    else:
        form = SignupModeForm(initial={"mode": signup_mode()})
        status = 200
    return render(
        request, "accounts/signup_settings.html", {"form": form}, status=status
    )
