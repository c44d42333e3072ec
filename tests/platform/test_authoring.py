"""Assignments written in the page: every field checked, versions on edit."""

import json
from pathlib import Path

import pytest
from django.urls import reverse

from workshops import folders
from workshops.authoring import MAX_INSTRUCTIONS
from workshops.models import Assignment, AssignmentVersion

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("own_data_root")]

STARTER = "# %% [markdown]\n# Build an MLP\n\n# %%\nimport keras\nmodel = None\n"
SOLUTION = "import keras\nprint('reference')\n"


def _good(**changes) -> dict:
    data = {
        "title": "A stricter MLP",
        "slug": "mlp-strict",
        "kind": "mlp",
        "instructions_md": "# Build it\n\nUse **Dropout**.",
        "starter": STARTER,
        "solution": SOLUTION,
        "dataset_source": "fashion-mnist",
        "classes": "",
        "input_shape": "28, 28, 1",
        "num_classes": "10",
        "required_layers": "Dense:2, Dropout:1",
        "forbidden_layers": "Conv2D",
        "max_params": "100000",
        "score_target": "0.85",
        "score_floor": "majority",
        "points": "100",
        "cap_on_failed_check": "50",
        "wall_seconds": "600",
        "cpu_seconds": "1200",
        "memory_mb": "4096",
        "daily_limit": "20",
        "action": "save",
    }
    data.update(changes)
    return data


def test_instructor_writes_a_new_assignment(instructor_client, workshop):
    """The form creates the assignment with its spec, starter and reference."""
    url = reverse("assignment-create", args=[workshop.slug])
    assert instructor_client.get(url).status_code == 200
    answer = instructor_client.post(url, _good())
    assert answer.status_code == 302, answer.content.decode()[:2000]
    made = workshop.assignments.get(slug="mlp-strict")
    assert made.spec["checks"]["required_layers"] == {"Dense": 2, "Dropout": 1}
    assert made.spec["checks"]["forbidden_layers"] == ["Conv2D"]
    assert made.spec["checks"]["max_params"] == 100000
    assert made.spec["score"]["target"] == 0.85
    assert (made.spec_version, made.released, made.order) == (1, False, 5)
    starter = json.loads(
        (folders.assignment_materials_dir(made.pk) / "starter.ipynb").read_text()
    )
    assert [c["cell_type"] for c in starter["cells"]] == ["markdown", "code"]
    solution = folders.assignment_reference_dir(made.pk) / "solution.py"
    assert solution.read_text() == SOLUTION
    assert (folders.assignment_train_dir(made.pk) / "train.npz").is_file()


BAD_FIELDS = {
    "title": ("", "required"),
    "slug": ("mlp", "already has an assignment"),
    "kind": ("rnn", "Select a valid choice"),
    "instructions_md": ("x" * (MAX_INSTRUCTIONS + 1), "keep them to 20,000"),
    "starter": ("def (:\n", "not valid Python on line 1"),
    "solution": ("   ", "it is empty"),
    "dataset_source": ("npz", "Select a valid choice"),
    "classes": ("5, x", "whole numbers"),
    "input_shape": ("28", "height, width and channels"),
    "num_classes": ("1", "greater than or equal to 2"),
    "required_layers": ("Dense:0", "from 1 to 100"),
    "forbidden_layers": ("Dense", "also a required layer"),
    "max_params": ("0", "greater than or equal to 1"),
    "score_target": ("1.5", "less than or equal to 1"),
    "score_floor": ("0.9", "below the full one"),
    "points": ("0", "greater than or equal to 1"),
    "cap_on_failed_check": ("500", "must not exceed the points"),
    "wall_seconds": ("1", "greater than or equal to 10"),
    "cpu_seconds": ("100", "at least as much CPU time"),
    "memory_mb": ("10", "greater than or equal to 512"),
    "daily_limit": ("0", "greater than or equal to 1"),
    "deadline": ("tomorrow", "valid date"),
    # A new assignment is released only once Validate has graded its reference.
    "released": ("on", "unreleased first"),
}


