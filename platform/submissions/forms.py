"""The upload form; every rule on the file lives in submission_create."""

from django import forms


class SubmissionForm(forms.Form):
    file = forms.FileField(
        label="Your training code",
        help_text="A Python script (.py) or a Jupyter notebook (.ipynb) that saves "
        "model.keras in $DOJO_OUTPUT_DIR.",
        widget=forms.ClearableFileInput(attrs={"accept": ".py,.ipynb"}),
        error_messages={
            "required": "Choose a .py or .ipynb file with your training code."
        },
    )
