"""The batch regrade form."""

from django import forms

from submissions.models import RegradeBatch


class RegradeForm(forms.Form):
    selection = forms.ChoiceField(
        choices=[
            ("all", "All finished submissions"),
            ("failed", "Only failed and errored ones"),
            ("selected", "Only the ones I tick below"),
            ("older", "Only those last graded under an older version"),
        ],
        widget=forms.RadioSelect,
        initial="all",
        label="Which submissions",
    )
    mode = forms.ChoiceField(
        choices=RegradeBatch.Mode.choices,
        widget=forms.RadioSelect,
        initial=RegradeBatch.Mode.REEVALUATE,
        label="How",
        help_text="Re-evaluate grades the stored models again (fast). Rerun trains "
        "each submission again from its code (slow). Old grades stay in the history.",
    )
    submission_ids = forms.TypedMultipleChoiceField(
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Selected submissions",
    )
    confirm = forms.BooleanField(
        label="I understand this queues new grading jobs for these submissions.",
        error_messages={"required": "Tick the box to confirm the regrade."},
    )

    def __init__(self, *args, choices: list[tuple[int, str]] = (), **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["submission_ids"].choices = choices
