"""Forms for joining and managing workshops."""

from django import forms

from workshops.models import FINAL_LIMIT_MAX, Assignment, Workshop
from workshops.services import pack_choices

DATETIME = forms.DateTimeInput(
    attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"
)


class JoinForm(forms.Form):
    join_code = forms.CharField(
        max_length=16,
        label="Join code",
        help_text="8 letters and digits, shown by your instructor.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters"}
        ),
    )


class WorkshopCreateForm(forms.Form):
    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80, label="Address", help_text="Used in links: /w/<address>/."
    )
    pack = forms.ChoiceField(choices=(), initial="dl101")
    starts_at = forms.DateTimeField(required=False, widget=DATETIME, label="Starts")
    ends_at = forms.DateTimeField(required=False, widget=DATETIME, label="Ends")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["pack"].choices = pack_choices()


class PackImportForm(forms.Form):
    pack = forms.FileField(
        label="Pack archive (.zip or .tar.gz)",
        help_text="A pack exported from Dojo, or a folder like assignments/dl101 "
        "archived: manifest.json, notes/, and per assignment instructions.md, "
        "starter.ipynb, solution.py and spec.json. Nothing in it is run.",
        widget=forms.ClearableFileInput(attrs={"accept": ".zip,.tar.gz,.tgz"}),
    )
    slug = forms.SlugField(
        max_length=50, label="Address", help_text="Used in links: /w/<address>/."
    )
    title = forms.CharField(
        max_length=200, required=False, help_text="Left empty: the pack's title."
    )


class WorkshopForm(forms.ModelForm):
    agenda_text = forms.CharField(
        required=False,
        label="Agenda",
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text="One block a line: 09:00-09:45 | theory | Title "
        "(kind is theory or hands-on).",
    )

    class Meta:
        model = Workshop
        fields = ["title", "description", "starts_at", "ends_at"]
        widgets = {
            "starts_at": DATETIME,
            "ends_at": DATETIME,
            "description": forms.Textarea(attrs={"rows": 3}),
        }

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not self.is_bound and self.instance.pk:
            self.fields["agenda_text"].initial = "\n".join(
                f"{i.get('start', '')}-{i.get('end', '')} | {i.get('kind', '')} | "
                f"{i.get('title', '')}"
                for i in self.instance.agenda or []
                if isinstance(i, dict)
            )

    def clean_agenda_text(self) -> list[dict]:
        import re

        items, errors = [], []
        pattern = re.compile(
            r"^\s*(\d{2}:\d{2})\s*-\s*(\d{2}:\d{2})\s*\|\s*(theory|hands-on)\s*\|\s*(.+)$"
        )
        for number, line in enumerate(self.cleaned_data["agenda_text"].splitlines(), 1):
            if not line.strip():
                continue
            match = pattern.match(line)
            if not match or match.group(1) >= match.group(2):
                errors.append(
                    f"Line {number} should read like “09:00-09:45 | theory | Title”, "
                    "with the start before the end."
                )
                continue
            start, end, kind, title = match.groups()
            items.append(
                {"start": start, "end": end, "kind": kind, "title": title.strip()}
            )
        if errors:
            raise forms.ValidationError(errors)
        return items


class AssignmentSettingsForm(forms.ModelForm):
    # Left empty, the limit stays as it is.
    final_limit = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=FINAL_LIMIT_MAX,
        label="Final submissions each participant may mark",
        help_text=f"1 to {FINAL_LIMIT_MAX}: the best of the marked ones on the "
        "private part counts at the close; with none marked, the best on the "
        "public part.",
    )

    class Meta:
        model = Assignment
        fields = [
            "deadline",
            "daily_limit",
            "score_policy",
            "released",
            "closed",
            "reveal_private",
            "final_limit",
        ]
        widgets = {"deadline": DATETIME}
        labels = {
            "released": "Released (participants can see it)",
            "closed": "Closed (no more submissions; reveals the private ranking)",
            "reveal_private": "Reveal the private ranking now, before closing",
            "daily_limit": "Submissions per participant per day",
        }


class RosterForm(forms.Form):
    roster = forms.FileField(
        required=False,
        label="Roster CSV",
        help_text="One participant a line: username,email (a header line is fine).",
    )
    roster_text = forms.CharField(
        required=False,
        label="…or paste it",
        widget=forms.Textarea(attrs={"rows": 4, "placeholder": "username,email"}),
    )

    def csv_text(self) -> str:
        upload = self.cleaned_data.get("roster")
        if upload:
            if upload.size > 1024 * 1024:
                raise forms.ValidationError("The roster is larger than 1 MB.")
            try:
                return upload.read().decode("utf-8-sig")
            except UnicodeDecodeError:
                raise forms.ValidationError(
                    "The roster is not UTF-8 text; save it as CSV UTF-8."
                ) from None
        return self.cleaned_data.get("roster_text", "")


class InstructorForm(forms.Form):
    username = forms.CharField(max_length=150, label="Username of the co-instructor")


class DatasetUploadForm(forms.Form):
    dataset = forms.FileField(
        label="Dataset (.npz)",
        help_text="Arrays x (N x H x W or N x H x W x C; 0..255 integers or floats "
        "in [0, 1]) and y (integer labels 0..K-1), saved with "
        "np.savez_compressed(path, x=images, y=labels).",
        widget=forms.ClearableFileInput(attrs={"accept": ".npz"}),
    )


class BaseUploadForm(forms.Form):
    base = forms.FileField(
        label="Pretrained base (.keras)",
        help_text="A model built from standard keras.layers (no Lambda, no custom "
        "classes), saved with model.save('base.keras').",
        widget=forms.ClearableFileInput(attrs={"accept": ".keras"}),
    )
