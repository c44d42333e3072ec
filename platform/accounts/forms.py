"""Forms for signing up."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User

from workshops.selectors import workshop_by_join_code


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
