"""Forms for joining and managing workshops."""

import re

from django import forms

from assignments.sources import TEXT_SOURCES, WORDNET_NAMES
from assignments.text import VOCABULARY_SIZE
from workshops.authoring import SOURCES, Authored
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


# data-code-editor: static/src/author.js puts the participants' editor on it.
CODE_AREA = {
    "rows": 14,
    "class": "code",
    "spellcheck": "false",
    "data-code-editor": "python",
}
LAYER_NAME = re.compile(r"[A-Z][A-Za-z0-9]{0,63}")
# A required entry may name alternatives: Conv1D|LSTM counts either.
LAYER_CHOICE = re.compile(r"[A-Z][A-Za-z0-9]{0,63}(\|[A-Z][A-Za-z0-9]{0,63}){0,7}")
# The text source offers its largest WordNet categories, at most this many.
TEXT_CATEGORIES = len(WORDNET_NAMES)
FLOORS = ("majority", "chance")


class AssignmentAuthorForm(forms.Form):
    """Every part of an assignment an instructor writes in the page.

    Each field refuses bad input with a message next to it; the service then
    has the grader check the assembled spec.
    """

    title = forms.CharField(max_length=200)
    slug = forms.SlugField(
        max_length=80,
        required=False,
        label="Address",
        help_text="Used in links: /w/<workshop>/a/<address>/ (new assignments only).",
    )
    kind = forms.ChoiceField(choices=Assignment.Kind.choices)
    instructions_md = forms.CharField(
        required=False,
        label="Instructions (Markdown)",
        widget=forms.Textarea(attrs={"rows": 14, "class": "code"}),
    )
    starter = forms.CharField(
        label="Starter (Python, # %% cells)",
        widget=forms.Textarea(attrs=CODE_AREA),
        strip=False,
    )
    solution = forms.CharField(
        label="Reference solution (Python)",
        widget=forms.Textarea(attrs=CODE_AREA),
        strip=False,
    )
    dataset_source = forms.ChoiceField(
        label="Data",
        help_text="Images, or wordnet-nouns: definitions as word ids (tokens).",
    )
    classes = forms.CharField(
        required=False,
        help_text="Optional, images only: the class labels to keep, e.g. 5, 6, 7.",
    )
    input_shape = forms.CharField(
        help_text="Images: height, width, channels (28, 28, 1). "
        "Text: the sequence length in words (32)."
    )
    vocabulary_size = forms.IntegerField(
        required=False,
        min_value=100,
        max_value=100_000,
        label="Vocabulary size",
        help_text="Text only: the most frequent words kept (20000).",
    )
    num_classes = forms.IntegerField(
        min_value=2, max_value=1000, label="Number of classes"
    )
    required_layers = forms.CharField(
        required=False,
        help_text="Layer:count, comma separated: Dense:2, Dropout:1; "
        "alternatives with |: Conv1D|LSTM:1.",
    )
    forbidden_layers = forms.CharField(
        required=False, help_text="Layer names, comma separated: Conv2D, Conv1D."
    )
    max_params = forms.IntegerField(
        required=False, min_value=1, max_value=10**9, label="Parameter limit"
    )
    score_target = forms.FloatField(
        min_value=0.01,
        max_value=1.0,
        label="Accuracy for full score",
        help_text="Between 0 and 1, e.g. 0.87.",
    )
    score_floor = forms.CharField(
        label="Accuracy for zero score",
        initial="majority",
        help_text="majority, chance, or a number between 0 and 1.",
    )
    points = forms.IntegerField(min_value=1, max_value=1000, initial=100)
    cap_on_failed_check = forms.IntegerField(
        min_value=0, max_value=1000, initial=50, label="Score cap when a check fails"
    )
    wall_seconds = forms.IntegerField(
        min_value=10, max_value=6 * 3600, label="Wall time (seconds)"
    )
    cpu_seconds = forms.IntegerField(
        min_value=10, max_value=12 * 3600, label="CPU time (seconds)"
    )
    memory_mb = forms.IntegerField(
        min_value=512, max_value=64 * 1024, label="Memory (MB)"
    )
    daily_limit = forms.IntegerField(
        min_value=1, max_value=1000, label="Submissions per participant per day"
    )
    released = forms.BooleanField(required=False)
    deadline = forms.DateTimeField(required=False, widget=DATETIME)

    def __init__(self, *args, editing: bool = False, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["dataset_source"].choices = [(s, s) for s in SOURCES]
        self.editing = editing
        if editing:
            del self.fields["slug"]
        else:
            self.fields["slug"].required = True

    def _numbers(self, name: str, *, low: int, high: int) -> list[int]:
        text = self.cleaned_data.get(name, "") or ""
        parts = [p.strip() for p in text.split(",") if p.strip()]
        if not all(p.isdigit() and len(p) <= 6 for p in parts):
            raise forms.ValidationError("Write whole numbers separated by commas.")
        numbers = [int(p) for p in parts]
        if any(not low <= n <= high for n in numbers):
            raise forms.ValidationError(f"Each number must be from {low} to {high}.")
        return numbers

    def _code(self, name: str) -> str:
        # A browser sends a textarea's lines ended by CRLF (the HTML form
        # rules); the reference is stored and read back with LF. Unnormalised,
        # an edit that changed nothing digested differently from what Validate
        # graded, and the edit form refused to release a validated assignment.
        text = self.cleaned_data.get(name, "") or ""
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def clean_starter(self) -> str:
        return self._code("starter")

    def clean_solution(self) -> str:
        return self._code("solution")

    def clean_classes(self) -> list[int] | None:
        classes = self._numbers("classes", low=0, high=999)
        if classes and len(set(classes)) != len(classes):
            raise forms.ValidationError("A class is listed twice.")
        if len(classes) == 1:
            raise forms.ValidationError("Keep at least two classes, or leave empty.")
        return classes or None

    def clean_input_shape(self) -> list[int]:
        shape = self._numbers("input_shape", low=1, high=4096)
        if len(shape) not in (1, 2, 3):
            raise forms.ValidationError(
                "Give height, width and channels (or height and width) for "
                "images, or one number, the sequence length, for text."
            )
        return shape

    def clean_required_layers(self) -> dict[str, int]:
        text = self.cleaned_data.get("required_layers", "") or ""
        required: dict[str, int] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            name, _, count = part.partition(":")
            name, count = name.strip(), (count.strip() or "1")
            if not LAYER_CHOICE.fullmatch(name):
                raise forms.ValidationError(
                    f"“{part[:40]}”: name a Keras layer class, such as Dense "
                    "(or alternatives, such as Conv1D|LSTM)."
                )
            if not count.isdigit() or not 1 <= int(count) <= 100:
                raise forms.ValidationError(
                    f"“{part[:40]}”: the count must be a whole number from 1 to 100."
                )
            required[name] = int(count)
        return required

    def clean_forbidden_layers(self) -> list[str]:
        text = self.cleaned_data.get("forbidden_layers", "") or ""
        names = [p.strip() for p in text.split(",") if p.strip()]
        bad = next((n for n in names if not LAYER_NAME.fullmatch(n)), None)
        if bad is not None:
            raise forms.ValidationError(
                f"“{bad[:40]}”: name Keras layer classes, such as Conv2D."
            )
        return names

    def clean_score_floor(self) -> str | float:
        text = (self.cleaned_data.get("score_floor") or "").strip()
        if text in FLOORS:
            return text
        try:
            value = float(text)
        except ValueError:
            raise forms.ValidationError(
                "Write majority, chance, or a number between 0 and 1."
            ) from None
        if not 0 <= value < 1:
            raise forms.ValidationError("The floor must be from 0 to below 1.")
        return value

    def clean(self) -> dict:
        data = super().clean()
        required = data.get("required_layers") or {}
        forbidden = data.get("forbidden_layers") or []
        named = {n for name in required for n in name.split("|")}
        if both := sorted(named & set(forbidden)):
            self.add_error(
                "forbidden_layers", f"{', '.join(both)} is also a required layer."
            )
        points, cap = data.get("points"), data.get("cap_on_failed_check")
        if points is not None and cap is not None and cap > points:
            self.add_error(
                "cap_on_failed_check", f"The cap must not exceed the points ({points})."
            )
        floor, target = data.get("score_floor"), data.get("score_target")
        if isinstance(floor, float) and target is not None and floor >= target:
            self.add_error(
                "score_floor", "The zero-score accuracy must be below the full one."
            )
        classes, num = data.get("classes"), data.get("num_classes")
        if classes and num and len(classes) != num:
            self.add_error(
                "num_classes", f"{len(classes)} classes are kept; num_classes is {num}."
            )
        self._clean_data_shape(data)
        wall, cpu = data.get("wall_seconds"), data.get("cpu_seconds")
        if wall and cpu and cpu < wall:
            self.add_error(
                "cpu_seconds", "Allow at least as much CPU time as wall time."
            )
        return data

    def _clean_data_shape(self, data: dict) -> None:
        """Refuse fields that do not fit the kind of data the source gives."""
        source, shape = data.get("dataset_source"), data.get("input_shape")
        if source is None:
            return
        if source in TEXT_SOURCES:
            if shape is not None and len(shape) != 1:
                self.add_error(
                    "input_shape",
                    f"{source} gives word ids: give one number, the sequence "
                    "length, such as 32.",
                )
            elif shape is not None and shape[0] > 512:
                self.add_error(
                    "input_shape", "Keep the sequence length to 512 words at most."
                )
            if data.get("classes"):
                self.add_error(
                    "classes",
                    f"{source} keeps its largest categories: leave this empty and "
                    "set the number of classes.",
                )
            num = data.get("num_classes")
            if num is not None and num > TEXT_CATEGORIES:
                self.add_error(
                    "num_classes",
                    f"{source} offers its {TEXT_CATEGORIES} largest categories: "
                    f"choose from 2 to {TEXT_CATEGORIES}.",
                )
            return
        if shape is not None and len(shape) == 1:
            self.add_error(
                "input_shape",
                f"{source} gives images: give height, width and channels, "
                "such as 28, 28, 1.",
            )
        if data.get("vocabulary_size") is not None:
            self.add_error(
                "vocabulary_size",
                f"{source} gives images: only a text source has a vocabulary; "
                "leave this empty.",
            )

    def authored(self) -> Authored:
        """Return the checked fields as the service takes them."""
        data = self.cleaned_data
        text = data["dataset_source"] in TEXT_SOURCES
        checks = {
            "input_kind": "tokens" if text else "images",
            "input_shape": data["input_shape"],
            "num_classes": data["num_classes"],
            "required_layers": data["required_layers"],
            "forbidden_layers": data["forbidden_layers"],
        }
        if data.get("max_params"):
            checks["max_params"] = data["max_params"]
        dataset = {"source": data["dataset_source"], "seed": 101}
        if data.get("classes"):
            dataset["classes"] = data["classes"]
        if text:
            dataset.update(
                categories=data["num_classes"],
                sequence_length=data["input_shape"][0],
                vocabulary_size=data.get("vocabulary_size") or VOCABULARY_SIZE,
                public_fraction=0.1,
                private_fraction=0.1,
            )
        return Authored(
            title=data["title"],
            kind=data["kind"],
            instructions_md=data.get("instructions_md", ""),
            starter=data["starter"],
            solution=data["solution"],
            dataset=dataset,
            checks=checks,
            score={
                "target": data["score_target"],
                "floor": data["score_floor"],
                "points": data["points"],
                "cap_on_failed_check": data["cap_on_failed_check"],
            },
            limits={
                "wall_seconds": data["wall_seconds"],
                "cpu_seconds": data["cpu_seconds"],
                "memory_mb": data["memory_mb"],
            },
            daily_limit=data["daily_limit"],
            released=data.get("released", False),
            deadline=data.get("deadline"),
        )