@pytest.mark.parametrize("field", sorted(BAD_FIELDS))
def test_every_field_is_refused_with_a_message_naming_it(
    instructor_client, workshop, field
):
    """Bad input in one field: 400, the message beside that field, nothing saved."""
    value, reason = BAD_FIELDS[field]
    before = Assignment.objects.count()
    url = reverse("assignment-create", args=[workshop.slug])
    answer = instructor_client.post(url, _good(**{field: value}))
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert list(errors) == [field], errors
    assert reason in " ".join(errors[field]), errors[field]
    assert Assignment.objects.count() == before


# The edit page holds the same form without the address (fixed once made),
# on DL101's released CNN: Conv2D is one of its required layers.
EDIT_BAD_FIELDS = {
    **{k: v for k, v in BAD_FIELDS.items() if k != "slug"},
    "forbidden_layers": ("Conv2D", "also a required layer"),
    # An unreleased assignment whose spec an edit changes is not released in
    # the same save: Validate has not graded the new content.
    "released": ("on", "unreleased first"),
}


def _edit_data(client, url) -> dict:
    form = client.get(url).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    return {k: ("" if v is None else v) for k, v in data.items()} | {"action": "save"}


@pytest.mark.parametrize("field", sorted(EDIT_BAD_FIELDS))
def test_every_field_of_the_edit_page_is_refused_with_a_message_naming_it(
    instructor_client, workshop, cnn, field
):
    """Bad input in one field of an edit: 400, the message beside that field,
    the assignment, its version and its files as they were."""
    from workshops.services import assignment_set_state

    value, reason = EDIT_BAD_FIELDS[field]
    url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    data = _edit_data(instructor_client, url)
    if field == "released":
        assignment_set_state(assignment=cnn, released=False)
        data = _edit_data(instructor_client, url) | {"max_params": "150000"}
    cnn.refresh_from_db()
    before = (cnn.title, cnn.spec, cnn.spec_version, cnn.released, cnn.deadline)
    starter = folders.assignment_materials_dir(cnn.pk) / "starter.ipynb"
    starter_before = starter.read_bytes()
    answer = instructor_client.post(url, data | {field: value})
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert list(errors) == [field], errors
    assert reason in " ".join(errors[field]), errors[field]
    cnn.refresh_from_db()
    assert (cnn.title, cnn.spec, cnn.spec_version, cnn.released, cnn.deadline) == (
        before
    )
    assert starter.read_bytes() == starter_before
    assert not AssignmentVersion.objects.filter(assignment=cnn).exists()


def test_a_refused_save_says_at_the_top_which_fields_to_change(
    instructor_client, workshop, cnn
):
    """The form is long: a refused save opens with a list of the fields to
    change, each linked to its message (walking issue 27 in a browser, the page
    came back at its top with nothing said there, the reasons two screens
    down)."""
    url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    data = _edit_data(instructor_client, url)
    answer = instructor_client.post(
        url, data | {"max_params": "0", "cap_on_failed_check": "500"}
    )
    page = answer.content.decode()
    summary = page.split('id="form-errors"', 1)[1].split("</div>", 1)[0]
    assert "Nothing was saved: 2 fields to change." in summary
    assert '<a href="#id_max_params_error">Parameter limit</a>' in summary
    cap = '<a href="#id_cap_on_failed_check_error">Score cap when a check fails</a>'
    assert cap in summary and "must not exceed the points" in summary
    assert page.index('id="form-errors"') < page.index('id="id_title"')
    for target in ("id_max_params_error", "id_cap_on_failed_check_error"):
        assert f'id="{target}"' in page
    # A field the participants' editor covers (its text area hidden) links to
    # its message, which stays in view below the editor.
    made = instructor_client.post(
        reverse("assignment-create", args=[workshop.slug]), _good(starter="def (:\n")
    ).content.decode()
    assert '<a href="#id_starter_error">Starter (Python, # %% cells)</a>' in made
    assert 'id="id_starter_error"' in made


