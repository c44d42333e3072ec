"""Drafts: saves, versions, conflicts between tabs, bounds, restore and reset."""

import nbformat
import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings

from tests.helpers import ROOT
from workspace import notebooks, selectors, services
from workspace.models import Draft, DraftVersion

pytestmark = pytest.mark.django_db


@pytest.fixture
def mlp(workshop):
    return workshop.assignments.get(slug="mlp")


def test_first_save_starts_from_the_starter_as_version_one(participant, mlp):
    """A draft is born with the starter kept as version 1, then holds the text."""
    result = services.draft_save(
        participant=participant, assignment=mlp, text="print(1)\n", base_revision=0
    )
    draft = result.draft
    assert draft.text == "print(1)\n" and draft.revision == 1
    first = draft.versions.get(number=1)
    assert first.reason == DraftVersion.Reason.STARTER
    assert first.text == notebooks.starter_text(mlp.pk)
    assert "# %% [markdown]" in first.text and "# %%\nimport json" in first.text


def test_starter_state_before_any_save(participant, mlp):
    """Before any save the editor gets the starter in the percent format."""
    state = selectors.draft_state(participant=participant, assignment=mlp)
    assert state["revision"] == 0
    assert state["text"].startswith("# %% [markdown]")
    assert not Draft.objects.exists()


def test_typing_saves_do_not_pile_up_versions(participant, mlp):
    """Saves within the interval update the draft without a version each."""
    revision = 0
    for i in range(10):
        result = services.draft_save(
            participant=participant,
            assignment=mlp,
            text=f"x = {i}\n",
            base_revision=revision,
        )
        revision = result.draft.revision
    draft = Draft.objects.get()
    assert draft.text == "x = 9\n" and draft.revision == 10
    assert draft.versions.count() <= 2  # the starter, maybe one periodic version


@override_settings(DOJO_DRAFT_VERSION_EVERY_SECONDS=0)
def test_a_version_is_kept_after_the_interval(participant, mlp):
    """Once the interval has passed, a save keeps a version."""
    services.draft_save(
        participant=participant, assignment=mlp, text="a\n", base_revision=0
    )
    services.draft_save(
        participant=participant, assignment=mlp, text="b\n", base_revision=1
    )
    texts = list(DraftVersion.objects.order_by("number").values_list("text", flat=True))
    assert texts[-2:] == ["a\n", "b\n"]


def test_two_tabs_keep_both_texts(participant, mlp):
    """A save from a stale tab keeps the other tab's text as a version and says so."""
    services.draft_save(
        participant=participant, assignment=mlp, text="tab A\n", base_revision=0
    )
    # Tab B loaded revision 0 too and saves over tab A's text.
    result = services.draft_save(
        participant=participant, assignment=mlp, text="tab B\n", base_revision=0
    )
    assert "Both texts are kept" in result.conflict
    texts = set(DraftVersion.objects.values_list("text", flat=True))
    assert {"tab A\n", "tab B\n"} <= texts
    assert result.draft.text == "tab B\n"


def test_same_text_from_a_stale_tab_is_no_conflict(participant, mlp):
    services.draft_save(
        participant=participant, assignment=mlp, text="same\n", base_revision=0
    )
    result = services.draft_save(
        participant=participant, assignment=mlp, text="same\n", base_revision=0
    )
    assert result.conflict == ""


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("a\x00b", "U+0000 on line 1, which is not text"),
        ("a\x01b", "U+0001 on line 1, which is not text"),
        (b"\xff\xfe".decode("latin-1") + "\x07", "U+0007 on line 1"),
        (12, "must be text"),
    ],
)
def test_binary_drafts_are_refused_with_a_reason(participant, mlp, text, words):
    with pytest.raises(ValidationError) as exc:
        services.draft_save(
            participant=participant, assignment=mlp, text=text, base_revision=0
        )
    assert words in " ".join(exc.value.messages)
    assert not Draft.objects.exists()


@override_settings(DOJO_UPLOAD_MAX_BYTES=100)
def test_a_draft_over_the_size_limit_is_refused(participant, mlp):
    with pytest.raises(ValidationError) as exc:
        services.draft_save(
            participant=participant, assignment=mlp, text="x" * 101, base_revision=0
        )
    assert "still in the editor" in exc.value.messages[0]


def test_a_draft_of_an_assignment_the_user_cannot_see_is_refused(
    other_participant, mlp, workshop
):
    from accounts.services import user_ensure

    outsider = user_ensure(username="outsider", password="outsider-pass-123")
    with pytest.raises(ValidationError):
        services.draft_save(
            participant=outsider, assignment=mlp, text="x", base_revision=0
        )


def test_restore_makes_a_new_version_and_keeps_the_current_text(participant, mlp):
    services.draft_save(
        participant=participant, assignment=mlp, text="mine\n", base_revision=0
    )
    result = services.draft_version_restore(
        participant=participant, assignment=mlp, number=1, base_revision=1
    )
    assert result.draft.text == notebooks.starter_text(mlp.pk)
    reasons = list(
        DraftVersion.objects.order_by("number").values_list("reason", "text")
    )
    assert ("edit", "mine\n") in reasons
    assert reasons[-1][0] == "restore"


def test_restoring_someone_elses_version_is_impossible(
    participant, other_participant, mlp
):
    """Versions are looked up within the caller's own draft only."""
    services.draft_save(
        participant=participant, assignment=mlp, text="secret\n", base_revision=0
    )
    services.draft_save(
        participant=other_participant, assignment=mlp, text="other\n", base_revision=0
    )
    mine = Draft.objects.get(participant=participant)
    secret = mine.versions.order_by("-number").first()
    result = services.draft_version_restore(
        participant=other_participant,
        assignment=mlp,
        number=secret.number,
        base_revision=None,
    )
    assert "secret" not in result.draft.text