def test_preview_renders_safely_and_saves_nothing(instructor_client, workshop):
    """The preview shows the Markdown as participants will see it, without script."""
    url = reverse("assignment-create", args=[workshop.slug])
    text = "# Title\n\n<script>alert(1)</script> *bold*"
    answer = instructor_client.post(url, _good(instructions_md=text, action="preview"))
    page = answer.content.decode()
    assert answer.status_code == 200
    assert "<h1>Title</h1>" in page and "<em>bold</em>" in page
    assert "<script>alert(1)</script>" not in page
    assert not workshop.assignments.filter(slug="mlp-strict").exists()
    too_long = instructor_client.post(
        url, _good(instructions_md="x" * (MAX_INSTRUCTIONS + 1), action="preview")
    )
    assert too_long.status_code == 400
    assert "keep them to 20,000" in too_long.content.decode()


def test_editing_a_released_assignment_makes_a_new_version(
    instructor_client, workshop, cnn, participant, make_graded
):
    """The old content is kept with what changed; grades keep their version."""
    from django.test import Client

    participant_client = Client()
    participant_client.force_login(participant)
    graded = make_graded(participant, cnn)
    url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    form = instructor_client.get(url).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields if name != "slug"}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(max_params="50000", released="on", action="save")
    answer = instructor_client.post(url, data)
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    cnn.refresh_from_db()
    assert cnn.spec_version == 2 and cnn.spec["checks"]["max_params"] == 50000
    old = AssignmentVersion.objects.get(assignment=cnn)
    assert old.number == 1 and old.spec["checks"]["max_params"] == 200000
    assert "Parameter limit: 200000 → 50000." in old.changes
    graded.current_grade.refresh_from_db()
    assert graded.current_grade.spec_version == 1
    changes = participant_client.get(
        reverse("assignment-changes", args=[workshop.slug, cnn.slug])
    )
    assert "Parameter limit: 200000 → 50000." in changes.content.decode()
    home = participant_client.get(reverse("workshop-detail", args=[workshop.slug]))
    assert "Version 2: <a" in home.content.decode()
    page = participant_client.get(cnn.get_absolute_url()).content.decode()
    changes_url = reverse("assignment-changes", args=[workshop.slug, cnn.slug])
    assert f'href="{changes_url}">Version 2: what changed</a>' in page
    # Saving the same content again makes no new version.
    instructor_client.post(url, data)
    cnn.refresh_from_db()
    assert cnn.spec_version == 2


def test_participants_cannot_author(participant_client, workshop, cnn):
    """Only the workshop's instructors write or edit assignments."""
    for url in (
        reverse("assignment-create", args=[workshop.slug]),
        reverse("assignment-edit", args=[workshop.slug, cnn.slug]),
    ):
        assert participant_client.get(url).status_code in (403, 404)
        assert participant_client.post(url, _good()).status_code in (403, 404)
    assert not workshop.assignments.filter(slug="mlp-strict").exists()


def test_validate_checks_the_reference_through_a_check_run(
    instructor_client,
    instructor,
    participant,
    workshop,
    cnn,
    outbox,
    django_capture_on_commit_callbacks,
):
    """Validate queues a check of the reference and shows its outcome and time."""
    import datetime

    from django.utils import timezone

    from checks.models import CheckRun, CheckStatus
    from workshops.packs import assignment_solution

    url = reverse("assignment-validate", args=[workshop.slug, cnn.slug])
    page = instructor_client.get(url).content.decode()
    assert "has not been checked yet" in page
    with django_capture_on_commit_callbacks(execute=True):
        assert instructor_client.post(url).status_code == 302
    check = CheckRun.objects.get(participant=instructor, assignment=cnn)
    assert check.source == assignment_solution(cnn)
    assert outbox, "the check was sent to the check queue"
    assert "queued" in instructor_client.get(url).content.decode()
    check.started_at = timezone.now()
    check.finished_at = check.started_at + datetime.timedelta(seconds=12)
    check.status = CheckStatus.PASSED
    check.result = {
        "indicative_accuracy": 0.8125,
        "checks": [{"id": "layers.Conv2D", "passed": True, "message": "Two Conv2D"}],
    }
    check.save()
    page = instructor_client.get(url).content.decode()
    assert "81.2%" in page and "took 12.0 s" in page and "Two Conv2D" in page
    from django.test import Client

    participant_client = Client()
    participant_client.force_login(participant)
    assert participant_client.post(url).status_code in (403, 404)
    assert CheckRun.objects.count() == 1