def test_reset_to_starter_is_a_new_version(participant, mlp):
    services.draft_save(
        participant=participant, assignment=mlp, text="mine\n", base_revision=0
    )
    result = services.draft_reset(
        participant=participant, assignment=mlp, base_revision=1
    )
    assert result.draft.text == notebooks.starter_text(mlp.pk)
    assert DraftVersion.objects.filter(text="mine\n").exists()
    assert DraftVersion.objects.order_by("-number").first().reason == "reset"


@override_settings(DOJO_DRAFT_MAX_VERSIONS=5, DOJO_DRAFT_VERSION_EVERY_SECONDS=0)
def test_history_is_bounded_and_submitted_versions_stay(participant, mlp, monkeypatch):
    """Past the cap the oldest versions go; a submitted one is never thinned."""
    from submissions.models import Submission

    services.draft_save(
        participant=participant, assignment=mlp, text="v0\n", base_revision=0
    )
    draft = Draft.objects.get()
    submission = Submission.objects.create(
        participant=participant,
        assignment=mlp,
        original_name="x.py",
        format="py",
        sha256="0" * 64,
        size=1,
    )
    DraftVersion.objects.filter(draft=draft, number=2).update(submission=submission)
    for i in range(1, 20):
        services.draft_save(
            participant=participant, assignment=mlp, text=f"v{i}\n", base_revision=i
        )
    numbers = list(draft.versions.values_list("number", flat=True))
    assert len(numbers) == 5
    assert 2 in numbers  # the submitted one
    assert max(numbers) == Draft.objects.get().version_count
    assert draft.versions.get(number=max(numbers)).text == "v19\n"


def test_import_notebook_with_shell_magic_is_refused():
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell("!pip install evil")]
    )
    with pytest.raises(ValidationError) as exc:
        services.draft_import(
            filename="x.ipynb", raw=nbformat.writes(notebook).encode()
        )
    assert "shell command" in exc.value.messages[0]


def test_import_invalid_json_is_refused():
    with pytest.raises(ValidationError) as exc:
        services.draft_import(filename="x.ipynb", raw=b"{not json")
    assert "not valid JSON" in exc.value.messages[0]


def test_notebook_round_trip_keeps_cells():
    import nbformat

    notebook = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell("# Title\nSome *text*."),
            nbformat.v4.new_code_cell("x = 1\nprint(x)"),
        ]
    )
    text = services.draft_import(
        filename="n.ipynb", raw=nbformat.writes(notebook).encode()
    )
    assert text.startswith("# %% [markdown]\n# # Title")
    assert "# %%\nx = 1\nprint(x)" in text
    back = nbformat.reads(notebooks.percent_to_notebook(text), as_version=4)
    nbformat.validate(back)
    assert [c.cell_type for c in back.cells] == ["markdown", "code"]
    assert back.cells[1].source == "x = 1\nprint(x)"


@pytest.mark.parametrize("slug", ["hello", "mlp", "cnn", "transfer"])
def test_exports_make_the_cells_jupytexts_reader_makes(slug):
    """The one-pass export reads the editor's drafts (each starter as the editor
    shows it, each reference script, markers with blank lines and Markdown)
    into the same cells as Jupytext's reader, which costs cells times lines."""
    import jupytext

    folder = ROOT / "assignments" / "dl101" / slug
    drafts = [
        notebooks.notebook_to_percent((folder / "starter.ipynb").read_bytes()),
        (folder / "solution.py").read_text(),
        "x = 1\n# %% [markdown]\n# Title\n#\n# text\n\n# %%\n\n\ny = 2\n\n",
    ]
    for text in drafts:
        cells = jupytext.reads(text, fmt="py:percent").cells
        theirs = [(c.cell_type, c.source) for c in cells]
        assert notebooks.percent_cells(text) == theirs
        # The export, written without nbformat, is a valid notebook of them.
        exported = nbformat.reads(notebooks.percent_to_notebook(text), as_version=4)
        nbformat.validate(exported)
        assert [(c.cell_type, c.source) for c in exported.cells] == theirs


def test_drafts_count_against_the_participants_disk(participant, mlp):
    """Submissions learn of drafts only through what the workspace registers."""
    from submissions.artifacts import participant_disk_bytes

    before = participant_disk_bytes(participant_id=participant.pk)
    services.draft_save(
        participant=participant, assignment=mlp, text="x" * 5000, base_revision=0
    )
    texts = sum(
        len(t)
        for t in [
            *Draft.objects.values_list("text", flat=True),
            *DraftVersion.objects.values_list("text", flat=True),
        ]
    )
    assert texts >= 5000
    assert participant_disk_bytes(participant_id=participant.pk) == before + texts


def test_cell_count_finds_a_marker_on_every_line_splitlines_finds():
    """The one-scan count agrees with counting line by line, for every line
    break str.splitlines() knows and whitespace that is not one: it must never
    count fewer cells than the reader makes."""
    import random
    import re

    marker = re.compile(r"^\s*#\s*(%%|<codecell>|In\[[0-9 ]*\]:?)")
    parts = ["# %%", "#%%", "#", "%%", " ", "\t", "\n", "\r", "\r\n", "\x0b", "\x0c"]
    parts += ["\x1c", "\x1f", "\x85", "\u2028", "\u3000", "x", "In[3]:", "<codecell>"]
    pick = random.Random(25)
    for _ in range(20_000):
        text = "".join(pick.choice(parts) for _ in range(pick.randint(0, 12)))
        lines = 1 + sum(1 for line in text.splitlines() if marker.match(line))
        assert notebooks.cell_count(text) == lines, repr(text)