def test_a_reference_that_failed_validation_cannot_be_released(
    instructor_client, instructor, workshop, cnn
):
    """Release is refused, with the reason, while the latest check failed."""
    from checks.models import CheckStatus
    from checks.services import check_run_create
    from workshops.packs import assignment_solution
    from workshops.services import assignment_set_state

    assignment_set_state(assignment=cnn, released=False)
    check = check_run_create(
        participant=instructor, assignment=cnn, source=assignment_solution(cnn)
    )
    check.move_to(CheckStatus.RUNNING)  # claimed, as a worker would
    check.finish(CheckStatus.FAILED, reason="The model has no Dropout layer.")
    check.save()
    manage = reverse("workshop-manage", args=[workshop.slug])
    answer = instructor_client.post(
        manage, {"action": "release", "assignment": cnn.pk}, follow=True
    )
    assert "failed its latest validation" in answer.content.decode()
    assert "no Dropout layer" in answer.content.decode()
    cnn.refresh_from_db()
    assert not cnn.released
    settings_url = reverse("assignment-settings", args=[workshop.slug, cnn.slug])
    refused = instructor_client.post(
        settings_url, {"daily_limit": 5, "score_policy": "best", "released": "on"}
    )
    assert refused.status_code == 400
    assert list(refused.context["form"].errors) == ["released"]
    edit = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    form = instructor_client.get(edit).context["form"]
    data = {n: form.initial.get(n, "") for n in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(released="on", action="save")
    authored = instructor_client.post(edit, data)
    assert authored.status_code == 400
    assert list(authored.context["form"].errors) == ["released"]
    again = check_run_create(
        participant=instructor, assignment=cnn, source=assignment_solution(cnn)
    )
    again.move_to(CheckStatus.RUNNING)
    again.finish(CheckStatus.PASSED)
    again.save()
    assignment_set_state(assignment=cnn, released=True)
    cnn.refresh_from_db()
    assert cnn.released


def _text(**changes) -> dict:
    text = {
        "slug": "nlp-seq",
        "kind": "cnn",
        "dataset_source": "wordnet-nouns",
        "input_shape": "32",
        "num_classes": "4",
        "vocabulary_size": "2000",
        "required_layers": "Embedding:1, Conv1D|LSTM:1",
        "forbidden_layers": "Dense",
        "max_params": "500000",
    }
    return _good(**{**text, **changes})


def test_instructor_writes_a_text_assignment(instructor_client, workshop):
    """A text source makes a token-input spec, with its data built from WordNet."""
    url = reverse("assignment-create", args=[workshop.slug])
    assert "wordnet-nouns" in instructor_client.get(url).content.decode()
    answer = instructor_client.post(url, _text(required_layers="Conv1D|LSTM:1"))
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    made = workshop.assignments.get(slug="nlp-seq")
    checks, dataset = made.spec["checks"], made.spec["dataset"]
    assert checks["input_kind"] == "tokens" and checks["input_shape"] == [32]
    assert checks["required_layers"] == {"Conv1D|LSTM": 1}
    assert dataset["source"] == "wordnet-nouns"
    assert (dataset["categories"], dataset["sequence_length"]) == (4, 32)
    assert dataset["vocabulary_size"] == 2000
    assert (folders.assignment_train_dir(made.pk) / "train.npz").is_file()


BAD_TEXT_FIELDS = {
    "input_shape": ("28, 28, 1", "one number, the sequence length"),
    "classes": ("1, 2, 3, 4", "leave this empty"),
    "num_classes": ("11", "choose from 2 to 10"),
    "vocabulary_size": ("5", "greater than or equal to 100"),
    "required_layers": ("Conv1D|lstm", "alternatives, such as Conv1D|LSTM"),
    "forbidden_layers": ("LSTM", "LSTM is also a required layer"),
}


@pytest.mark.parametrize("field", sorted(BAD_TEXT_FIELDS))
def test_text_fields_are_refused_with_a_message_naming_them(
    instructor_client, workshop, field
):
    """A text source's fields that do not fit it are refused beside the field."""
    value, reason = BAD_TEXT_FIELDS[field]
    url = reverse("assignment-create", args=[workshop.slug])
    answer = instructor_client.post(url, _text(**{field: value}))
    assert answer.status_code == 400
    errors = answer.context["form"].errors
    assert list(errors) == [field], errors
    assert reason in " ".join(errors[field]), errors[field]
    assert not workshop.assignments.filter(slug="nlp-seq").exists()


def test_image_sources_refuse_a_vocabulary_and_a_sequence_length(
    instructor_client, workshop
):
    """An image source names the field that only text takes."""
    url = reverse("assignment-create", args=[workshop.slug])
    for field, value, reason in (
        ("vocabulary_size", "2000", "only a text source has a vocabulary"),
        ("input_shape", "32", "give height, width and channels"),
    ):
        answer = instructor_client.post(url, _good(**{field: value}))
        errors = answer.context["form"].errors
        assert answer.status_code == 400 and list(errors) == [field], errors
        assert reason in " ".join(errors[field])


def test_an_edit_keeps_the_data_keys_the_form_does_not_show():
    """A pack's seed, pretrained vectors and few-shot slice survive an edit."""
    from workshops.authoring import Authored, spec_build

    current = json.loads(
        (
            Path(__file__).resolve().parents[2] / "assignments/dl4nlp/fewshot/spec.json"
        ).read_text()
    )
    authored = Authored(
        title="Few-shot",
        kind="transfer",
        instructions_md="",
        starter=STARTER,
        solution=SOLUTION,
        dataset={"source": "wordnet-nouns", "seed": 101, "categories": 10},
        checks={"input_kind": "tokens", "input_shape": [32], "num_classes": 10},
        score={"target": 0.5},
        limits={},
        daily_limit=5,
        released=False,
    )
    spec = spec_build(authored=authored, current=current)
    dataset = spec["dataset"]
    assert dataset["seed"] == 26 and dataset["train_per_class"] == 10
    assert dataset["pretrained"] == current["dataset"]["pretrained"]
    assert spec["checks"]["contribution"] == current["checks"]["contribution"]


def test_a_new_version_offers_its_regrade_as_a_button(
    instructor_client, workshop, cnn, participant, make_graded
):
    """The statistics page posts the regrade; only the workshop's instructors may."""
    from django.test import Client

    from submissions.models import RegradeBatch

    participant_client = Client()
    participant_client.force_login(participant)
    make_graded(participant, cnn)
    stats_url = reverse("assignment-stats", args=[workshop.slug, cnn.slug])
    regrade_url = reverse("regrade-create", args=[workshop.slug, cnn.slug])
    button_form = f'<form method="post" action="{regrade_url}">'
    assert button_form not in instructor_client.get(stats_url).content.decode()
    edit_url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    form = instructor_client.get(edit_url).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(max_params="50000", released="on", action="save")
    answer = instructor_client.post(edit_url, data, follow=True)
    page = answer.content.decode()
    assert button_form in page
    assert "1 submission was last graded under an older version" in page
    button = {"selection": "older", "mode": "reevaluate", "confirm": "on"}
    refused = participant_client.post(regrade_url, button)
    assert refused.status_code in (403, 404)
    assert not RegradeBatch.objects.filter(assignment=cnn).exists()
    done = instructor_client.post(regrade_url, button)
    batch = RegradeBatch.objects.get(assignment=cnn)
    assert done.status_code == 302 and done.url == reverse(
        "regrade-detail", args=[batch.pk]
    )
    assert (batch.mode, batch.total) == ("reevaluate", 1)


def test_a_pack_text_assignment_edits_in_the_form(instructor_client, instructor):
    """DL4NLP's sequence assignment passes the form as it is; its data stays."""
    from workshops.services import workshop_create

    nlp = workshop_create(
        title="NLP morning", slug="nlp", pack="dl4nlp", created_by=instructor
    )
    sequence = nlp.assignments.get(slug="sequence")
    before = sequence.spec
    url = reverse("assignment-edit", args=[nlp.slug, sequence.slug])
    form = instructor_client.get(url).context["form"]
    assert form.initial["input_shape"] == "32"
    data = {name: form.initial.get(name, "") for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(max_params="900000", action="save")
    answer = instructor_client.post(url, data)
    assert answer.status_code == 302, answer.context and answer.context["form"].errors
    sequence.refresh_from_db()
    assert sequence.spec["dataset"] == before["dataset"]
    assert sequence.spec["checks"] == {**before["checks"], "max_params": 900000}


def test_the_regrade_after_a_new_version_takes_every_older_grade(
    instructor_client, workshop, cnn, participant, other_participant, make_graded
):
    """The button re-evaluates each finished submission graded under an older
    version (and only those it counts); a new grade carries the new version and
    the old one stays in the history with its own."""
    from grader import GradeReport
    from submissions.models import RegradeBatch
    from submissions.services.grading import grade_record
    from submissions.services.jobs import job_claim_regrade
    from submissions.services.lifecycle import submission_cancel, submission_rerun
    from tests.platform.conftest import report

    first = make_graded(participant, cnn)
    second = make_graded(other_participant, cnn, passed=False, score=40.0)
    stopped = make_graded(participant, cnn)
    submission_rerun(submission=stopped)
    submission_cancel(submission=stopped)  # keeps its version-1 grade
    edit_url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    form = instructor_client.get(edit_url).context["form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    data = {k: ("" if v is None else v) for k, v in data.items()}
    data.update(max_params="50000", released="on", action="save")
    page = instructor_client.post(edit_url, data, follow=True).content.decode()
    assert "2 submissions were last graded under an older version" in page
    regrade_url = reverse("regrade-create", args=[workshop.slug, cnn.slug])
    instructor_client.post(
        regrade_url, {"selection": "older", "mode": "reevaluate", "confirm": "on"}
    )
    batch = RegradeBatch.objects.get(assignment=cnn)
    assert sorted(batch.submission_ids) == sorted([first.pk, second.pk])
    # What the evaluation worker records for the first: a version-2 grade.
    run = job_claim_regrade(
        submission_id=first.pk, batch_id=batch.pk, has_model=True, worker="w@host"
    )
    first.refresh_from_db()
    grade_record(
        submission=first,
        run=run,
        report=GradeReport.from_dict({**report(), "spec_version": "2"}),
    )
    assert list(first.grades.values_list("spec_version", flat=True)) == [2, 1]
    stats = reverse("assignment-stats", args=[workshop.slug, cnn.slug])
    page = instructor_client.get(stats).content.decode()
    assert "1 submission was last graded under an older version" in page


def test_the_version_button_regrades_exactly_what_it_counts(
    instructor_client, workshop, cnn, participant, other_participant, make_graded
):
    """A submission graded under the new version already, or failed with no
    grade, is neither counted nor taken: the button said "1 submission was
    last graded under an older version" and re-evaluated every finished one
    (at class scale, every submission since the edit again)."""
    from submissions.models import RegradeBatch
    from tests.platform.conftest import failed

    older = make_graded(participant, cnn)
    edit_url = reverse("assignment-edit", args=[workshop.slug, cnn.slug])
    data = _edit_data(instructor_client, edit_url)
    answer = instructor_client.post(edit_url, data | {"max_params": "50000"})
    assert answer.status_code == 302
    cnn.refresh_from_db()
    assert cnn.spec_version == 2
    newer = make_graded(other_participant, cnn)
    newer.current_grade.spec_version = 2  # graded after the edit, as a worker does
    newer.current_grade.save(update_fields=["spec_version"])
    failed(other_participant, cnn)
    stats = reverse("assignment-stats", args=[workshop.slug, cnn.slug])
    page = instructor_client.get(stats).content.decode()
    assert "1 submission was last graded under an older version" in page
    button = page.split('action="/w/dl101/a/cnn/regrade/">', 1)[1].split("</form>")[0]
    fields = dict(
        (part.split('name="')[1].split('"')[0], part.split('value="')[1].split('"')[0])
        for part in button.split("<input")[1:]
        if 'type="hidden"' in part and "csrfmiddlewaretoken" not in part
    )
    instructor_client.post(
        reverse("regrade-create", args=[workshop.slug, cnn.slug]), fields
    )
    batch = RegradeBatch.objects.get(assignment=cnn)
    assert batch.submission_ids == [older.pk]
